package queue

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/locks"
	"github.com/aegirhq/aegir/internal/logbus"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/store/boltkv"
	"github.com/aegirhq/aegir/internal/testharness"
	"github.com/aegirhq/aegir/scheduler/dispatch"
	"github.com/aegirhq/aegir/scheduler/localexec"
	"github.com/aegirhq/aegir/secrets"
)

// setupPHPPass is setupPass on the production stack: nginx with php-fpm
// and MariaDB (testharness; they fail the test under CI=true when missing),
// the php-app test platform, and n sites installed through the real
// dispatcher and back end (child processes of this test binary, see
// TestMain).
func setupPHPPass(t *testing.T, n int) *passBundle {
	t.Helper()
	ctx := context.Background()
	root, err := os.MkdirTemp("", "aegir-qphp-") // t.TempDir paths hold the test name; nginx and php-fpm want plain ones
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(root) })
	testharness.WebReachable(t, root) // nginx and php-fpm workers run as www-data
	ngx := testharness.Nginx(t)
	fpm := testharness.PHPFPM(t)
	maria := testharness.MariaDB(t)

	dataDir := filepath.Join(root, "data")
	must(t, os.MkdirAll(dataDir, 0o750))
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	kv, err := boltkv.Open(filepath.Join(root, "aegir.db"), &boltkv.Config{NoSync: true})
	must(t, err)
	clock := &testClock{now: t0}
	st := store.New(kv, &store.Config{Logger: log, Now: clock.Now})
	t.Cleanup(func() { _ = st.Close() })

	client := &domain.Client{Name: "acme"}
	must(t, st.CreateClient(ctx, client))
	web := &domain.Server{Name: "web1", Address: "127.0.0.1"}
	_, err = st.CreateServer(ctx, web, []domain.Service{{Kind: domain.KindNginx, Port: ngx.Port, Settings: map[string]string{
		"config_dir":  ngx.ConfDir,
		"main_config": ngx.MainConfig,
		"pid_file":    ngx.PidFile,
		"binary":      ngx.Bin,
		"php_fastcgi": "unix:" + fpm.Socket,
	}}}, "test")
	must(t, err)
	db := &domain.Server{Name: "db1", Address: "127.0.0.1"}
	_, err = st.CreateServer(ctx, db, []domain.Service{{Kind: domain.KindMariaDB, Port: portOf(t, maria.Addr)}}, "test")
	must(t, err)
	// The admin credentials go in before the dispatcher starts, so the
	// verify-server task finds them.
	svc, err := st.ServiceOf(ctx, db.ID, domain.ServiceDB)
	must(t, err)
	sec, err := secrets.OpenFile(filepath.Join(dataDir, "secrets"))
	must(t, err)
	must(t, sec.Put(ctx, secrets.ServiceAdminRef(svc.ID), map[string]string{"username": maria.AdminUser, "password": maria.AdminPassword}))

	bus := logbus.NewMemory(nil)
	lk := locks.NewMemory()
	exec, err := localexec.New(localexec.Config{Binary: os.Args[0], Bus: bus,
		Env: []string{"AEGIR_QUEUE_TEST_BACKEND=1"}, Logger: log})
	must(t, err)
	q, err := New(Config{Store: st, Locker: lk, Logger: log, Now: clock.Now, Poll: 20 * time.Millisecond})
	must(t, err)
	d, err := dispatch.New(dispatch.Config{Store: st, Executor: q.Observe(exec), Bus: bus, Locker: lk, Logger: log, MaxParallel: 4,
		Env: provision.EnvInfo{DataDir: dataDir, BackupDir: filepath.Join(dataDir, "backups"), SecretsBackend: "file"}})
	must(t, err)
	dctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = d.Run(dctx); close(done) }()
	t.Cleanup(func() { stop(); <-done })

	pdir := filepath.Join(root, "platforms", "php")
	copyTree(t, testharness.PlatformFixture("php-app"), pdir)
	p := &domain.Platform{Name: "php", Path: pdir, WebServerID: web.ID, Type: domain.PlatformPHP}
	_, err = st.CreatePlatform(ctx, p, "test")
	must(t, err)
	b := &passBundle{st: st, q: q, clock: clock}
	for i := range n {
		s := &domain.Site{Domain: "php" + string(rune('a'+i)) + ".example.com", PlatformID: p.ID, DBServerID: db.ID, ClientID: client.ID}
		_, err := st.CreateSite(ctx, s, "test")
		must(t, err)
		b.sites = append(b.sites, s)
	}
	b.settle(t)
	return b
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	i := strings.LastIndexByte(addr, ':')
	var n int
	for _, c := range addr[i+1:] {
		n = n*10 + int(c-'0')
	}
	if i < 0 || n == 0 {
		t.Fatalf("no port in %q", addr)
	}
	return n
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	must(t, err)
}

// TestPHPPassesOnNginxMariaDB runs the queues over the PHP test platform
// on real nginx, php-fpm and MariaDB: two cron passes write two rows per
// site (the php-app cron hook), a stats pass reports exactly those rows,
// daily backups over ten simulated days rotate under retention (archives
// and records together), and a verify-backup pass restores a site's
// newest backup into a throwaway site that answers through nginx.
func TestPHPPassesOnNginxMariaDB(t *testing.T) {
	t.Parallel()
	b := setupPHPPass(t, 2)
	ctx := t.Context()
	for _, name := range []string{Cron, Stats, Backup, VerifyBackup} {
		s, err := b.q.Settings(ctx, name)
		must(t, err)
		s.Interval = s.Frequency
		if name == Backup {
			s.Retention = &Retention{KeepLast: 2, Daily: 3}
		}
		_, err = b.q.PutSettings(ctx, name, s)
		must(t, err)
	}

	// cron: two passes an hour apart, one row each per site.
	for i := range 2 {
		rep, err := b.q.RunPass(ctx, Cron)
		must(t, err)
		if rep.Succeeded != 2 || rep.Failed != 0 {
			t.Fatalf("cron pass %d: %+v", i, rep)
		}
		b.clock.Add(time.Hour)
	}
	outs, err := b.q.CronOutputs(ctx, b.sites[0].ID)
	must(t, err)
	if len(outs) != 2 || !outs[1].OK {
		t.Fatalf("cron outputs %+v", outs)
	}

	// stats: the rows cron wrote.
	rep, err := b.q.RunPass(ctx, Stats)
	must(t, err)
	if rep.Succeeded != 2 {
		t.Fatalf("stats pass: %+v", rep)
	}
	for _, site := range b.sites {
		pts, err := b.q.SiteStats(ctx, site.ID)
		must(t, err)
		if len(pts) != 1 || pts[0].Figures["cron_runs"] != 2 || pts[0].Figures["disk_bytes"] <= 0 || pts[0].Figures["db_bytes"] <= 0 {
			t.Fatalf("stats of %s: %+v", site.Domain, pts)
		}
	}
	fleet, err := b.q.FleetStats(ctx)
	must(t, err)
	if len(fleet) != 1 || fleet[0].Figures["cron_runs"] != 4 {
		t.Fatalf("fleet %+v", fleet)
	}

	// backup: daily for 10 simulated days, keep last 2 and 3 dailies.
	deleted := 0
	for day := range 10 {
		rep, err := b.q.RunPass(ctx, Backup)
		must(t, err)
		if rep.Succeeded != 2 {
			t.Fatalf("backup pass on day %d: %+v", day, rep)
		}
		deleted += rep.BackupsDeleted
		b.clock.Add(24 * time.Hour)
	}
	if deleted != 2*7 {
		t.Errorf("%d backups deleted, want %d", deleted, 2*7)
	}
	for _, site := range b.sites {
		list, err := b.st.ListBackups(ctx, site.ID, nil)
		must(t, err)
		if len(list) != 3 {
			t.Fatalf("%s has %d backups, want 3", site.Domain, len(list))
		}
		files, _ := filepath.Glob(filepath.Join(filepath.Dir(list[0].Path), "*.tar.zst"))
		if len(files) != 3 {
			t.Errorf("%s has %d archives on disk, want 3", site.Domain, len(files))
		}
	}

	// verify-backup: one site a pass (1% of 2, at least one).
	rep, err = b.q.RunPass(ctx, VerifyBackup)
	must(t, err)
	if rep.Due != 1 || rep.Succeeded != 1 {
		runs, _ := b.q.Runs(ctx, VerifyBackup)
		t.Fatalf("verify-backup pass: %+v %+v", rep, runs)
	}
	runs, err := b.q.Runs(ctx, VerifyBackup)
	must(t, err)
	for id, r := range runs {
		task, err := b.st.GetTask(ctx, r.TaskID)
		must(t, err)
		if task.Status != domain.TaskSucceeded || !strings.Contains(task.Summary, "restores") {
			t.Fatalf("verify of %s: %s %s", id, task.Status, task.Summary)
		}
	}
	// Nothing of the throwaway site is left on the platform.
	plats, err := b.st.ListPlatforms(ctx)
	must(t, err)
	ents, err := os.ReadDir(filepath.Join(plats[0].Path, "sites"))
	must(t, err)
	if len(ents) != 2 {
		t.Fatalf("the platform's sites dir holds %d entries, want the 2 sites", len(ents))
	}
}
