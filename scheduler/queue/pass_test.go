package queue

import (
	"context"
	"log/slog"
	"net"
	"os"
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
	"github.com/aegirhq/aegir/scheduler"
	"github.com/aegirhq/aegir/secrets"
)

// TestMain doubles as the real back end: the LocalExecutor re-executes the
// test binary with AEGIR_QUEUE_TEST_BACKEND set, and it runs
// provision.Main with the builtin web and sqlite drivers, as `aegir
// provision run` does.
func TestMain(m *testing.M) {
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
	st    *store.Store
	q     *Queues
	clock *testClock
	sites []*domain.Site
}

// setupPass runs a real dispatcher with the real back end (child
// processes) on the builtin web server and sqlite, a static platform, and
// n installed sites.
func setupPass(t testing.TB, n int) *passBundle {
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
	exec, err := scheduler.NewLocalExecutor(scheduler.LocalConfig{Binary: os.Args[0], Bus: bus,
		Env: []string{"AEGIR_QUEUE_TEST_BACKEND=1"}, Logger: log})
	must(t, err)
	q, err := New(Config{Store: st, Locker: lk, Logger: log, Now: clock.Now, Poll: 20 * time.Millisecond})
	must(t, err)
	d, err := scheduler.New(scheduler.Config{Store: st, Executor: q.Observe(exec), Bus: bus, Locker: lk, Logger: log, MaxParallel: 8,
		Env: provision.EnvInfo{DataDir: dataDir, BackupDir: filepath.Join(dataDir, "backups"), SecretsBackend: "file"}})
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
	b := &passBundle{st: st, q: q, clock: clock}
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
// against the builtin web server (each run a child-process back end that
// GETs /cron), and reports sites per second.
func BenchmarkCronPass200(b *testing.B) {
	bb := setupPass(b, 200)
	ctx := context.Background()
	s, err := bb.q.Settings(ctx, Cron)
	must(b, err)
	s.CronPath, s.Interval, s.Concurrency = "/cron", s.Frequency, 8
	_, err = bb.q.PutSettings(ctx, Cron, s)
	must(b, err)
	ran := 0
	b.ResetTimer()
	for b.Loop() {
		rep, err := bb.q.RunPass(ctx, Cron)
		must(b, err)
		if rep.Succeeded != 200 {
			b.Fatalf("pass: %+v", rep)
		}
		ran += rep.Succeeded
		bb.clock.Add(2 * time.Hour)
	}
	b.ReportMetric(float64(ran)/b.Elapsed().Seconds(), "sites/s")
}
