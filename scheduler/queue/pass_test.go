package queue

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/builtinweb"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/locks"
	"github.com/aegirhq/aegir/internal/logbus"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/provision/dbmariadb"
	"github.com/aegirhq/aegir/internal/provision/dbsqlite"
	"github.com/aegirhq/aegir/internal/provision/webnginx"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/store/boltkv"
	"github.com/aegirhq/aegir/scheduler/dispatch"
	"github.com/aegirhq/aegir/scheduler/localexec"
	"github.com/aegirhq/aegir/secrets"
)

// TestMain doubles as the real back end: the LocalExecutor re-executes the
// test binary with AEGIR_QUEUE_TEST_BACKEND set, and it runs
// provision.Main with the builtin web and sqlite drivers, as `aegir
// provision run` does. With AEGIR_QUEUE_TEST_CRONGET set it is
// BenchmarkCronPass200's process-per-site baseline instead: one GET of a
// site's cron path, and exit.
func TestMain(m *testing.M) {
	if u := os.Getenv("AEGIR_QUEUE_TEST_CRONGET"); u != "" {
		if err := cronGet(context.Background(), cronClient(), u, os.Getenv("AEGIR_QUEUE_TEST_HOST")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if os.Getenv("AEGIR_QUEUE_TEST_BACKEND") != "" {
		os.Exit(provision.Main(context.Background(), os.Args[2:], os.Stdin, os.Stdout, os.Stderr, provision.Deps{
			Web: map[domain.ServiceKind]provision.WebFactory{domain.KindBuiltin: builtinweb.NewDriverFactory,
				domain.KindNginx: webnginx.Factory}, // pass_nginx_test.go
			DB: map[domain.ServiceKind]provision.DBFactory{domain.KindSQLite: dbsqlite.New,
				domain.KindMariaDB: dbmariadb.Factory},
			OpenSecrets: func(env provision.EnvInfo) (secrets.Store, error) {
				return secrets.OpenFile(filepath.Join(env.DataDir, "secrets"))
			},
			Version: "test",
		}))
	}
	os.Exit(m.Run())
}

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type passBundle struct {
	st     *store.Store
	q      *Queues
	clock  *testClock
	sites  []*domain.Site
	webURL string // the builtin web server (setupPass only)
}

// setupPass runs a real dispatcher with the real back end (child
// processes) on the builtin web server and sqlite, a static platform, and
// n installed sites.
func setupPass(t testing.TB, n int) *passBundle {
	t.Helper()
	return setupPassEnv(t, n, nil)
}

// setupPassEnv is setupPass with tune given the builtin web server's port,
// the back end's environment and the queues' config to change (the
// certificates queue's ACME issuer and window) before they start.
func setupPassEnv(t testing.TB, n int, tune func(webPort int, env *provision.EnvInfo, qc *Config)) *passBundle {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	kv, err := boltkv.Open(filepath.Join(dir, "aegir.db"), &boltkv.Config{NoSync: true})
	must(t, err)
	clock := &testClock{now: t0}
	// The store stamps backups with the same simulated clock.
	st := store.New(kv, &store.Config{Logger: log, Now: clock.Now})
	t.Cleanup(func() { _ = st.Close() })
	must(t, os.MkdirAll(dataDir, 0o750))
	web, err := builtinweb.New(builtinweb.Config{RoutesDir: builtinweb.RoutesDir(dataDir)})
	must(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	go func() { _ = web.Serve(ln) }()
	t.Cleanup(func() { _ = web.Shutdown(context.Background()) })

	bus := logbus.NewMemory(nil)
	lk := locks.NewMemory()
	exec, err := localexec.New(localexec.Config{Binary: os.Args[0], Bus: bus,
		Env: []string{"AEGIR_QUEUE_TEST_BACKEND=1"}, Logger: log})
	must(t, err)
	qc := Config{Store: st, Locker: lk, Logger: log, Now: clock.Now, Poll: 20 * time.Millisecond}
	env := provision.EnvInfo{DataDir: dataDir, BackupDir: filepath.Join(dataDir, "backups"), SecretsBackend: "file"}
	if tune != nil {
		tune(ln.Addr().(*net.TCPAddr).Port, &env, &qc)
	}
	q, err := New(qc)
	must(t, err)
	d, err := dispatch.New(dispatch.Config{Store: st, Executor: q.Observe(exec), Bus: bus, Locker: lk, Logger: log, MaxParallel: 8,
		Env: env})
	must(t, err)
	dctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = d.Run(dctx); close(done) }()
	t.Cleanup(func() { stop(); <-done })

	client := &domain.Client{Name: "acme"}
	must(t, st.CreateClient(ctx, client))
	srv := &domain.Server{Name: "local", Address: "127.0.0.1"}
	_, err = st.CreateServer(ctx, srv, []domain.Service{{Kind: domain.KindBuiltin, Port: ln.Addr().(*net.TCPAddr).Port}, {Kind: domain.KindSQLite}}, "test")
	must(t, err)
	pdir := filepath.Join(dir, "platforms", "static")
	must(t, os.MkdirAll(filepath.Join(pdir, "public"), 0o755))
	must(t, os.WriteFile(filepath.Join(pdir, "public", "index.html"), []byte("<h1>hello</h1>"), 0o644))
	must(t, os.WriteFile(filepath.Join(pdir, "public", "cron"), []byte("cron ok"), 0o644))
	p := &domain.Platform{Name: "static", Path: pdir, WebServerID: srv.ID, Type: domain.PlatformStatic}
	_, err = st.CreatePlatform(ctx, p, "test")
	must(t, err)
	b := &passBundle{st: st, q: q, clock: clock, webURL: "http://" + ln.Addr().String()}
	for i := range n {
		s := &domain.Site{Domain: "s" + string(rune('a'+i%26)) + strings.Repeat("x", i/26) + ".example.com", PlatformID: p.ID, DBServerID: srv.ID, ClientID: client.ID}
		_, err := st.CreateSite(ctx, s, "test")
		must(t, err)
		b.sites = append(b.sites, s)
	}
	b.settle(t)
	return b
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// settle waits until no task is active, and fails on any failed task.
func (b *passBundle) settle(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		active, _, err := b.st.ActiveTasks(context.Background())
		must(t, err)
		if len(active) == 0 {
			p, err := b.st.ListTasks(context.Background(), store.TaskFilter{Status: domain.TaskFailed})
			must(t, err)
			for _, f := range p.Items {
				t.Fatalf("task %s %s on %s failed: %s", f.ID, f.Type, f.TargetName, f.Explanation)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("tasks did not settle")
}

func TestPassesOnRealBackEnd(t *testing.T) {
	t.Parallel()
	b := setupPass(t, 3)
	ctx := t.Context()
	// cron: every site requests /cron through the builtin web server.
	s, err := b.q.Settings(ctx, Cron)
	must(t, err)
	s.CronPath, s.Interval = "/cron", s.Frequency
	_, err = b.q.PutSettings(ctx, Cron, s)
	must(t, err)
	rep, err := b.q.RunPass(ctx, Cron)
	must(t, err)
	if rep.Succeeded != 3 || rep.Failed != 0 {
		t.Fatalf("cron pass: %+v", rep)
	}
	outs, err := b.q.CronOutputs(ctx, b.sites[0].ID)
	must(t, err)
	if len(outs) != 1 || !outs[0].OK || !strings.Contains(outs[0].Output, "cron ok") {
		t.Fatalf("cron outputs %+v", outs)
	}
	// A second pass at once finds nothing due.
	rep, err = b.q.RunPass(ctx, Cron)
	must(t, err)
	if rep.Due != 0 {
		t.Fatalf("second cron pass: %+v", rep)
	}

	// stats: disk and database figures, and a fleet total.
	ss, err := b.q.Settings(ctx, Stats)
	must(t, err)
	ss.Interval = ss.Frequency
	_, err = b.q.PutSettings(ctx, Stats, ss)
	must(t, err)
	rep, err = b.q.RunPass(ctx, Stats)
	must(t, err)
	if rep.Succeeded != 3 {
		t.Fatalf("stats pass: %+v", rep)
	}
	pts, err := b.q.SiteStats(ctx, b.sites[1].ID)
	must(t, err)
	if len(pts) != 1 || pts[0].Figures["disk_bytes"] <= 0 || pts[0].Figures["db_bytes"] <= 0 {
		t.Fatalf("site stats %+v", pts)
	}
	fleet, err := b.q.FleetStats(ctx)
	must(t, err)
	if len(fleet) != 1 || fleet[0].Figures["sites"] != 3 || fleet[0].Figures["disk_bytes"] < 3*pts[0].Figures["disk_bytes"]/2 {
		t.Fatalf("fleet %+v", fleet)
	}

	// backup: daily for 10 simulated days with keep-last 2, daily 3, no
	// weekly or monthly: each site ends with 3 scheduled backups, the
	// rotated archives gone from disk with their records.
	bs, err := b.q.Settings(ctx, Backup)
	must(t, err)
	bs.Retention = &Retention{KeepLast: 2, Daily: 3}
	bs.Interval = bs.Frequency
	_, err = b.q.PutSettings(ctx, Backup, bs)
	must(t, err)
	deleted := 0
	for range 10 {
		rep, err := b.q.RunPass(ctx, Backup)
		must(t, err)
		if rep.Succeeded != 3 {
			t.Fatalf("backup pass: %+v", rep)
		}
		deleted += rep.BackupsDeleted
		b.clock.Add(24 * time.Hour)
	}
	for _, site := range b.sites {
		list, err := b.st.ListBackups(ctx, site.ID, nil)
		must(t, err)
		if len(list) != 3 {
			t.Errorf("site %s has %d backups, want 3", site.Domain, len(list))
		}
		for _, bk := range list {
			if _, err := os.Stat(bk.Path); err != nil {
				t.Errorf("backup %s kept without its archive: %v", bk.ID, err)
			}
		}
		files, _ := filepath.Glob(filepath.Join(filepath.Dir(list[0].Path), "*.tar.zst"))
		if len(files) != 3 {
			t.Errorf("site %s has %d archives on disk, want 3", site.Domain, len(files))
		}
	}
	if deleted != 3*7 {
		t.Errorf("%d backups deleted, want %d", deleted, 3*7)
	}
}

// BenchmarkCronPass200 runs cron passes over 200 sites with concurrency 8
// against the builtin web server (each run a task whose child-process back
// end GETs /cron), and reports sites per second next to baselines measured
// in the same run over the same sites and server:
//
//   - floor: the same 200 GETs of /cron (each site's Host) straight from
//     this process, 8 at a time (floor-sites/s) and one after another
//     (floor-seq-sites/s): the physical floor of the work, an HTTP request
//     per site, with no queue, task or process around it;
//   - exec: a child process of the same binary per site that does only the
//     GET, 8 at a time (exec-sites/s): the floor for running each site's
//     cron in its own process, as aegir's back end does.
//
// floor/aegir and exec/aegir say how many times faster each baseline is;
// exec/aegir is what aegir's machinery (store transactions, dispatcher,
// per-site lock, context document, secrets, result and log handling) costs
// on top of a process per site.
//
//	go test -run '^$' -bench CronPass200 -benchtime 1x ./scheduler/queue/
func BenchmarkCronPass200(b *testing.B) {
	const sites, concurrency = 200, 8
	bb := setupPass(b, sites)
	ctx := context.Background()
	s, err := bb.q.Settings(ctx, Cron)
	must(b, err)
	s.CronPath, s.Interval, s.Concurrency = "/cron", s.Frequency, concurrency
	_, err = bb.q.PutSettings(ctx, Cron, s)
	must(b, err)
	client := cronClient()
	client.Transport = &http.Transport{MaxIdleConnsPerHost: concurrency}
	get := func(i int) error { return cronGet(ctx, client, bb.webURL+"/cron", bb.sites[i].Domain) }
	spawn := func(i int) error {
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
			"AEGIR_QUEUE_TEST_CRONGET=" + bb.webURL + "/cron", "AEGIR_QUEUE_TEST_HOST=" + bb.sites[i].Domain}
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}
	timed := func(run func() error) time.Duration {
		start := time.Now()
		must(b, run())
		return time.Since(start)
	}
	var aegir, floor, floorSeq, execd time.Duration
	ran := 0
	for b.Loop() {
		b.StopTimer()
		floor += timed(func() error { return forSites(sites, concurrency, get) })
		floorSeq += timed(func() error { return forSites(sites, 1, get) })
		execd += timed(func() error { return forSites(sites, concurrency, spawn) })
		b.StartTimer()
		aegir += timed(func() error {
			rep, err := bb.q.RunPass(ctx, Cron)
			if err == nil && rep.Succeeded != sites {
				err = fmt.Errorf("pass: %+v", rep)
			}
			return err
		})
		ran += sites
		bb.clock.Add(2 * time.Hour)
	}
	rate := func(d time.Duration) float64 { return float64(ran) / d.Seconds() }
	b.ReportMetric(rate(aegir), "sites/s")
	b.ReportMetric(rate(floor), "floor-sites/s")
	b.ReportMetric(rate(floorSeq), "floor-seq-sites/s")
	b.ReportMetric(rate(execd), "exec-sites/s")
	b.ReportMetric(rate(floor)/rate(aegir), "floor/aegir")
	b.ReportMetric(rate(execd)/rate(aegir), "exec/aegir")
}

// forSites calls fn for sites 0..n-1, concurrency at a time, and returns
// the first error.
func forSites(n, concurrency int, fn func(i int) error) error {
	next := make(chan int)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for i := range next {
				if err := fn(i); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	return <-errs
}

// cronClient is configured as the back end's (5 s timeout, redirects not
// followed).
func cronClient() *http.Client {
	return &http.Client{Timeout: 5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// cronGet is the work of a cron run by path, as the back end does it: GET
// url with host as Host, read the start of the body (4 KiB), fail on a
// status of 400 or more.
func cronGet(ctx context.Context, c *http.Client, url, host string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Host = host
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	buf := make([]byte, provision.MaxReportOutput)
	n, _ := io.ReadFull(resp.Body, buf)
	_, _ = io.Copy(io.Discard, resp.Body) // so the connection is reused
	if resp.StatusCode >= 400 || !strings.Contains(string(buf[:n]), "cron ok") {
		return fmt.Errorf("GET %s for %s: %d %q", url, host, resp.StatusCode, buf[:n])
	}
	return nil
}
