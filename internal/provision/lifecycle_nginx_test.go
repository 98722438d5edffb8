package provision_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/provision/dbmariadb"
	"github.com/aegirhq/aegir/internal/provision/dbpostgres"
	"github.com/aegirhq/aegir/internal/provision/webnginx"
	"github.com/aegirhq/aegir/internal/testharness"
	"github.com/aegirhq/aegir/secrets"
)

// stack is the real production stack for one lifecycle: nginx with
// php-fpm, and a MariaDB or PostgreSQL server, driven through the Runner.
type stack struct {
	t        testing.TB
	nginx    *testharness.NginxServer
	fpm      *testharness.PHPFPMServer
	root     string // the temp dir of the stack: platforms, data, pool sockets and temp dirs
	dataDir  string
	runner   *provision.Runner
	logs     *syncBuffer
	webSrv   provision.ServerInfo
	webSvc   provision.ServiceInfo
	dbSrv    provision.ServerInfo
	dbSvc    provision.ServiceInfo
	platform map[string]*provision.PlatformInfo
	dbGone   func(name string) bool // the database and its user are gone
	stopDB   func()
	startDB  func()
	domains  map[string]bool            // every domain a task named: their Unix users are removed at cleanup
	maria    *testharness.MariaDBServer // the database server of a MariaDB stack
}

// setupStack starts nginx, php-fpm and the database server of kind, stores
// the database admin credentials in the file secrets store, and copies the
// php-app platform twice.
func setupStack(t testing.TB, kind domain.ServiceKind) *stack {
	t.Helper()
	root, err := os.MkdirTemp("", "aegir-stack-") // t.TempDir paths hold the test name
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	testharness.WebReachable(t, root) // nginx and php-fpm workers run as www-data
	s := &stack{t: t, nginx: testharness.Nginx(t), dataDir: filepath.Join(root, "data"), logs: &syncBuffer{},
		platform: map[string]*provision.PlatformInfo{}, domains: map[string]bool{}}
	t.Cleanup(s.removeSiteUsers)
	fpm := testharness.PHPFPM(t)
	s.fpm, s.root = fpm, root
	for _, d := range []string{"run", "tmp"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}

	s.webSrv = provision.ServerInfo{ID: domain.NewID(), Name: "web1", Address: "127.0.0.1"}
	s.webSvc = provision.ServiceInfo{ID: domain.NewID(), ServerID: s.webSrv.ID, Type: domain.ServiceHTTP, Kind: domain.KindNginx,
		Port: s.nginx.Port, Settings: map[string]string{
			"config_dir":  s.nginx.ConfDir,
			"main_config": s.nginx.MainConfig,
			"pid_file":    s.nginx.PidFile,
			"binary":      s.nginx.Bin,
			"php_fastcgi": "unix:" + fpm.Socket, // sites without their own user (not root)
			// Each PHP site its own pool when the back end runs as root.
			"php_pool_dir":     fpm.PoolDir,
			"php_fpm_config":   fpm.Config,
			"php_fpm_binary":   fpm.Bin,
			"php_fpm_pid_file": fpm.PidFile,
			"php_run_dir":      filepath.Join(root, "run"),
			"php_tmp_dir":      filepath.Join(root, "tmp"),
		}}
	s.dbSrv = provision.ServerInfo{ID: domain.NewID(), Name: "db1", Address: "127.0.0.1"}
	var admin map[string]string
	switch kind {
	case domain.KindMariaDB:
		m := testharness.MariaDB(t)
		s.maria = m
		admin = map[string]string{"username": m.AdminUser, "password": m.AdminPassword}
		s.dbSvc = provision.ServiceInfo{Port: portOf(t, m.Addr)}
		s.stopDB, s.startDB = func() { m.Stop(t) }, func() { m.Start(t) }
		s.dbGone = func(name string) bool {
			return m.Query(t, "SELECT (SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '"+name+
				"') + (SELECT COUNT(*) FROM mysql.user WHERE User = '"+name+"')") == "0"
		}
	case domain.KindPostgreSQL:
		p := testharness.Postgres(t)
		admin = map[string]string{"username": p.AdminUser, "password": p.AdminPassword}
		s.dbSvc = provision.ServiceInfo{Port: portOf(t, p.Addr), Settings: map[string]string{"sslmode": "disable"}}
		s.stopDB, s.startDB = func() { p.Stop(t) }, func() { p.Start(t) }
		s.dbGone = func(name string) bool {
			return p.Query(t, "SELECT (SELECT count(*) FROM pg_database WHERE datname = '"+name+
				"') + (SELECT count(*) FROM pg_roles WHERE rolname = '"+name+"')") == "0"
		}
	default:
		t.Fatalf("no stack for %s", kind)
	}
	s.dbSvc.ID, s.dbSvc.ServerID, s.dbSvc.Type, s.dbSvc.Kind = domain.NewID(), s.dbSrv.ID, domain.ServiceDB, kind

	st, err := secrets.OpenFile(filepath.Join(s.dataDir, "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(context.Background(), secrets.ServiceAdminRef(s.dbSvc.ID), admin); err != nil {
		t.Fatal(err)
	}

	deps := provision.Deps{
		Web: map[domain.ServiceKind]provision.WebFactory{domain.KindNginx: webnginx.Factory},
		DB: map[domain.ServiceKind]provision.DBFactory{
			domain.KindMariaDB:    dbmariadb.Factory,
			domain.KindPostgreSQL: dbpostgres.Factory,
		},
		OpenSecrets: func(env provision.EnvInfo) (secrets.Store, error) {
			return secrets.OpenFile(filepath.Join(env.DataDir, "secrets"))
		},
		Version: "test",
	}
	s.runner = &provision.Runner{Deps: deps, Log: provision.NewLogger(s.logs, provision.NewRedactor(), slog.LevelDebug), CheckTimeout: 10 * time.Second}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("AEGIR_DEBUG_LOG") != "" {
			t.Logf("back-end log:\n%s", s.logs.String())
		}
	})
	for _, name := range []string{"php1", "php2"} {
		dir := filepath.Join(root, "platforms", name)
		copyDir(t, fixture(t, "php-app"), dir)
		s.platform[name] = &provision.PlatformInfo{ID: domain.NewID(), Name: name, Path: dir, Type: domain.PlatformPHP}
	}
	return s
}

func portOf(t testing.TB, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

func (s *stack) ctx(typ domain.TaskType, site *provision.SiteInfo, plat string) *provision.Context {
	s.domains[site.Domain] = true
	return &provision.Context{
		Version:    provision.ContextVersion,
		Task:       provision.TaskInfo{ID: domain.NewID(), Type: typ},
		Site:       site,
		Client:     &provision.ClientInfo{ID: domain.NewID(), Name: "acme"},
		Platform:   s.platform[plat],
		WebServer:  &s.webSrv,
		WebService: &s.webSvc,
		DBServer:   &s.dbSrv,
		DBService:  &s.dbSvc,
		Secrets:    map[string]string{"site_db": secrets.SiteDBRef(site.ID)},
		Env:        provision.EnvInfo{DataDir: s.dataDir, SecretsBackend: "file"},
	}
}

func (s *stack) mustRun(c *provision.Context) provision.Result {
	s.t.Helper()
	if c.Target != nil {
		s.domains[c.Target.Domain] = true
	}
	res := s.runner.Run(context.Background(), c)
	if res.Status != domain.TaskSucceeded {
		s.t.Fatalf("%s %s: %s: %s (%s)", c.Task.Type, c.Site.Domain, res.ErrorCode, res.Explanation, res.FixHint)
	}
	if res.Changes.ReplacedFiles { // as the dispatcher would, next
		xc := *c
		xc.Task = provision.TaskInfo{ID: domain.NewID(), Type: domain.TaskRemoveReplacedFiles, Args: map[string]string{"task_id": c.Task.ID}}
		xc.Backup = nil
		if xr := s.runner.Run(context.Background(), &xc); xr.Status != domain.TaskSucceeded {
			s.t.Fatalf("remove-replaced-files after %s %s: %s: %s", c.Task.Type, c.Site.Domain, xr.ErrorCode, xr.Explanation)
		}
	}
	return res
}

// get asks nginx for path with host as Host, on a fresh connection.
func (s *stack) get(host, path string) (int, string) {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+s.nginx.Addr+path, nil)
	req.Host = host
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// hookRan fails the test unless the php-app's hook log in siteDir holds
// line (bin/hook.php writes one per run).
func (s *stack) hookRan(siteDir, line string) {
	s.t.Helper()
	b, err := os.ReadFile(filepath.Join(siteDir, "files", "hooks.log"))
	if err != nil || !strings.Contains(string(b), line+"\n") {
		s.t.Fatalf("hook log of %s lacks %q: %q, %v", siteDir, line, b, err)
	}
}

var hitsRe = regexp.MustCompile(`path hits: (\d+)`)

// hits requests /probe from the php-app, which records one hit in the
// site's database and prints how many hits /probe has: the runner's own
// checks request other paths, so the count is the test's alone.
func (s *stack) hits(host string) int {
	s.t.Helper()
	code, body := s.get(host, "/probe")
	m := hitsRe.FindStringSubmatch(body)
	if code != 200 || m == nil {
		s.t.Fatalf("%s answered %d %q\nnginx error log:\n%s", host, code, body, s.nginx.ErrorLogTail(10))
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestNginxLifecycle runs the PHP test platform through install → answers
// and counts hits in its database → backup → more hits → restore (count
// back) → disable (503) → enable → clone (data copied) → migrate → delete
// → nothing left, on real nginx + php-fpm, once on MariaDB and once on
// PostgreSQL.
func TestNginxLifecycle(t *testing.T) {
	t.Parallel()
	for _, kind := range []domain.ServiceKind{domain.KindMariaDB, domain.KindPostgreSQL} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			testNginxLifecycle(t, setupStack(t, kind), kind)
		})
	}
}

func testNginxLifecycle(t *testing.T, s *stack, kind domain.ServiceKind) {
	// Domains of their own per database kind: the runs are parallel on one
	// machine, and a site's Unix user is named after its domain.
	z := string(kind) + ".example.com"
	shop, www, cp, shop2 := "shop."+z, "www.shop."+z, "copy."+z, "shop2."+z
	site := &provision.SiteInfo{ID: domain.NewID(), Domain: shop, Aliases: []string{www}, Status: domain.SitePending}

	res := s.mustRun(s.ctx(domain.TaskInstall, site, "php1"))
	if res.Changes.SiteStatus != domain.SiteEnabled {
		t.Fatalf("install proposed %q", res.Changes.SiteStatus)
	}
	site.Status = domain.SiteEnabled
	if os.Geteuid() == 0 && (res.Changes.SiteUser == nil || res.Changes.SiteUser.UID == 0) {
		t.Fatalf("install reported site user %+v", res.Changes.SiteUser)
	}
	s.owned(shop, "php1")
	s.settingsNotServed(shop, "php1")
	first := s.hits(shop)
	if got := s.hits(www); got != first+1 {
		t.Fatalf("alias counted %d after %d", got, first)
	}
	if code, body := s.get(shop, "/hello.txt"); code != 200 || !strings.Contains(body, "php-app platform") {
		t.Fatalf("static file: %d %q", code, body)
	}
	// The manifest's env reaches PHP, its nginx snippet is in the vhost.
	if _, body := s.get(shop, "/greeting"); !strings.Contains(body, "greeting: hello-from-aegir.hcl") {
		t.Fatalf("the manifest's env did not reach PHP: %q", body)
	}
	if code, body := s.get(shop, "/snippet"); code != 200 || body != "php-app nginx snippet\n" {
		t.Fatalf("the platform's nginx snippet is not in the vhost: %d %q", code, body)
	}
	if code, _ := s.get(shop, "/private/secret.txt"); code != 403 {
		t.Fatalf("the snippet's deny rule: /private/ answered %d", code)
	}
	siteDir := func(plat, d string) string { return filepath.Join(s.platform[plat].Path, "sites", d) }

	// stats: the database's size comes from the driver (DBSizer).
	res = s.mustRun(s.ctx(domain.TaskStats, site, "php1"))
	if res.Report == nil || res.Report.Figures["db_bytes"] <= 0 {
		t.Fatalf("stats reported %+v, want db_bytes", res.Report)
	}

	// backup, then more hits, then restore: the count is back.
	res = s.mustRun(s.ctx(domain.TaskBackup, site, "php1"))
	if len(res.Changes.Backups) != 1 {
		t.Fatalf("backups = %+v", res.Changes.Backups)
	}
	bk := res.Changes.Backups[0]
	atBackup := first + 1
	for range 3 {
		s.hits(shop)
	}
	rc := s.ctx(domain.TaskRestore, site, "php1")
	rc.Backup = &provision.BackupInfo{ID: domain.NewID(), Path: bk.Path, SHA256: bk.SHA256, Size: bk.Size}
	s.mustRun(rc)
	s.hookRan(siteDir("php1", shop), "post-restore "+shop+" hello-from-aegir.hcl")
	s.owned(shop, "php1")
	if got := s.hits(shop); got != atBackup+1 {
		t.Fatalf("after restore the site counted %d, want %d (the backup's %d plus this request)", got, atBackup+1, atBackup)
	}
	// verify rewrites the settings: same owner and mode, the site answers.
	s.mustRun(s.ctx(domain.TaskVerify, site, "php1"))
	s.owned(shop, "php1")
	s.hits(shop)

	// disable, enable
	s.mustRun(s.ctx(domain.TaskDisable, site, "php1"))
	site.Status = domain.SiteDisabled
	if code, body := s.get(shop, "/"); code != 503 || !strings.Contains(body, "disabled") {
		t.Fatalf("disabled site answered %d %q", code, body)
	}
	s.mustRun(s.ctx(domain.TaskEnable, site, "php1"))
	site.Status = domain.SiteEnabled
	s.mustRun(s.ctx(domain.TaskVerify, site, "php1"))
	s.hookRan(siteDir("php1", shop), "verify "+shop+" hello-from-aegir.hcl")
	s.owned(shop, "php1")
	before := s.hits(shop)

	// clone to php2: the clone has the data, in its own database.
	cc := s.ctx(domain.TaskClone, site, "php1")
	cc.Target = &provision.TargetInfo{SiteID: domain.NewID(), Domain: cp, Platform: s.platform["php2"],
		WebServer: &s.webSrv, WebService: &s.webSvc, DBServer: &s.dbSrv, DBService: &s.dbSvc}
	res = s.mustRun(cc)
	s.owned(cp, "php2")
	if os.Geteuid() == 0 {
		if len(res.Changes.NewSites) != 1 || res.Changes.NewSites[0].UnixUser == nil {
			t.Fatalf("clone reported %+v", res.Changes.NewSites)
		}
		if src, _ := provision.SiteUserName(shop); res.Changes.NewSites[0].UnixUser.Name == src {
			t.Fatalf("the clone runs as its source's user %s", src)
		}
	}
	clone := &provision.SiteInfo{ID: cc.Target.SiteID, Domain: cp, Status: domain.SiteEnabled}
	s.hookRan(siteDir("php2", cp), "post-clone "+cp+" hello-from-aegir.hcl")
	if got := s.hits(cp); got != before+1 {
		t.Fatalf("clone counted %d, want %d", got, before+1)
	}
	if got := s.hits(shop); got != before+1 {
		t.Fatalf("the clone's hit reached the original: %d", got)
	}

	// migrate the original to php2 under a new domain: data moves along.
	mc := s.ctx(domain.TaskMigrate, site, "php1")
	mc.Target = &provision.TargetInfo{Domain: shop2, Platform: s.platform["php2"],
		WebServer: &s.webSrv, WebService: &s.webSvc, DBServer: &s.dbSrv, DBService: &s.dbSvc}
	res = s.mustRun(mc)
	if res.Changes.Move == nil || res.Changes.Move.Domain != shop2 {
		t.Fatalf("migrate proposed %+v", res.Changes.Move)
	}
	if got := s.hits(shop2); got != before+2 {
		t.Fatalf("migrated site counted %d, want %d", got, before+2)
	}
	s.hookRan(siteDir("php2", shop2), "post-migrate "+shop2+" hello-from-aegir.hcl")
	s.owned(shop2, "php2")
	if old, _ := provision.SiteUserName(shop); userExists(old) {
		t.Errorf("the old domain's Unix user %s is left after migrate", old)
	}
	if code, _ := s.get(shop, "/"); code != 404 {
		t.Fatalf("old domain still answers %d", code)
	}
	site.Domain, site.Aliases = shop2, nil

	// delete both: no vhost, no database, no user, no site dir.
	for _, st := range []*provision.SiteInfo{site, clone} {
		res = s.mustRun(s.ctx(domain.TaskDelete, st, "php2"))
		if !res.Changes.RemoveSite {
			t.Fatalf("delete proposed %+v", res.Changes)
		}
	}
	for _, st := range []*provision.SiteInfo{site, clone} {
		if !strings.Contains(s.logs.String(), "php-app hook pre-delete ran for "+st.Domain) {
			t.Errorf("pre-delete hook did not run for %s", st.Domain)
		}
		if !s.dbGone(provision.NameFor(st.ID)) {
			t.Errorf("database or user of %s left behind", st.Domain)
		}
	}
	ents, _ := os.ReadDir(s.nginx.ConfDir)
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".conf") {
			t.Errorf("vhost left: %s", e.Name())
		}
	}
	pools, _ := os.ReadDir(s.fpm.PoolDir)
	for _, e := range pools {
		t.Errorf("php-fpm pool left: %s", e.Name())
	}
	for _, p := range s.platform {
		sites, _ := os.ReadDir(filepath.Join(p.Path, "sites"))
		for _, e := range sites {
			t.Errorf("left in %s/sites: %s", p.Name, e.Name())
		}
	}
	if code, _ := s.get(shop2, "/"); code != 404 {
		t.Errorf("deleted site answers %d", code)
	}
	for _, d := range []string{shop2, cp} {
		if name, _ := provision.SiteUserName(d); userExists(name) {
			t.Errorf("Unix user %s of %s left after delete", name, d)
		}
	}
}

// TestNginxFailures: a database server that is down fails install with
// db_unreachable and changes nothing; a vhost nginx refuses fails the task
// and the other site keeps answering.
func TestNginxFailures(t *testing.T) {
	t.Parallel()
	s := setupStack(t, domain.KindMariaDB)
	good := &provision.SiteInfo{ID: domain.NewID(), Domain: "good.example.com", Status: domain.SitePending}
	s.mustRun(s.ctx(domain.TaskInstall, good, "php1"))
	good.Status = domain.SiteEnabled
	s.hits("good.example.com")

	t.Run("vhost refused", func(t *testing.T) {
		// A broken file of someone else's makes nginx -t fail for every
		// change: the install fails, leaves nothing, nginx keeps serving.
		broken := filepath.Join(s.nginx.ConfDir, "zz-broken.conf")
		if err := os.WriteFile(broken, []byte("server { listen oops\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(broken)
		bad := &provision.SiteInfo{ID: domain.NewID(), Domain: "bad.example.com", Status: domain.SitePending}
		res := s.runner.Run(context.Background(), s.ctx(domain.TaskInstall, bad, "php1"))
		if res.Status != domain.TaskFailed || !strings.Contains(res.Explanation, "zz-broken.conf") {
			t.Fatalf("install with a broken nginx config: %s %s: %s", res.Status, res.ErrorCode, res.Explanation)
		}
		if _, err := os.Stat(filepath.Join(s.nginx.ConfDir, "bad.example.com.conf")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("refused vhost left: %v", err)
		}
		if _, err := os.Stat(filepath.Join(s.platform["php1"].Path, "sites", "bad.example.com")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("failed install left its site dir: %v", err)
		}
		s.hits("good.example.com")
	})

	t.Run("crafted domain", func(t *testing.T) {
		evil := &provision.SiteInfo{ID: domain.NewID(), Domain: "evil.com;include /etc/shadow", Status: domain.SitePending}
		res := s.runner.Run(context.Background(), s.ctx(domain.TaskInstall, evil, "php1"))
		if res.Status != domain.TaskFailed {
			t.Fatalf("crafted domain installed: %+v", res)
		}
		ents, _ := os.ReadDir(s.nginx.ConfDir)
		for _, e := range ents {
			if e.Name() != "good.example.com.conf" && e.Name() != ".aegir.lock" {
				t.Errorf("config dir holds %s", e.Name())
			}
		}
	})

	t.Run("failing post-clone hook", func(t *testing.T) {
		// bin/hook.php fails when the platform holds fail-<hook>: the
		// clone is removed (vhost, database, files), the source serves.
		marker := filepath.Join(s.platform["php2"].Path, "fail-post-clone")
		if err := os.WriteFile(marker, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(marker)
		cc := s.ctx(domain.TaskClone, good, "php1")
		cc.Target = &provision.TargetInfo{SiteID: domain.NewID(), Domain: "hookclone.example.com", Platform: s.platform["php2"],
			WebServer: &s.webSrv, WebService: &s.webSvc, DBServer: &s.dbSrv, DBService: &s.dbSvc}
		res := s.runner.Run(context.Background(), cc)
		if res.Status != domain.TaskFailed || res.ErrorCode != provision.CodeHookFailed || !strings.Contains(res.Explanation, "post-clone") {
			t.Fatalf("clone with a failing post-clone hook: %s %s: %s", res.Status, res.ErrorCode, res.Explanation)
		}
		if _, err := os.Stat(filepath.Join(s.nginx.ConfDir, "hookclone.example.com.conf")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("the failed clone's vhost is left: %v", err)
		}
		if _, err := os.Stat(filepath.Join(s.platform["php2"].Path, "sites", "hookclone.example.com")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("the failed clone's directory is left: %v", err)
		}
		if !s.dbGone(provision.NameFor(cc.Target.SiteID)) {
			t.Fatal("the failed clone's database is left")
		}
		s.hits("good.example.com")
	})

	t.Run("expect text missing", func(t *testing.T) {
		// A platform whose expect text the application never prints: the
		// install fails with site_wrong_answer and the page's start, and
		// is rolled back.
		dir := filepath.Join(filepath.Dir(s.platform["php1"].Path), "php-expect")
		copyDir(t, fixture(t, "php-app"), dir)
		hcl, err := os.ReadFile(filepath.Join(dir, "aegir.hcl"))
		if err != nil {
			t.Fatal(err)
		}
		hcl = []byte(strings.Replace(string(hcl), `text = "php-app site"`, `text = "Welcome to the wiki"`, 1))
		if err := os.WriteFile(filepath.Join(dir, "aegir.hcl"), hcl, 0o644); err != nil {
			t.Fatal(err)
		}
		s.platform["expect"] = &provision.PlatformInfo{ID: domain.NewID(), Name: "expect", Path: dir, Type: domain.PlatformPHP}
		defer delete(s.platform, "expect")
		site := &provision.SiteInfo{ID: domain.NewID(), Domain: "expect.example.com", Status: domain.SitePending}
		res := s.runner.Run(context.Background(), s.ctx(domain.TaskInstall, site, "expect"))
		if res.Status != domain.TaskFailed || res.ErrorCode != provision.CodeSiteWrongAnswer ||
			!strings.Contains(res.Explanation, "Welcome to the wiki") || !strings.Contains(res.Explanation, "php-app site") {
			t.Fatalf("install whose page lacks the expect text: %s %s: %s", res.Status, res.ErrorCode, res.Explanation)
		}
		if _, err := os.Stat(filepath.Join(s.nginx.ConfDir, "expect.example.com.conf")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("the failed install's vhost is left: %v", err)
		}
		if !s.dbGone(provision.NameFor(site.ID)) {
			t.Fatal("the failed install's database is left")
		}
	})

	t.Run("foreign unix user", func(t *testing.T) {
		// A user of the name derived from the domain that aegir did not
		// make: install refuses to take it over and changes nothing.
		testharness.RequireRoot(t, "making site users (the back end does so only as root)")
		dom := "taken.example.com"
		name, err := provision.SiteUserName(dom)
		if err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", "--comment", "someone else", name).CombinedOutput(); err != nil {
			t.Fatalf("useradd: %v\n%s", err, out)
		}
		t.Cleanup(func() { _ = exec.Command("userdel", name).Run(); _ = exec.Command("groupdel", name).Run() })
		site := &provision.SiteInfo{ID: domain.NewID(), Domain: dom, Status: domain.SitePending}
		res := s.runner.Run(context.Background(), s.ctx(domain.TaskInstall, site, "php1"))
		if res.Status != domain.TaskFailed || res.ErrorCode != provision.CodeSiteUserFailed || !strings.Contains(res.Explanation, name) {
			t.Fatalf("install over a foreign user: %s %s: %s", res.Status, res.ErrorCode, res.Explanation)
		}
		if u, err := user.Lookup(name); err != nil || u.Name != "someone else" {
			t.Fatalf("the foreign user was changed: %+v %v", u, err)
		}
		if _, err := os.Stat(filepath.Join(s.platform["php1"].Path, "sites", dom)); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("refused install left its site dir: %v", err)
		}
		if !s.dbGone(provision.NameFor(site.ID)) {
			t.Fatal("refused install left a database")
		}
	})

	t.Run("database down", func(t *testing.T) {
		s.stopDB()
		site := &provision.SiteInfo{ID: domain.NewID(), Domain: "nodb.example.com", Status: domain.SitePending}
		res := s.runner.Run(context.Background(), s.ctx(domain.TaskInstall, site, "php1"))
		s.startDB()
		if res.Status != domain.TaskFailed || res.ErrorCode != provision.CodeDBUnreachable {
			t.Fatalf("install with the database down: %s %s: %s", res.Status, res.ErrorCode, res.Explanation)
		}
		if res.Explanation == "" || res.FixHint == "" {
			t.Fatalf("failure without explanation or hint: %+v", res)
		}
		if _, err := os.Stat(filepath.Join(s.nginx.ConfDir, "nodb.example.com.conf")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("vhost written for a failed install: %v", err)
		}
		if _, err := os.Stat(filepath.Join(s.platform["php1"].Path, "sites", "nodb.example.com")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("failed install left its site dir: %v", err)
		}
		if !s.dbGone(provision.NameFor(site.ID)) {
			t.Fatal("failed install left a database")
		}
		s.hits("good.example.com")
	})
}

// removeSiteUsers removes the Unix users aegir made for the stack's
// domains that a failed test left behind.
func (s *stack) removeSiteUsers() {
	for d := range s.domains {
		name, err := provision.SiteUserName(d)
		if err != nil {
			continue
		}
		if u, err := user.Lookup(name); err == nil && u.Name == "aegir site "+d {
			_ = exec.Command("userdel", name).Run()
			_ = exec.Command("groupdel", name).Run()
		}
	}
}

// owned checks, when the test runs as root, that the site's own Unix user
// owns its directory and settings file, that the web group (www-data) is
// their group, and that the settings are 0640: after every task.
func (s *stack) owned(dom, plat string) {
	s.t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	name, err := provision.SiteUserName(dom)
	if err != nil {
		s.t.Fatal(err)
	}
	u, err := user.Lookup(name)
	if err != nil {
		s.t.Fatalf("%s has no Unix user %s: %v", dom, name, err)
	}
	g, err := user.LookupGroup(testharness.WebUser)
	if err != nil {
		s.t.Fatal(err)
	}
	dir := filepath.Join(s.platform[plat].Path, "sites", dom)
	for _, p := range []string{dir, filepath.Join(dir, "files"), filepath.Join(dir, "settings.json")} {
		fi, err := os.Lstat(p)
		if err != nil {
			s.t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if strconv.Itoa(int(st.Uid)) != u.Uid || strconv.Itoa(int(st.Gid)) != g.Gid {
			s.t.Errorf("%s is %d:%d, want %s:%s (%s:%s)", p, st.Uid, st.Gid, u.Uid, g.Gid, name, testharness.WebUser)
		}
		// The stack's sites have their own pools: nothing of the web
		// group's writes into a site, so files/ is not group-writable.
		want := map[string]os.FileMode{"settings.json": 0o640, "files": 0o750 | os.ModeSetgid, dom: 0o750}[filepath.Base(p)]
		if got := fi.Mode() & (os.ModePerm | os.ModeSetgid); got != want {
			s.t.Errorf("%s has mode %v, want %v", p, got, want)
		}
	}
}

// settingsNotServed asks nginx for the site's settings file every way a
// client might and checks no answer holds its content.
func (s *stack) settingsNotServed(dom, plat string) {
	s.t.Helper()
	file := filepath.Join(s.platform[plat].Path, "sites", dom, "settings.json")
	b, err := os.ReadFile(file)
	if err != nil {
		s.t.Fatal(err)
	}
	rel := "sites/" + dom + "/settings.json"
	for _, p := range []string{"/" + rel, "/../" + rel, "//" + rel, "/public/../" + rel, "/index.php/../../" + rel, "/%2e%2e/" + rel} {
		code, body := s.get(dom, p)
		if strings.Contains(body, strings.TrimSpace(string(b))) || strings.Contains(body, `"password"`) {
			s.t.Errorf("GET %s answered %d with the settings", p, code)
		}
	}
}

func userExists(name string) bool {
	_, err := user.Lookup(name)
	return err == nil
}
