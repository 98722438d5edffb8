package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptrace"
	"net/url"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aegirhq/aegir/dashboard/web"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/store/boltkv"
	"github.com/aegirhq/aegir/internal/store/consulkv"
	"github.com/aegirhq/aegir/internal/testharness"
)

const benchTasks = 100_000

// BenchmarkUIPages measures the dashboard's sites list and site page with
// 10,000 sites and 100,000 tasks in the store, on bbolt and on Consul:
// time to first byte and to the last byte of the rendered page, p50 and
// p99, from one and from benchConcurrency logged-in clients over loopback. /account,
// which loads the session's user and renders the layout but reads no
// sites or tasks, is the baseline measured in the same run.
//
// Sites are created through the store (seedSites); the tasks beyond the
// sites' installs are written straight into the KV in transactions, in the
// store's own layout, spread over the sites so every site page lists some.
func BenchmarkUIPages(b *testing.B) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	kv, err := boltkv.Open(filepath.Join(b.TempDir(), "aegir.db"), &boltkv.Config{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	st := store.New(kv, &store.Config{Logger: quiet})
	defer st.Close()
	start := time.Now()
	seedSites(b, st, benchSites)
	ctx := context.Background()
	all, err := st.ListSites(ctx, store.SiteFilter{Limit: 1000})
	if err != nil {
		b.Fatal(err)
	}
	seedTasks(b, kv, st, benchTasks-benchSites)
	admin, err := st.UserByName(ctx, "admin")
	if err != nil {
		b.Fatal(err)
	}
	if err := web.SetPassword(ctx, st, admin, testPassword); err != nil {
		b.Fatal(err)
	}
	waitMirrored(b, st, benchTasks)
	b.Logf("seeded %d sites and %d tasks in %s", benchSites, benchTasks, time.Since(start).Round(time.Millisecond))
	site := all.Items[len(all.Items)/2]

	pages := []struct{ name, url string }{
		{"account-baseline", "/account"},
		{"sites-first-page", "/sites"},
		{"sites-filtered", "/sites?q=site-01&status=enabled"},
		{"sites-page-100", "/sites?offset=5000"},
		{"site-page", "/sites/" + site.ID},
	}
	b.Run("bolt", func(b *testing.B) {
		for _, p := range pages {
			for _, c := range []int{1, benchConcurrency} {
				b.Run(fmt.Sprintf("%s/c%d", p.name, c), func(b *testing.B) { uiLoadTest(b, st, p.url, c) })
			}
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
		waitMirrored(b, cst, benchTasks)
		for _, p := range pages {
			for _, c := range []int{1, benchConcurrency} {
				b.Run(fmt.Sprintf("%s/c%d", p.name, c), func(b *testing.B) { uiLoadTest(b, cst, p.url, c) })
			}
		}
	})
}

// waitMirrored waits until the store's task mirror holds n tasks: tasks
// written straight into the KV reach it through its watch, and measuring
// while it still catches up would measure the catching up.
func waitMirrored(b *testing.B, st *store.Store, n int) {
	b.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		p, err := st.ListTasks(context.Background(), store.TaskFilter{Limit: 1})
		if err != nil {
			b.Fatal(err)
		}
		if p.Total >= n {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("the task mirror holds %d of %d tasks", p.Total, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Second) // let the watch loop go idle
	runtime.GC()
}

// seedTasks writes n finished tasks on the store's sites straight into kv.
func seedTasks(b *testing.B, kv store.KV, st *store.Store, n int) {
	b.Helper()
	ctx := context.Background()
	var sites []domain.Site
	for off := 0; ; off += 1000 {
		p, err := st.ListSites(ctx, store.SiteFilter{Offset: off, Limit: 1000})
		if err != nil {
			b.Fatal(err)
		}
		sites = append(sites, p.Items...)
		if off+1000 >= p.Total {
			break
		}
	}
	types := []domain.TaskType{domain.TaskVerify, domain.TaskBackup, domain.TaskVerify, domain.TaskDisable, domain.TaskEnable}
	now := time.Now().UTC()
	var ops []store.Op
	flush := func() {
		if len(ops) == 0 {
			return
		}
		if _, err := kv.Txn(ctx, ops); err != nil {
			b.Fatal(err)
		}
		ops = ops[:0]
	}
	for i := range n {
		s := sites[i%len(sites)]
		created := now.Add(-time.Duration(n-i) * 6 * time.Second)
		started, finished := created.Add(time.Second), created.Add(3*time.Second)
		t := domain.Task{
			ID: domain.NewIDAt(created), Type: types[i%len(types)], TargetKind: domain.TargetSite, TargetID: s.ID,
			TargetName: s.Domain, ClientID: s.ClientID, Status: domain.TaskSucceeded, RequestedBy: "bench",
			CreatedAt: created, StartedAt: &started, FinishedAt: &finished, Summary: "done",
		}
		if i%17 == 0 {
			t.Status, t.ErrorCode, t.Explanation, t.FixHint, t.Summary = domain.TaskFailed, "web_reload", "nginx did not reload", "check nginx -t on the server", ""
		}
		v, err := json.Marshal(t)
		if err != nil {
			b.Fatal(err)
		}
		op := store.Op{Verb: store.OpSet, Key: store.TaskKey(t.ID), Value: v}
		if len(ops) >= store.MaxTxnOps-1 || store.TxnSize(append(ops, op)) > store.MaxTxnSize/2 {
			flush()
		}
		// Each task with its hour's marker, as the store writes them.
		ops = append(ops, store.TaskBucketOp(t.ID), op)
	}
	flush()
}

// uiLoadTest serves st with the dashboard, logs in as admin and sends b.N
// GETs of path from conc clients at once, reporting time to first byte and
// to the end of the body. One client shows a page's own latency; eight on
// a small machine add the queueing of requests for its cores.
func uiLoadTest(b *testing.B, st *store.Store, path string, conc int) {
	srv, err := New(&Config{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer func() { _ = srv.Shutdown(context.Background()) }()
	base := "http://" + ln.Addr().String()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		Transport:     &http.Transport{MaxIdleConnsPerHost: conc},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	benchLogin(b, client, base)
	type sample struct{ ttfb, full time.Duration }
	get := func() (sample, error) {
		var first time.Time
		trace := &httptrace.ClientTrace{GotFirstResponseByte: func() { first = time.Now() }}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", base+path, nil)
		t0 := time.Now()
		res, err := client.Do(req)
		if err != nil {
			return sample{}, err
		}
		defer res.Body.Close()
		if _, err := io.Copy(io.Discard, res.Body); err != nil {
			return sample{}, err
		}
		if res.StatusCode != 200 {
			return sample{}, fmt.Errorf("GET %s: status %d", path, res.StatusCode)
		}
		return sample{first.Sub(t0), time.Since(t0)}, nil
	}
	for range benchConcurrency { // warm up: the mirrors load on first use
		if _, err := get(); err != nil {
			b.Fatal(err)
		}
	}
	samples := make([]sample, b.N)
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		fail atomic.Value
	)
	runtime.GC()
	b.ResetTimer()
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				s, err := get()
				if err != nil {
					fail.Store(err)
					return
				}
				samples[i] = s
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err, ok := fail.Load().(error); ok {
		b.Fatal(err)
	}
	pct := func(get func(sample) time.Duration, p float64) float64 {
		ds := make([]time.Duration, len(samples))
		for i, s := range samples {
			ds[i] = get(s)
		}
		slices.Sort(ds)
		return float64(ds[min(len(ds)-1, int(float64(len(ds))*p))]) / float64(time.Millisecond)
	}
	ttfb := func(s sample) time.Duration { return s.ttfb }
	full := func(s sample) time.Duration { return s.full }
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(pct(ttfb, 0.50), "ttfb-p50-ms")
	b.ReportMetric(pct(ttfb, 0.99), "ttfb-p99-ms")
	b.ReportMetric(pct(full, 0.50), "full-p50-ms")
	b.ReportMetric(pct(full, 0.99), "full-p99-ms")
}

func benchLogin(b *testing.B, client *http.Client, base string) {
	b.Helper()
	res, err := client.Get(base + "/login")
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := csrfRe.FindStringSubmatch(string(body))
	if m == nil {
		b.Fatal("no CSRF token on the login page")
	}
	form := url.Values{"_csrf": {m[1]}, "name": {"admin"}, "password": {testPassword}}
	res, err = client.Post(base+"/login", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		b.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		b.Fatalf("login: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
}
