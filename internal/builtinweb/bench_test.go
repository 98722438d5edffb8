package builtinweb

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/provision"
)

const benchRoutes = 10_000

// benchSetup publishes benchRoutes sites sharing one docroot.
func benchSetup(b *testing.B) (*Server, string) {
	b.Helper()
	base := b.TempDir()
	docroot := filepath.Join(base, "public")
	writeFile(b, filepath.Join(docroot, "style.css"), string(make([]byte, 4096)))
	routes := filepath.Join(base, "routes")
	// Written directly: Publish fsyncs each file, which would make the
	// setup take minutes.
	for i := range benchRoutes {
		ws := provision.WebSite{Domain: fmt.Sprintf("site%d.test", i), Aliases: []string{fmt.Sprintf("www.site%d.test", i)}, Docroot: docroot}
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
	// Let the dir's mtime settle and take the one re-read it causes now,
	// not inside the timed loop.
	time.Sleep(mtimeSettle)
	if err := srv.reload(false); err != nil {
		b.Fatal(err)
	}
	if srv.Sites() != benchRoutes {
		b.Fatalf("loaded %d sites", srv.Sites())
	}
	return srv, docroot
}

// BenchmarkStaticByHost serves a 4 KiB file by Host with 10,000 routes
// loaded, next to net/http's FileServer serving the same file (the
// baseline, no routing) in the same run. Both run in-process through
// ServeHTTP, so the figures compare the handlers, not the network stack.
func BenchmarkStaticByHost(b *testing.B) {
	srv, docroot := benchSetup(b)
	run := func(b *testing.B, h http.Handler, host func(i int) string) {
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				req := httptest.NewRequest("GET", "/style.css", nil)
				req.Host = host(i)
				i++
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatalf("status %d", rec.Code)
				}
				io.Copy(io.Discard, rec.Body)
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
	}
	b.Run("baseline-net-http-FileServer", func(b *testing.B) {
		run(b, http.FileServer(http.Dir(docroot)), func(int) string { return "site1.test" })
	})
	b.Run("builtin-10k-routes", func(b *testing.B) {
		run(b, srv, func(i int) string { return fmt.Sprintf("site%d.test", i%benchRoutes) })
	})
	b.Run("builtin-10k-routes-alias", func(b *testing.B) {
		run(b, srv, func(i int) string { return fmt.Sprintf("www.site%d.test:8080", i%benchRoutes) })
	})
}

// BenchmarkReload10k measures a full reload of 10,000 route files, the cost
// paid once per change of the routes dir.
func BenchmarkReload10k(b *testing.B) {
	srv, _ := benchSetup(b)
	b.ResetTimer()
	for b.Loop() {
		if err := srv.reload(true); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(benchRoutes), "routes")
}

// BenchmarkStaticByHostPaired alternates one baseline request (net/http
// FileServer) and one builtin request (10,000 routes, host varies) per
// iteration and times each, so load on a shared machine hits both alike;
// it reports both rates and builtin/baseline.
func BenchmarkStaticByHostPaired(b *testing.B) {
	srv, docroot := benchSetup(b)
	base := http.FileServer(http.Dir(docroot))
	var tBase, tBuiltin time.Duration
	serve := func(h http.Handler, host string) time.Duration {
		req := httptest.NewRequest("GET", "/style.css", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		start := time.Now()
		h.ServeHTTP(rec, req)
		d := time.Since(start)
		if rec.Code != 200 {
			b.Fatalf("status %d", rec.Code)
		}
		return d
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tBase += serve(base, "site1.test")
		tBuiltin += serve(srv, fmt.Sprintf("site%d.test", i%benchRoutes))
		i++
	}
	b.ReportMetric(float64(i)/tBase.Seconds(), "baseline-req/s")
	b.ReportMetric(float64(i)/tBuiltin.Seconds(), "builtin-req/s")
	b.ReportMetric(tBase.Seconds()/tBuiltin.Seconds(), "builtin/baseline")
}
