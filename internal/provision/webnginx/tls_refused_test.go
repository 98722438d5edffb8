package webnginx

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/certs"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/provision/weberr"
)

// weakCertificate is a well-formed self-signed certificate for names on
// a 1024-bit RSA key: certs.Inspect takes it (the key matches), but
// nginx, through OpenSSL's default security level 2 on Debian, cannot
// load it ("ee key too small") and nginx -t fails.
func weakCertificate(t *testing.T, names ...string) certs.Bundle {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	b := certs.Bundle{CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})}
	if _, err := certs.Inspect(b); err != nil {
		t.Fatalf("the weak certificate must pass aegir's own check: %v", err)
	}
	return b
}

// TestTLSVhostNginxRefuses publishes, over a site serving HTTPS, a TLS
// vhost whose certificate the real nginx cannot load: nginx -t refuses
// it, Publish returns a *weberr.ConfigError with nginx's message, the
// previous vhost and the previous certificate and key files are back
// byte for byte (mode 0600), and the site keeps serving its previous
// certificate over HTTPS and its page over HTTP. A site that had no
// HTTPS before is left with no certificate files at all.
func TestTLSVhostNginxRefuses(t *testing.T) {
	t.Parallel()
	b, ca, httpsPort := setupTLS(t)
	ctx := t.Context()
	site := b.staticSite(t, "kept.test", "kept site")
	good, err := ca.Issue([]string{"kept.test"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	site.TLS = &provision.WebTLS{CertPEM: good.CertPEM, KeyPEM: good.KeyPEM}
	if err := b.driver.Publish(ctx, site); err != nil {
		t.Fatal(err)
	}
	tf := b.driver.tlsFiles("kept.test")
	read := func(p string) []byte {
		t.Helper()
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	vhost, crt, key := read(b.driver.VhostPath("kept.test")), read(tf.cert), read(tf.key)
	c := httpsClient(ca, httpsPort)
	served := func(when string) {
		t.Helper()
		resp, err := c.Get("https://kept.test/")
		if err != nil {
			t.Fatalf("%s: HTTPS: %v\n%s", when, err, b.nginx.ErrorLogTail(15))
		}
		resp.Body.Close()
		leaf := resp.TLS.PeerCertificates[0]
		if info, _ := certs.Inspect(good); resp.StatusCode != 200 || !strings.EqualFold(leaf.SerialNumber.Text(16), strings.TrimLeft(info.Serial, "0")) {
			t.Fatalf("%s: HTTPS answered %d with serial %x, want 200 with %s", when, resp.StatusCode, leaf.SerialNumber, info.Serial)
		}
		b.expect(t, "kept.test", "/", 200, "kept site")
	}
	served("before")

	weak := weakCertificate(t, "kept.test")
	refused := site
	refused.TLS = &provision.WebTLS{CertPEM: weak.CertPEM, KeyPEM: weak.KeyPEM, Redirect: true, HSTS: true}
	err = b.driver.Publish(ctx, refused)
	var cerr *weberr.ConfigError
	if !errors.As(err, &cerr) || cerr.AlreadyBroken || !strings.Contains(cerr.Output, "kept.test.crt") {
		t.Fatalf("Publish with a certificate nginx cannot load = %v, want a *ConfigError naming the file", err)
	}
	t.Logf("nginx said: %s", cerr.Output)
	for _, f := range []struct {
		path string
		want []byte
	}{{b.driver.VhostPath("kept.test"), vhost}, {tf.cert, crt}, {tf.key, key}} {
		if got := read(f.path); !bytes.Equal(got, f.want) {
			t.Errorf("%s was not put back", f.path)
		}
	}
	for _, p := range []string{tf.cert, tf.key} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s after the rollback: %v %v", p, fi, err)
		}
	}
	assertNoTempFiles(t, b.driver.cfg.CertDir)
	served("after the refusal")

	// A site with no HTTPS yet: the refused files do not stay.
	plain := b.staticSite(t, "plain.test", "plain site")
	if err := b.driver.Publish(ctx, plain); err != nil {
		t.Fatal(err)
	}
	plainWeak := weakCertificate(t, "plain.test")
	plain.TLS = &provision.WebTLS{CertPEM: plainWeak.CertPEM, KeyPEM: plainWeak.KeyPEM}
	if err := b.driver.Publish(ctx, plain); !errors.As(err, &cerr) {
		t.Fatalf("first HTTPS publish with a certificate nginx cannot load = %v", err)
	}
	ptf := b.driver.tlsFiles("plain.test")
	for _, p := range []string{ptf.cert, ptf.key} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left after the refusal: %v", p, err)
		}
	}
	b.expect(t, "plain.test", "/", 200, "plain site")
	served("at the end")
}
