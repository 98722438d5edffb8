package routing_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/certs"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
)

// A site with HTTPS is passed through by a stock Traefik: its TCP router
// matches the SNI of the domain and the alias and hands the TLS stream to
// the web server's https_port untouched, so the client sees the
// certificate aegir issued (verified by its CA), while plain HTTP keeps
// going through the HTTP router on the same entry point.
func TestTraefikPassesTLSThrough(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{traefik: true})
	tlsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go e.a.srv.ServeTLS(tlsLn)
	svc, err := e.store.ServiceOf(e.ctx, e.a.server.ID, domain.ServiceHTTP)
	if err != nil {
		t.Fatal(err)
	}
	svc.Settings = map[string]string{"https_port": strconv.Itoa(tlsLn.Addr().(*net.TCPAddr).Port)}
	if err := e.store.UpdateService(e.ctx, svc); err != nil {
		t.Fatal(err)
	}

	site := e.install(e.a, "secure.example.com", []string{"www.secure.example.com"}, false)
	site, err = e.store.GetSite(e.ctx, site.ID)
	if err != nil {
		t.Fatal(err)
	}
	site.HTTPS = domain.HTTPSOn
	task, err := e.store.UpdateSite(e.ctx, site, "test")
	if err != nil {
		t.Fatal(err)
	}
	ca, err := certs.NewLocalCA("routing test CA", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	bd, err := ca.Issue(site.Names(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.a.driver.Publish(e.ctx, provision.WebSite{Domain: site.Domain, Aliases: site.Aliases,
		Docroot: e.a.docroots + "/" + site.Domain, TLS: &provision.WebTLS{CertPEM: bd.CertPEM, KeyPEM: bd.KeyPEM}}); err != nil {
		t.Fatal(err)
	}
	e.finish(task)

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{RootCAs: ca.Pool()},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, e.traefik.Addr)
		},
	}}
	for _, host := range []string{"secure.example.com", "www.secure.example.com"} {
		d := eventually(t, routeLimit, "TLS passthrough for "+host, func() error {
			resp, err := client.Get("https://" + host + "/")
			if err != nil {
				return err
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != page(site.Domain, "web-a") {
				return fmt.Errorf("https://%s/ = %d %q", host, resp.StatusCode, body)
			}
			if cn := resp.TLS.PeerCertificates[0].Issuer.CommonName; cn != "routing test CA" {
				return fmt.Errorf("certificate issued by %q, not aegir's CA", cn)
			}
			return nil
		})
		t.Logf("%s passed through by Traefik after %s", host, d)
	}
	// Plain HTTP on the same entry point still reaches the site.
	if err := e.served(site.Domain, "web-a")(); err != nil {
		t.Fatal(err)
	}
}
