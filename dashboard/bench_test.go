package dashboard

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/store/boltkv"
	"github.com/aegirhq/aegir/internal/store/consulkv"
	"github.com/aegirhq/aegir/internal/testharness"
)

const (
	benchSites       = 10_000
	benchConcurrency = 8
)

// BenchmarkListSites measures GET /api/v1/sites with 10,000 sites over a
// real loopback listener with concurrent clients, on the embedded store and
// on Consul, reporting req/s and p99 latency. GET /api/v1/health, which
// authenticates but reads no sites, is the baseline measured in the same run.
//
// The sites are created once through the store's real path (CreateSite,
// then every tenth install finished as enabled) on bbolt; the Consul run
// copies those exact keys and values into Consul, so both backends hold the
// same data in the store's own layout.
func BenchmarkListSites(b *testing.B) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	kv, err := boltkv.Open(filepath.Join(b.TempDir(), "aegir.db"), &boltkv.Config{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	st := store.New(kv, &store.Config{Logger: quiet})
	defer st.Close()
	start := time.Now()
	secret := seedSites(b, st, benchSites)
	b.Logf("seeded %d sites through CreateSite in %s", benchSites, time.Since(start).Round(time.Millisecond))

	queries := []struct{ name, url string }{
		{"health-baseline", "/api/v1/health-auth"},
		{"first-page", "/api/v1/sites"},
		{"filtered", "/api/v1/sites?q=site-01&status=enabled"},
	}
	b.Run("bolt", func(b *testing.B) {
		for _, q := range queries {
			b.Run(q.name, func(b *testing.B) { loadTest(b, st, secret, q.url) })
		}
	})
	b.Run("consul", func(b *testing.B) {
		agent := testharness.SharedConsul(b)
		ckv, err := consulkv.New(consulkv.Config{Address: agent.Addr, Prefix: testharness.UniquePrefix(b)})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		copyKV(b, kv, ckv)
		b.Logf("copied the store into Consul in %s", time.Since(start).Round(time.Millisecond))
		cst := store.New(ckv, &store.Config{Logger: quiet})
		defer cst.Close()
		for _, q := range queries {
			b.Run(q.name, func(b *testing.B) { loadTest(b, cst, secret, q.url) })
		}
	})
}

// seedSites creates a client, a server and a platform once, then n sites
// through CreateSite; every tenth site's install is finished as enabled.
// It returns an admin token.
func seedSites(b *testing.B, st *store.Store, n int) string {
	b.Helper()
	ctx := context.Background()
	secret, _, err := st.EnsureAdmin(ctx)
	if err != nil {
		b.Fatal(err)
	}
	cl := &domain.Client{Name: "bench"}
	if err := st.CreateClient(ctx, cl); err != nil {
		b.Fatal(err)
	}
	srv := &domain.Server{Name: "web1", Address: "127.0.0.1"}
	if _, err := st.CreateServer(ctx, srv, []domain.Service{{Kind: domain.KindNginx}, {Kind: domain.KindMariaDB}}, "bench"); err != nil {
		b.Fatal(err)
	}
	p := &domain.Platform{Name: "p1", Path: "/srv/platforms/p1", WebServerID: srv.ID, Type: domain.PlatformPHP}
	if _, err := st.CreatePlatform(ctx, p, "bench"); err != nil {
		b.Fatal(err)
	}
	// Creates race on nothing, so a few writers in parallel are fine.
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		fail atomic.Value
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				site := &domain.Site{
					Domain: fmt.Sprintf("site-%05d.example.com", i), Aliases: []string{fmt.Sprintf("www.site-%05d.example.com", i)},
					PlatformID: p.ID, DBServerID: srv.ID, ClientID: cl.ID,
				}
				task, err := st.CreateSite(ctx, site, "bench")
				if err == nil && i%10 == 0 {
					if err = st.StartTask(ctx, task, "bench", 1); err == nil {
						err = st.FinishTask(ctx, task, domain.TaskSucceeded, store.SetSiteStatus(site.ID, domain.SiteEnabled))
					}
				}
				if err != nil {
					fail.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, ok := fail.Load().(error); ok {
		b.Fatal(err)
	}
	return secret
}

// copyKV writes every pair of from into to, in transactions within the
// store's limits.
func copyKV(b *testing.B, from, to store.KV) {
	b.Helper()
	ctx := context.Background()
	pairs, _, err := from.List(ctx, "")
	if err != nil {
		b.Fatal(err)
	}
	var ops []store.Op
	flush := func() {
		if len(ops) == 0 {
			return
		}
		if _, err := to.Txn(ctx, ops); err != nil {
			b.Fatal(err)
		}
		ops = ops[:0]
	}
	for _, p := range pairs {
		op := store.Op{Verb: store.OpSet, Key: p.Key, Value: p.Value}
		if len(ops) == store.MaxTxnOps || store.TxnSize(append(ops, op)) > store.MaxTxnSize/2 {
			flush()
		}
		ops = append(ops, op)
	}
	flush()
}

// loadTest serves st on a 127.0.0.1 listener and sends b.N GETs of url
// from benchConcurrency clients, reporting req/s and latency percentiles.
func loadTest(b *testing.B, st *store.Store, secret, url string) {
	srv, err := New(&Config{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	if url == "/api/v1/health-auth" {
		// The baseline: an authenticated request that reads no sites.
		url = "/api/v1/whoami"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer func() { _ = srv.Shutdown(context.Background()) }()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchConcurrency}, Timeout: 30 * time.Second}
	target := "http://" + ln.Addr().String() + url
	get := func() error {
		req, _ := http.NewRequest("GET", target, nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		res, err := client.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		if _, err := io.Copy(io.Discard, res.Body); err != nil {
			return err
		}
		if res.StatusCode != 200 {
			return fmt.Errorf("GET %s: status %d", url, res.StatusCode)
		}
		return nil
	}
	// Warm up: the first list waits for the store's mirror to load.
	for range benchConcurrency {
		if err := get(); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([]time.Duration, b.N)
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		fail atomic.Value
	)
	runtime.GC() // leave the seeding's garbage out of the measurement
	b.ResetTimer()
	start := time.Now()
	for range benchConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				t0 := time.Now()
				if err := get(); err != nil {
					fail.Store(err)
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err, ok := fail.Load().(error); ok {
		b.Fatal(err)
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(float64(len(lat))*p))]) / float64(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
