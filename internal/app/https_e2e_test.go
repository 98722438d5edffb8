package app_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/testharness"
)

// aegir dev serves a site with HTTPS from its local CA out of the box:
// the root downloads from the dashboard, a Go client trusting only it
// verifies the chain for the domain and its alias, HTTP answers 301 to
// the HTTPS port and HTTPS carries HSTS.
func TestDevHTTPSWithLocalCA(t *testing.T) {
	t.Parallel()
	tlsAddr := fmt.Sprintf("127.0.0.1:%d", testharness.FreePort(t))
	d := startDev(t, "-sites-tls-addr", tlsAddr)
	d.waitPlatformsReady()
	var site struct {
		Site struct{ ID string } `json:"site"`
		Task task                `json:"task"`
	}
	if code := d.call("POST", "/sites", map[string]any{
		"domain": "tls.example.test", "aliases": []string{"www.tls.example.test"}, "https": "redirect", "hsts": true,
		"platform": "example", "db_server": "local", "client": "default",
	}, &site); code != 201 {
		t.Fatalf("create site: %d", code)
	}
	if tk := d.waitTask(site.Task.ID); tk.Status != "succeeded" {
		t.Fatalf("install: %+v", tk)
	}

	resp, err := http.Get("http://" + d.api + "/tls/local-ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	rootPEM, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	roots := x509.NewCertPool()
	if resp.StatusCode != 200 || !roots.AppendCertsFromPEM(rootPEM) {
		t.Fatalf("root download: %d %q", resp.StatusCode, rootPEM)
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, d.tlsAddr)
		},
	}}
	for _, host := range []string{"tls.example.test", "www.tls.example.test"} {
		resp, err := c.Get("https://" + host + "/")
		if err != nil {
			t.Fatalf("https://%s/: %v", host, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), "It works") || resp.Header.Get("Strict-Transport-Security") == "" {
			t.Errorf("https://%s/: %d HSTS %q", host, resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
		}
	}
	_, port, _ := net.SplitHostPort(d.tlsAddr)
	req, _ := http.NewRequest("GET", "http://"+d.sites+"/page", nil)
	req.Host = "tls.example.test"
	plain := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = plain.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := "https://tls.example.test:" + port + "/page"; resp.StatusCode != 301 || resp.Header.Get("Location") != want {
		t.Errorf("HTTP: %d %q, want 301 to %s", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	var got struct {
		Certificate struct {
			Issuer   string    `json:"issuer"`
			NotAfter time.Time `json:"not_after"`
		} `json:"certificate"`
	}
	d.call("GET", "/sites/"+site.Site.ID, nil, &got)
	if got.Certificate.Issuer != "local" || time.Until(got.Certificate.NotAfter) < 60*24*time.Hour {
		t.Errorf("site's certificate state: %+v", got.Certificate)
	}
}
