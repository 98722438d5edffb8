package cli

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aegirhq/aegir/dashboard"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/logbus"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/store/boltkv"
)

// realAPI starts the real dashboard on a bbolt store on 127.0.0.1 and
// returns a bundle whose commands talk to it as the admin, and the store.
func realAPI(t *testing.T) (*bundle, *store.Store) {
	t.Helper()
	b, st, _ := realAPIBus(t)
	return b, st
}

// realAPIBus is realAPI that also returns the in-memory log bus the API
// serves task logs from, for tests that write a task's log lines.
func realAPIBus(t *testing.T) (*bundle, *store.Store, *logbus.Memory) {
	t.Helper()
	ctx := context.Background()
	kv, err := boltkv.Open(filepath.Join(t.TempDir(), "aegir.db"), &boltkv.Config{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := store.New(kv, &store.Config{Logger: quiet})
	t.Cleanup(func() { _ = st.Close() })
	token, _, err := st.EnsureAdmin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	logs := logbus.NewMemory(nil)
	srv, err := dashboard.New(&dashboard.Config{Store: st, Logger: quiet, Logs: logs})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return &bundle{t: t, env: map[string]string{"AEGIR_ADDR": ln.Addr().String(), "AEGIR_TOKEN": token}}, st, logs
}

// TestServiceSettingsEndToEnd sets up a one-machine nginx + MariaDB server
// from the CLI alone through the real API: server edit, service
// set/unset/show, and a value the API refuses.
func TestServiceSettingsEndToEnd(t *testing.T) {
	t.Parallel()
	b, st := realAPI(t)
	ctx := context.Background()

	b.run("server", "create", "web1", "-address", "127.0.0.1", "-http", "nginx", "-db", "mariadb").want(t, ExitOK)

	// Every setting of the kind is listed, the required ones marked.
	r := b.run("service", "show", "web1", "http").want(t, ExitOK)
	contains(t, "stdout", r.stdout, "nginx", "80 (default)", "config_dir", "(required, not set)", "main_config",
		"the nginx.conf passed to nginx -t", "web_group", "www-data")

	r = b.run("service", "set", "web1", "http", "config_dir=/etc/nginx/sites-enabled", "main_config=/etc/nginx/nginx.conf", "-port", "8080").want(t, ExitOK)
	contains(t, "stdout", r.stdout, "Set config_dir, main_config, port of the http service (nginx) on web1.", "aegir server verify web1")
	r = b.run("service", "show", "web1", "nginx").want(t, ExitOK)
	contains(t, "stdout", r.stdout, "config_dir = /etc/nginx/sites-enabled", "main_config = /etc/nginx/nginx.conf", "8080")
	if strings.Contains(r.stdout, "(required, not set)") {
		t.Errorf("required settings still unset:\n%s", r.stdout)
	}

	// Refused values: a relative path, a key nginx does not read, a
	// binary that is not nginx. The API says why; nothing is stored.
	r = b.run("service", "set", "web1", "http", "config_dir=sites").want(t, ExitFailed)
	contains(t, "stderr", r.stderr, "config_dir")
	r = b.run("service", "set", "web1", "http", "confg_dir=/etc/nginx").want(t, ExitFailed)
	contains(t, "stderr", r.stderr, `no setting "confg_dir"`, "config_dir, main_config")
	b.run("service", "set", "web1", "http", "binary=/bin/sh").want(t, ExitFailed)
	b.run("service", "set", "web1", "http", "config_dir").want(t, ExitUsage)
	b.run("service", "set", "web1", "http").want(t, ExitUsage)
	r = b.run("service", "show", "web1", "db", "extra").want(t, ExitUsage)
	r = b.run("service", "show", "web1", "redis").want(t, ExitFailed)
	contains(t, "stderr", r.stderr, "server web1 has no redis service", "http (nginx)")

	svcs, err := st.ListServices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range svcs {
		if s.Kind == domain.ServiceKind("nginx") && (s.Settings["config_dir"] != "/etc/nginx/sites-enabled" || s.Port != 8080 || s.Settings["binary"] != "") {
			t.Errorf("nginx service after refusals: %+v", s)
		}
	}

	b.run("service", "set", "web1", "db", "user_hosts=localhost,127.0.0.1").want(t, ExitOK)
	b.run("service", "unset", "web1", "http", "main_config").want(t, ExitOK)
	r = b.run("service", "unset", "web1", "http", "pid_file").want(t, ExitOK)
	contains(t, "stderr", r.stderr, "pid_file is not set")
	r = b.run("service", "show", "web1", "http", "-json").want(t, ExitOK)
	contains(t, "stdout", r.stdout, `"config_dir": "/etc/nginx/sites-enabled"`)
	if strings.Contains(r.stdout, "main_config") {
		t.Errorf("main_config still set:\n%s", r.stdout)
	}

	r = b.run("service", "kinds", "nginx").want(t, ExitOK)
	contains(t, "stdout", r.stdout, "nginx (http, default port 80)", "  config_dir (required)\n", "  web_group (default: www-data)")
	b.run("service", "kinds", "apache").want(t, ExitUsage)

	// server create takes the services' settings, checked as set does.
	r = b.run("server", "create", "web2", "-address", "127.0.0.1", "-http", "nginx", "-http-set", "config_dir=/etc/nginx/sites-enabled",
		"-http-set", "main_config=/etc/nginx/nginx.conf", "-db", "mariadb", "-db-set", "user_hosts=localhost,127.0.0.1").want(t, ExitOK)
	r = b.run("service", "show", "web2", "db").want(t, ExitOK)
	contains(t, "stdout", r.stdout, "user_hosts = localhost,127.0.0.1")
	r = b.run("server", "create", "web3", "-address", "127.0.0.1", "-http", "nginx", "-http-set", "main_config=nginx.conf").want(t, ExitFailed)
	contains(t, "stderr", r.stderr, "main_config")
	b.run("server", "create", "web3", "-address", "127.0.0.1", "-db-set", "host=x").want(t, ExitUsage)
	b.run("server", "create", "web3", "-address", "127.0.0.1", "-http", "nginx", "-http-set", "novalue").want(t, ExitUsage)

	// server edit changes what the flags name and queues verify-server.
	r = b.run("server", "edit", "web1", "-address", "10.0.0.6", "-nomad-node", "node1").want(t, ExitOK)
	contains(t, "stdout", r.stdout, "Server web1 updated.", "(verify-server on server web1) queued")
	r = b.run("server", "show", "web1").want(t, ExitOK)
	contains(t, "stdout", r.stdout, "10.0.0.6", "node1")
	b.run("server", "edit", "web1").want(t, ExitUsage)
	b.run("server", "edit", "web1", "-nomad-node", "").want(t, ExitOK)
	r = b.run("server", "show", "web1").want(t, ExitOK)
	if strings.Contains(r.stdout, "node1") {
		t.Errorf("nomad node not cleared:\n%s", r.stdout)
	}
	r = b.run("server", "edit", "web1", "-address", "not an address").want(t, ExitFailed)
	contains(t, "stderr", r.stderr, "address")
}

// TestRestoreLatestEndToEnd restores a site's newest backup by the name
// latest, and is refused when the site has none.
func TestRestoreLatestEndToEnd(t *testing.T) {
	t.Parallel()
	b, st := realAPI(t)
	ctx := context.Background()
	b.run("client", "create", "acme").want(t, ExitOK)
	b.run("server", "create", "local", "-address", "127.0.0.1", "-http", "builtin", "-db", "sqlite").want(t, ExitOK)
	b.run("platform", "create", "static1", "-path", "/srv/platforms/static1", "-server", "local", "-type", "static").want(t, ExitOK)
	b.run("site", "create", "example.com", "-platform", "static1", "-db-server", "local", "-client", "acme").want(t, ExitOK)
	// A near platform name is a typo: exit 2 with the name meant.
	r := b.run("site", "create", "other.example.com", "-platform", "statc1", "-db-server", "local", "-client", "acme").want(t, ExitUsage)
	contains(t, "stderr", r.stderr, `no platform named "statc1"; did you mean "static1"?`)
	site, err := st.SiteByDomain(ctx, "example.com")
	if err != nil {
		t.Fatal(err)
	}
	finish := func(typ domain.TaskType, changes ...store.Change) {
		t.Helper()
		p, err := st.ListTasks(ctx, store.TaskFilter{TargetID: site.ID, Type: typ, Status: domain.TaskQueued, Limit: 1})
		if err != nil || len(p.Items) != 1 {
			t.Fatalf("queued %s task: %v %v", typ, p.Items, err)
		}
		task := &p.Items[0]
		if err := st.StartTask(ctx, task, "test", 1); err != nil {
			t.Fatal(err)
		}
		if err := st.FinishTask(ctx, task, domain.TaskSucceeded, changes...); err != nil {
			t.Fatal(err)
		}
	}
	finish(domain.TaskInstall, store.SetSiteStatus(site.ID, domain.SiteEnabled))

	r = b.run("site", "restore", "example.com", "-backup", "latest", "-yes").want(t, ExitFailed)
	contains(t, "stderr", r.stderr, "example.com has no backups", "aegir site backup example.com")

	t0 := time.Now().Add(-time.Hour).UTC()
	var newest string
	for i, at := range []time.Time{t0, t0.Add(30 * time.Minute)} {
		b.run("site", "backup", "example.com").want(t, ExitOK)
		bk := &domain.Backup{SiteID: site.ID, ClientID: site.ClientID, Domain: site.Domain, Path: "/srv/backups/b" + string(rune('0'+i)),
			Size: 18, SHA256: "abc", Reason: "manual", CreatedAt: at}
		finish(domain.TaskBackup, store.AddBackup(bk))
		newest = bk.ID
	}
	r = b.run("site", "restore", "example.com", "-backup", "latest", "-yes").want(t, ExitOK)
	contains(t, "stderr", r.stderr, "The latest backup of example.com is "+newest)
	contains(t, "stdout", r.stdout, "(restore on site example.com) queued")
	p, err := st.ListTasks(ctx, store.TaskFilter{TargetID: site.ID, Type: domain.TaskRestore, Limit: 1})
	if err != nil || len(p.Items) != 1 {
		t.Fatalf("restore task: %v %v", p.Items, err)
	}
	if got := p.Items[0].Args["backup_id"]; got != newest {
		t.Errorf("restore of backup %q, want the newest %q", got, newest)
	}
}
