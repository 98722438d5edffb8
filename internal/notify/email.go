package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/smtp"
	"net/textproto"
	"os"
	"strings"
	"time"
)

// Mail is the SMTP server email deliveries go through (config
// notifications.smtp). aegir always upgrades the connection with
// STARTTLS, verifying the server's certificate with TLS; a server that
// does not offer STARTTLS gets no mail.
type Mail struct {
	// Address is host:port of the submission service.
	Address string
	// From is the sender's address.
	From string
	// Username and Password log in with AUTH PLAIN (after STARTTLS);
	// empty Username: no login.
	Username, Password string
	// TLS verifies the server (ServerName, RootCAs).
	TLS *tls.Config
}

// errNoSMTP fails email deliveries when no SMTP server is configured.
var errNoSMTP = errors.New("no SMTP server is configured: set the notifications smtp block in aegir's config file")

// sendMail sends one message to one recipient, as one attempt.
func sendMail(ctx context.Context, m *Mail, to, subject, text, messageID string, now time.Time, timeout time.Duration) attempt {
	if m == nil || m.Address == "" {
		return attempt{err: errNoSMTP}
	}
	host, _, err := net.SplitHostPort(m.Address)
	if err != nil {
		return attempt{err: fmt.Errorf("smtp address %q is not host:port", m.Address)}
	}
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", m.Address)
	if err != nil {
		return attempt{err: fmt.Errorf("reach the SMTP server: %w", err), retry: true}
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return smtpAttempt("greeting", err)
	}
	defer c.Close()
	if err := c.Hello(helloName()); err != nil {
		return smtpAttempt("EHLO", err)
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		return attempt{err: fmt.Errorf("the SMTP server %s does not offer STARTTLS; aegir sends mail only over TLS", m.Address)}
	}
	tc := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if m.TLS != nil {
		tc = m.TLS.Clone()
	}
	if err := c.StartTLS(tc); err != nil {
		return attempt{err: fmt.Errorf("STARTTLS with %s: %w (check notifications smtp ca_file and server_name)", m.Address, err)}
	}
	if m.Username != "" {
		// PlainAuth checks the name the client was made with, not the
		// certificate's (server_name may differ from the address's host).
		if err := c.Auth(smtp.PlainAuth("", m.Username, m.Password, host)); err != nil {
			return smtpAttempt("login", err)
		}
	}
	if err := c.Mail(m.From); err != nil {
		return smtpAttempt("MAIL FROM", err)
	}
	if err := c.Rcpt(to); err != nil {
		return smtpAttempt("RCPT TO", err)
	}
	w, err := c.Data()
	if err != nil {
		return smtpAttempt("DATA", err)
	}
	if _, err := w.Write(message(m.From, to, subject, text, messageID, now)); err != nil {
		return smtpAttempt("DATA", err)
	}
	if err := w.Close(); err != nil {
		return smtpAttempt("DATA", err)
	}
	_ = c.Quit()
	return attempt{code: 250}
}

// smtpAttempt reads an SMTP error: a 5xx reply is permanent, a 4xx one
// or a broken connection may pass on a retry.
func smtpAttempt(step string, err error) attempt {
	var te *textproto.Error
	if errors.As(err, &te) {
		return attempt{code: te.Code, err: fmt.Errorf("the SMTP server refused %s: %d %s", step, te.Code, te.Msg), retry: te.Code < 500}
	}
	return attempt{err: fmt.Errorf("SMTP %s: %w", step, err), retry: true}
}

// message is a plain-text mail, quoted-printable, its subject MIME-encoded.
// Header values are built from validated addresses and aegir's own text,
// and line breaks are removed all the same.
func message(from, to, subject, text, messageID string, now time.Time) []byte {
	oneLine := strings.NewReplacer("\r", " ", "\n", " ")
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: aegir <%s>\r\n", oneLine.Replace(from))
	fmt.Fprintf(&b, "To: <%s>\r\n", oneLine.Replace(to))
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", oneLine.Replace(subject)))
	fmt.Fprintf(&b, "Date: %s\r\n", now.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@aegir>\r\n", oneLine.Replace(messageID))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write([]byte(strings.ReplaceAll(text, "\n", "\r\n")))
	_ = qp.Close()
	return b.Bytes()
}

// helloName is this machine's name for EHLO ("localhost" when it has
// none that fits).
func helloName() string {
	h, err := os.Hostname()
	if err != nil || h == "" || strings.ContainsAny(h, " \r\n") {
		return "localhost"
	}
	return h
}
