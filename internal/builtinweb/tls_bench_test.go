package builtinweb

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/certs"
	"github.com/aegirhq/aegir/internal/provision"
)

// tlsBench is the builtin server with benchRoutes HTTPS sites (each its
// own certificate from a local CA, all loaded) on a real loopback TLS
// listener, and the baseline: net/http's FileServer over TLS with one
// certificate of the same kind (ECDSA P-256), serving the same file.
type tlsBench struct {
	ca          *certs.LocalCA
	builtinAddr string
	baseAddr    string
}

func tlsBenchSetup(b *testing.B) tlsBench {
	b.Helper()
	base := b.TempDir()
	docroot := filepath.Join(base, "public")
	writeFile(b, filepath.Join(docroot, "style.css"), string(make([]byte, 4096)))
	routes := filepath.Join(base, "builtin", "routes")
	certsDir := certsDirFor(routes)
	ca, err := certs.NewLocalCA("bench CA", time.Now())
	if err != nil {
		b.Fatal(err)
	}
	// Written directly, as benchSetup does (Publish fsyncs every file).
	for i := range benchRoutes {
		ws := provision.WebSite{Domain: fmt.Sprintf("site%d.test", i), Aliases: []string{fmt.Sprintf("www.site%d.test", i)}, Docroot: docroot,
			TLS: &provision.WebTLS{}}
		bd, err := ca.Issue([]string{ws.Domain, ws.Aliases[0]}, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		ws.TLS.CertPEM, ws.TLS.KeyPEM = bd.CertPEM, bd.KeyPEM
		if err := writeCert(certsDir, ws.Domain, ws.TLS); err != nil {
			b.Fatal(err)
		}
		js, err := json.Marshal(ws)
		if err != nil {
			b.Fatal(err)
		}
		writeFile(b, filepath.Join(routes, ws.Domain+routeExt), string(js))
	}
	srv, err := New(Config{RoutesDir: routes})
	if err != nil {
		b.Fatal(err)
	}
	time.Sleep(mtimeSettle)
	if err := srv.reload(false); err != nil {
		b.Fatal(err)
	}
	// Every certificate read once, so the timed handshakes are warm.
	for _, e := range srv.table.Load().hosts {
		if _, err := srv.loadCert(e.site); err != nil {
			b.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.ServeTLS(ln)
	b.Cleanup(func() { srv.Shutdown(context.Background()) })

	one, err := ca.Issue([]string{"base.test"}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	c, err := certs.TLSCertificate(one)
	if err != nil {
		b.Fatal(err)
	}
	baseSrv := httptest.NewUnstartedServer(http.FileServer(http.Dir(docroot)))
	baseSrv.TLS = &tls.Config{Certificates: []tls.Certificate{*c}, MinVersion: tls.VersionTLS12}
	baseSrv.StartTLS()
	b.Cleanup(baseSrv.Close)
	return tlsBench{ca: ca, builtinAddr: ln.Addr().String(), baseAddr: baseSrv.Listener.Addr().String()}
}

// handshake dials addr and completes a full TLS handshake (no session
// resumption) for sni, verified by the local CA.
func (tb tlsBench) handshake(b *testing.B, addr, sni string) time.Duration {
	start := time.Now()
	conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: sni, RootCAs: tb.ca.Pool(), ClientSessionCache: nil})
	d := time.Since(start)
	if err != nil {
		b.Fatalf("handshake %s: %v", sni, err)
	}
	conn.Close()
	return d
}

// BenchmarkHTTPS10kSites measures the builtin server's HTTPS with
// 10,000 sites and their certificates against net/http with one
// certificate, in the same run (one setup: 10,000 certificates take a
// while to make). Each sub-benchmark alternates one baseline and one
// builtin operation per iteration and times each, so load on a shared
// machine hits both alike:
//
//   - handshake: a full TLS handshake (no resumption); the builtin side
//     picks each site's certificate by SNI, the names varying;
//   - request: an HTTPS GET of a 4 KiB file on a kept-alive connection;
//     the builtin side routes by a Host varying over the 10,000 sites.
func BenchmarkHTTPS10kSites(b *testing.B) {
	tb := tlsBenchSetup(b)
	b.Run("handshake", tb.benchHandshake)
	b.Run("request", tb.benchRequest)
}

func (tb tlsBench) benchHandshake(b *testing.B) {
	var tBase, tBuiltin time.Duration
	i := 0
	for b.Loop() {
		tBase += tb.handshake(b, tb.baseAddr, "base.test")
		tBuiltin += tb.handshake(b, tb.builtinAddr, fmt.Sprintf("site%d.test", i%benchRoutes))
		i++
	}
	b.ReportMetric(float64(i)/tBase.Seconds(), "baseline-handshakes/s")
	b.ReportMetric(float64(i)/tBuiltin.Seconds(), "builtin-handshakes/s")
	b.ReportMetric(tBase.Seconds()/tBuiltin.Seconds(), "builtin/baseline")
}

func (tb tlsBench) benchRequest(b *testing.B) {
	client := func(addr string) *http.Client {
		return &http.Client{Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: tb.ca.Pool()},
			ForceAttemptHTTP2: false,
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			},
		}}
	}
	baseC, builtinC := client(tb.baseAddr), client(tb.builtinAddr)
	get := func(c *http.Client, url, host string) time.Duration {
		req, _ := http.NewRequest("GET", url, nil)
		req.Host = host
		start := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		d := time.Since(start)
		if resp.StatusCode != 200 {
			b.Fatalf("%s: status %d", host, resp.StatusCode)
		}
		return d
	}
	// One connection each, opened before timing.
	get(baseC, "https://base.test/style.css", "base.test")
	get(builtinC, "https://site0.test/style.css", "site0.test")
	var tBase, tBuiltin time.Duration
	i := 0
	for b.Loop() {
		tBase += get(baseC, "https://base.test/style.css", "base.test")
		tBuiltin += get(builtinC, "https://site0.test/style.css", fmt.Sprintf("site%d.test", i%benchRoutes))
		i++
	}
	b.ReportMetric(float64(tBase.Microseconds())/float64(i), "baseline-µs/req")
	b.ReportMetric(float64(tBuiltin.Microseconds())/float64(i), "builtin-µs/req")
	b.ReportMetric(tBuiltin.Seconds()/tBase.Seconds(), "builtin/baseline-latency")
}
