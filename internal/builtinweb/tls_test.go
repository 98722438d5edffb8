package builtinweb

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/certs"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
)

type tlsBundle struct {
	srv       *Server
	drv       *Driver
	httpAddr  string
	httpsAddr string
	ca        *certs.LocalCA
	docroot   string
	challenge string
}

// setupTLS starts a server with an HTTP and an HTTPS listener, and a
// local CA to issue site certificates.
func setupTLS(t *testing.T) tlsBundle {
	t.Helper()
	base := t.TempDir()
	docroot := filepath.Join(base, "public")
	writeFile(t, filepath.Join(docroot, "index.html"), "hello over tls")
	challenge := filepath.Join(base, "acme-challenge")
	writeFile(t, filepath.Join(challenge, "tok_EN-1"), "tok_EN-1.keyauth")
	routes := filepath.Join(base, "builtin", "routes")
	httpsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(httpsLn.Addr().String())
	p, _ := strconv.Atoi(port)
	srv, err := New(Config{RoutesDir: routes, HTTPSPort: p, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(httpLn)
	go srv.ServeTLS(httpsLn)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	drv, err := NewDriver(routes, "http://"+httpLn.Addr().String(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := certs.NewLocalCA("builtinweb test CA", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tlsBundle{srv: srv, drv: drv, httpAddr: httpLn.Addr().String(), httpsAddr: httpsLn.Addr().String(), ca: ca, docroot: docroot, challenge: challenge}
}

func (b tlsBundle) publish(t *testing.T, ws provision.WebSite, redirect, hsts bool) {
	t.Helper()
	bd, err := b.ca.Issue(append([]string{ws.Domain}, ws.Aliases...), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ws.Docroot, ws.ChallengeDir = b.docroot, b.challenge
	ws.TLS = &provision.WebTLS{CertPEM: bd.CertPEM, KeyPEM: bd.KeyPEM, Redirect: redirect, HSTS: hsts}
	if err := b.drv.Publish(t.Context(), ws); err != nil {
		t.Fatal(err)
	}
}

// client trusts only the local CA and dials the HTTPS listener whatever
// the URL's host, sending the URL's host as SNI.
func (b tlsBundle) client() *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: b.ca.Pool()},
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				_, port, _ := net.SplitHostPort(addr)
				if port == "443" {
					return d.DialContext(ctx, network, b.httpsAddr)
				}
				return d.DialContext(ctx, network, b.httpAddr)
			},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func get(t *testing.T, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func TestTLSBySNIWithRedirectAndHSTS(t *testing.T) {
	t.Parallel()
	b := setupTLS(t)
	b.publish(t, provision.WebSite{Domain: "secure.test", Aliases: []string{"www.secure.test"}}, true, true)
	b.publish(t, provision.WebSite{Domain: "both.test"}, false, false)
	if err := b.drv.Publish(t.Context(), provision.WebSite{Domain: "plain.test", Docroot: b.docroot}); err != nil {
		t.Fatal(err)
	}
	c := b.client()
	_, httpsPort, _ := net.SplitHostPort(b.httpsAddr)

	// Every name of a site gets its certificate, verified by the root.
	for _, host := range []string{"secure.test", "www.secure.test", "both.test"} {
		resp, body := get(t, c, "https://"+host+"/")
		if resp.StatusCode != 200 || body != "hello over tls" {
			t.Errorf("https://%s/: %d %q", host, resp.StatusCode, body)
		}
		if got := resp.TLS.PeerCertificates[0].VerifyHostname(host); got != nil {
			t.Errorf("%s: served certificate: %v", host, got)
		}
	}
	// Redirect: HTTP answers 301 to the HTTPS port; HSTS only over HTTPS.
	resp, _ := get(t, c, "http://secure.test/a/b?x=1")
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "https://secure.test:"+httpsPort+"/a/b?x=1" {
		t.Errorf("redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp.Header.Get("Strict-Transport-Security") != "" {
		t.Error("HSTS sent over plain HTTP")
	}
	resp, _ = get(t, c, "https://secure.test/")
	if resp.Header.Get("Strict-Transport-Security") != hstsValue {
		t.Errorf("HSTS over HTTPS = %q", resp.Header.Get("Strict-Transport-Security"))
	}
	// "on" keeps HTTP serving, without HSTS.
	resp, body := get(t, c, "http://both.test/")
	if resp.StatusCode != 200 || body != "hello over tls" {
		t.Errorf("http://both.test/: %d", resp.StatusCode)
	}
	resp, _ = get(t, c, "https://both.test/")
	if resp.Header.Get("Strict-Transport-Security") != "" {
		t.Error("HSTS on a site without it")
	}
	// The challenge answers over HTTP before the redirect; bad tokens 404.
	resp, body = get(t, c, "http://secure.test/.well-known/acme-challenge/tok_EN-1")
	if resp.StatusCode != 200 || body != "tok_EN-1.keyauth" {
		t.Errorf("challenge: %d %q", resp.StatusCode, body)
	}
	resp, _ = get(t, c, "http://secure.test/.well-known/acme-challenge/..%2f..%2fetc")
	if resp.StatusCode != 404 {
		t.Errorf("bad token: %d", resp.StatusCode)
	}
	// A site without a certificate, an unknown name and no SNI fail the
	// handshake.
	for _, sni := range []string{"plain.test", "unknown.test", ""} {
		conn, err := tls.Dial("tcp", b.httpsAddr, &tls.Config{ServerName: sni, RootCAs: b.ca.Pool(), InsecureSkipVerify: sni == ""})
		if err == nil {
			conn.Close()
			t.Errorf("handshake for %q succeeded", sni)
		}
	}
	// A disabled site answers 503 over HTTP too, not the redirect.
	b.publish(t, provision.WebSite{Domain: "secure.test", Aliases: []string{"www.secure.test"}, Disabled: true}, true, true)
	if resp, _ := get(t, c, "http://secure.test/"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("disabled site over HTTP: %d, want 503", resp.StatusCode)
	}
	if resp, _ := get(t, c, "https://secure.test/"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("disabled site over HTTPS: %d, want 503", resp.StatusCode)
	}
	// The key file is the owner's only.
	fi, err := os.Stat(filepath.Join(CertsDir(filepath.Dir(filepath.Dir(b.drv.dir))), "secure.test.pem"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("certificate file: %v %v", fi, err)
	}
}

func TestTLSRenewedCertificateServedAndRemoved(t *testing.T) {
	t.Parallel()
	b := setupTLS(t)
	b.publish(t, provision.WebSite{Domain: "renew.test"}, false, false)
	c := b.client()
	resp, _ := get(t, c, "https://renew.test/")
	first := resp.TLS.PeerCertificates[0].SerialNumber
	b.publish(t, provision.WebSite{Domain: "renew.test"}, false, false) // a renewal
	c.CloseIdleConnections()
	resp, _ = get(t, c, "https://renew.test/")
	if resp.TLS.PeerCertificates[0].SerialNumber.Cmp(first) == 0 {
		t.Error("the renewed certificate is not served")
	}
	// HTTPS off: the certificate file goes, the handshake fails.
	if err := b.drv.Publish(t.Context(), provision.WebSite{Domain: "renew.test", Docroot: b.docroot}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(b.drv.certs, "renew.test.pem")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("certificate file kept after HTTPS off: %v", err)
	}
	c.CloseIdleConnections()
	if _, err := c.Get("https://renew.test/"); err == nil {
		t.Error("HTTPS still answers after HTTPS off")
	}
}

func TestPublishRefusesABadCertificate(t *testing.T) {
	t.Parallel()
	b := setupTLS(t)
	one, _ := b.ca.Issue([]string{"x.test"}, time.Now())
	two, _ := b.ca.Issue([]string{"x.test"}, time.Now())
	err := b.drv.Publish(t.Context(), provision.WebSite{Domain: "x.test", Docroot: b.docroot,
		TLS: &provision.WebTLS{CertPEM: one.CertPEM, KeyPEM: two.KeyPEM}})
	if !errors.Is(err, domain.ErrInvalid) {
		t.Fatalf("mismatched key: %v, want ErrInvalid", err)
	}
	if _, err := os.Stat(filepath.Join(b.drv.dir, "x.test.json")); !errors.Is(err, os.ErrNotExist) {
		t.Error("a route was written for a refused certificate")
	}
}
