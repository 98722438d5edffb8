package webnginx

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
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
	"github.com/aegirhq/aegir/internal/testharness"
)

// setupTLS is setup with an HTTPS port for the vhosts and a local CA.
func setupTLS(t *testing.T) (*bundle, *certs.LocalCA, int) {
	t.Helper()
	b := &bundle{nginx: testharness.Nginx(t)}
	httpsPort := testharness.FreePort(t)
	svc := provision.ServiceInfo{
		ID: "svc1", Type: "http", Kind: "nginx", Port: b.nginx.Port,
		Settings: map[string]string{
			"config_dir":  b.nginx.ConfDir,
			"main_config": b.nginx.MainConfig,
			"pid_file":    b.nginx.PidFile,
			"binary":      b.nginx.Bin,
			"https_port":  strconv.Itoa(httpsPort),
		},
	}
	d, err := Factory(svc, provision.ServerInfo{ID: "srv1", Name: "web1", Address: "127.0.0.1"}, provision.EnvInfo{}, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	b.driver = d.(*Driver)
	b.root = shortDir(t)
	ca, err := certs.NewLocalCA("webnginx test CA", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return b, ca, httpsPort
}

func httpsClient(ca *certs.LocalCA, port int) *http.Client {
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			DisableKeepAlives: true,
			TLSClientConfig:   &tls.Config{RootCAs: ca.Pool()},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, "127.0.0.1:"+strconv.Itoa(port))
			},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func TestHTTPSThroughNginx(t *testing.T) {
	t.Parallel()
	b, ca, httpsPort := setupTLS(t)
	site := b.staticSite(t, "secure.test", "hello secure")
	site.Aliases = []string{"www.secure.test"}
	challenge := filepath.Join(b.root, "acme-challenge")
	if err := os.MkdirAll(challenge, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(challenge, "tok-1"), []byte("tok-1.auth"), 0o644); err != nil {
		t.Fatal(err)
	}
	bd, err := ca.Issue([]string{"secure.test", "www.secure.test"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	site.ChallengeDir = challenge
	site.TLS = &provision.WebTLS{CertPEM: bd.CertPEM, KeyPEM: bd.KeyPEM, Redirect: true, HSTS: true}
	if err := b.driver.Publish(t.Context(), site); err != nil {
		t.Fatal(err)
	}
	c := httpsClient(ca, httpsPort)
	for _, host := range []string{"secure.test", "www.secure.test"} {
		resp, err := c.Get("https://" + host + "/")
		if err != nil {
			t.Fatalf("https://%s/: %v\n%s", host, err, b.nginx.ErrorLogTail(15))
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "hello secure" || resp.Header.Get("Strict-Transport-Security") == "" {
			t.Errorf("https://%s/: %d %q HSTS %q", host, resp.StatusCode, body, resp.Header.Get("Strict-Transport-Security"))
		}
	}
	code, _, h := b.get(t, "secure.test", "/page?x=1")
	if want := "https://secure.test:" + strconv.Itoa(httpsPort) + "/page?x=1"; code != 301 || h.Get("Location") != want {
		t.Errorf("HTTP: %d %q, want 301 to %s", code, h.Get("Location"), want)
	}
	if h.Get("Strict-Transport-Security") != "" {
		t.Error("HSTS over plain HTTP")
	}
	b.expect(t, "secure.test", "/.well-known/acme-challenge/tok-1", 200, "tok-1.auth")
	for _, f := range []string{"secure.test.crt", "secure.test.key"} {
		fi, err := os.Stat(filepath.Join(b.driver.cfg.CertDir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", f, fi, err)
		}
	}

	// A bad certificate is refused before anything is written: the site
	// keeps serving its current one.
	other, _ := ca.Issue([]string{"secure.test"}, time.Now())
	bad := site
	bad.TLS = &provision.WebTLS{CertPEM: bd.CertPEM, KeyPEM: other.KeyPEM}
	if err := b.driver.Publish(t.Context(), bad); !errors.Is(err, domain.ErrInvalid) {
		t.Fatalf("mismatched key: %v", err)
	}
	if resp, err := c.Get("https://secure.test/"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("after a refused certificate: %v", err)
	}

	// HTTPS off: plain HTTP serves, the files go.
	plain := site
	plain.TLS = nil
	if err := b.driver.Publish(t.Context(), plain); err != nil {
		t.Fatal(err)
	}
	b.expect(t, "secure.test", "/", 200, "hello secure")
	if _, err := os.Stat(filepath.Join(b.driver.cfg.CertDir, "secure.test.key")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("key file kept after HTTPS off: %v", err)
	}
	if _, err := c.Get("https://secure.test/"); err == nil {
		t.Error("HTTPS still answers after HTTPS off")
	}
}
