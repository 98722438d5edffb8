package notify

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/aegirhq/aegir/internal/domain"
)

// selfSigned makes a throwaway certificate for 127.0.0.1 and localhost,
// and the pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "aegir test smtp"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// mailbox is an SMTP server on 127.0.0.1 (github.com/emersion/go-smtp)
// that keeps what it receives and whether it came over TLS.
type mailbox struct {
	addr     string
	mu       sync.Mutex
	messages []received
}

type received struct {
	from, to, data, user string
	tls                  bool
}

type mailSession struct {
	box  *mailbox
	conn *smtp.Conn
	cur  received
}

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *mailSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != "aegir" || password != "mail-pass" {
			return errors.New("invalid credentials")
		}
		s.cur.user = username
		return nil
	}), nil
}

func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	s.cur.from = from
	_, s.cur.tls = s.conn.TLSConnectionState()
	return nil
}
func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error { s.cur.to = to; return nil }
func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.data = string(b)
	s.box.mu.Lock()
	s.box.messages = append(s.box.messages, s.cur)
	s.box.mu.Unlock()
	return nil
}
func (s *mailSession) Reset()        { user := s.cur.user; s.cur = received{user: user} }
func (s *mailSession) Logout() error { return nil }

// startMailbox starts the server, with STARTTLS on cert unless cert is
// nil.
func startMailbox(t *testing.T, cert *tls.Certificate) *mailbox {
	t.Helper()
	box := &mailbox{}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &mailSession{box: box, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	if cert != nil {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	box.addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return box
}

func (m *mailbox) received() []received {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]received(nil), m.messages...)
}

// TestEmailOverSTARTTLS: a task failure reaches an email subscription
// through an SMTP server with a self-signed certificate that aegir is told
// to trust, upgraded with STARTTLS and logged in.
func TestEmailOverSTARTTLS(t *testing.T) {
	t.Parallel()
	cert, pool := selfSigned(t)
	box := startMailbox(t, &cert)
	b := setup(t)
	sub, _ := b.subscribe(t, b.alice, "", "alice@example.com")
	b.run(t, Config{Mail: &Mail{Address: box.addr, From: "aegir@example.com", Username: "aegir", Password: "mail-pass",
		TLS: &tls.Config{ServerName: "localhost", RootCAs: pool}}}) // a server_name other than the address's host
	b.failTask(t, b.acme.ID, "a.example.com")

	waitFor(t, "a recorded delivery", func() bool { return len(deliveries(t, b.st, sub.ID)) == 1 })
	if d := deliveries(t, b.st, sub.ID)[0]; d.Status != domain.DeliverySent || d.Attempts != 1 {
		t.Fatalf("delivery = %+v", d)
	}
	msgs := box.received()
	if len(msgs) != 1 {
		t.Fatalf("%d messages received", len(msgs))
	}
	m := msgs[0]
	if !m.tls || m.user != "aegir" || m.from != "aegir@example.com" || m.to != "alice@example.com" {
		t.Errorf("received %+v; want over TLS, logged in, from aegir to alice", m)
	}
	for _, want := range []string{"Subject: [aegir] Task backup on a.example.com failed", "disk_full", "no space left on the device", "Free some space."} {
		if !strings.Contains(m.data, want) {
			t.Errorf("the mail lacks %q:\n%s", want, m.data)
		}
	}
	if strings.Contains(m.data, "must-not-leak") {
		t.Error("a task argument reached the mail")
	}
}

// TestEmailRefusesPlainText: a server without STARTTLS gets nothing, and
// a certificate aegir does not trust stops the delivery too; neither is
// retried.
func TestEmailRefusesPlainText(t *testing.T) {
	t.Parallel()
	cert, _ := selfSigned(t)
	for _, c := range []struct {
		name string
		cert *tls.Certificate
		want string
	}{
		{"no STARTTLS", nil, "does not offer STARTTLS"},
		{"untrusted certificate", &cert, "STARTTLS with"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			box := startMailbox(t, c.cert)
			b := setup(t)
			sub, _ := b.subscribe(t, b.admin, "", "ops@example.com")
			b.run(t, Config{Mail: &Mail{Address: box.addr, From: "aegir@example.com", TLS: &tls.Config{ServerName: "127.0.0.1"}}})
			b.failTask(t, b.acme.ID, "a.example.com")
			waitFor(t, "a recorded delivery", func() bool { return len(deliveries(t, b.st, sub.ID)) == 1 })
			d := deliveries(t, b.st, sub.ID)[0]
			if d.Status != domain.DeliveryFailed || d.Attempts != 1 || !strings.Contains(d.Error, c.want) {
				t.Errorf("delivery = %+v; want failed once with %q", d, c.want)
			}
			if n := len(box.received()); n != 0 {
				t.Errorf("%d messages received", n)
			}
		})
	}
}
