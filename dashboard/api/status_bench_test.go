package api

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/store/boltkv"
	"github.com/aegirhq/aegir/internal/store/consulkv"
	"github.com/aegirhq/aegir/internal/testharness"
)

// BenchmarkHealth measures GET /api/v1/health, which reads the store (at
// most once a second), on bbolt and on Consul, next to the baseline of
// the same run: the same server answering {"status":"ok"} without a store
// read, as /health did before ("static": its store read replaced by
// nothing).
// "every-read" turns the one-second sharing off, so each probe reads the
// store: the cost a load balancer would otherwise put on Consul.
// Loopback, benchConcurrency clients; req/s, p50 and p99.
func BenchmarkHealth(b *testing.B) {
	quiet := slog.New(slog.DiscardHandler)
	kv, err := boltkv.Open(filepath.Join(b.TempDir(), "aegir.db"), &boltkv.Config{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	bolt := store.New(kv, &store.Config{Logger: quiet})
	defer bolt.Close()

	b.Run("static", func(b *testing.B) {
		srv, err := New(&Config{Store: bolt, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		srv.healthCheck.ping = func(context.Context) error { return nil }
		srv.healthCheck.ttl = 0
		ln := listen(b)
		go func() { _ = srv.Serve(ln) }()
		defer func() { _ = srv.Shutdown(context.Background()) }()
		hammer(b, "http://"+ln.Addr().String()+"/api/v1/health")
	})
	run := func(b *testing.B, st *store.Store) {
		for _, ttl := range []struct {
			name string
			ttl  time.Duration
		}{{"shared", healthTTL}, {"every-read", 0}} {
			b.Run(ttl.name, func(b *testing.B) {
				srv, err := New(&Config{Store: st, Logger: quiet})
				if err != nil {
					b.Fatal(err)
				}
				srv.healthCheck.ttl = ttl.ttl
				ln := listen(b)
				go func() { _ = srv.Serve(ln) }()
				defer func() { _ = srv.Shutdown(context.Background()) }()
				hammer(b, "http://"+ln.Addr().String()+"/api/v1/health")
			})
		}
	}
	b.Run("bolt", func(b *testing.B) { run(b, bolt) })
	b.Run("consul", func(b *testing.B) {
		agent := testharness.SharedConsul(b)
		ckv, err := consulkv.New(consulkv.Config{Address: agent.Addr, Prefix: testharness.UniquePrefix(b)})
		if err != nil {
			b.Fatal(err)
		}
		cst := store.New(ckv, &store.Config{Logger: quiet})
		defer cst.Close()
		run(b, cst)
	})
}

func listen(b *testing.B) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	return ln
}

// hammerRequests is the least number of requests hammer sends, so that
// `just bench` (-benchtime 1x) gets figures too.
const hammerRequests = 5000

// hammer GETs url max(b.N, hammerRequests) times from benchConcurrency
// clients, each answer 200, and reports req/s, p50-ms and p99-ms (not
// ns/op, which would be per b.N).
func hammer(b *testing.B, url string) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchConcurrency}, Timeout: 30 * time.Second}
	get := func() error {
		res, err := client.Get(url)
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
	for range benchConcurrency {
		if err := get(); err != nil {
			b.Fatal(err)
		}
	}
	n := max(b.N, hammerRequests)
	lat := make([]time.Duration, n)
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		fail atomic.Value
	)
	b.ResetTimer()
	start := time.Now()
	for range benchConcurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t0 := time.Now()
				if err := get(); err != nil {
					fail.Store(err)
					return
				}
				lat[i] = time.Since(t0)
			}
		})
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
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(n)/elapsed.Seconds(), "req/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// benchConcurrency is how many clients hammer the server at once, as in
// package dashboard's load tests.
const benchConcurrency = 8
