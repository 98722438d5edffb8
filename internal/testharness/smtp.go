package testharness

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SMTPUser and SMTPPassword are the only credentials a MailServer takes
// (AUTH PLAIN).
const (
	SMTPUser     = "aegir"
	SMTPPassword = "mail-pass"
)

// MailServer is an SMTP server on 127.0.0.1 (github.com/emersion/go-smtp)
// that keeps every message it receives, with the login it came under and
// whether it came over TLS.
type MailServer struct {
	Addr string
	mu   sync.Mutex
	msgs []Mail
}

// Mail is one message a MailServer received.
type Mail struct {
	From, To, Data, User string
	TLS                  bool
}

// SMTP starts a MailServer, offering STARTTLS on cert unless cert is nil.
// It stops when the test ends.
func SMTP(t testing.TB, cert *tls.Certificate) *MailServer {
	t.Helper()
	box := &MailServer{}
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
	box.Addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return box
}

// Received returns the messages received so far, oldest first.
func (m *MailServer) Received() []Mail {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Mail(nil), m.msgs...)
}

type mailSession struct {
	box  *MailServer
	conn *smtp.Conn
	cur  Mail
}

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		if username != SMTPUser || password != SMTPPassword {
			return errors.New("invalid credentials")
		}
		s.cur.User = username
		return nil
	}), nil
}

func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	s.cur.From = from
	_, s.cur.TLS = s.conn.TLSConnectionState()
	return nil
}

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error { s.cur.To = to; return nil }

func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.Data = string(b)
	s.box.mu.Lock()
	s.box.msgs = append(s.box.msgs, s.cur)
	s.box.mu.Unlock()
	return nil
}

func (s *mailSession) Reset()        { s.cur = Mail{User: s.cur.User} }
func (s *mailSession) Logout() error { return nil }

// SelfSigned makes a throwaway certificate for 127.0.0.1 and localhost,
// the pool that trusts it, and its PEM (for a CA file).
func SelfSigned(t testing.TB) (tls.Certificate, *x509.CertPool, []byte) {
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
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool,
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
