package provision_test

import (
	"context"
	"database/sql"
	"github.com/aegirhq/aegir/internal/testharness"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/builtinweb"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/provision/archive"
	"github.com/aegirhq/aegir/internal/provision/dbsqlite"
	"github.com/aegirhq/aegir/secrets"
)

// bundle is what a back-end test needs: a data dir, platforms copied from
// testdata, and the real embedded services: the builtin web server (its
// driver writes route files the server picks up), the sqlite driver and
// the file secrets store.
type bundle struct {
	t        testing.TB
	dataDir  string
	deps     provision.Deps
	runner   *provision.Runner
	web      *builtinweb.Server
	webURL   string
	webSrv   provision.ServerInfo
	webSvc   provision.ServiceInfo
	dbSrv    provision.ServerInfo
	dbSvc    provision.ServiceInfo
	platform map[string]*provision.PlatformInfo
	logs     *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func setup(t testing.TB) *bundle {
	t.Helper()
	root := t.TempDir()
	b := &bundle{t: t, dataDir: filepath.Join(root, "data"), platform: map[string]*provision.PlatformInfo{}, logs: &syncBuffer{}}
	if err := os.MkdirAll(b.dataDir, 0o750); err != nil {
		t.Fatal(err)
	}
	web, err := builtinweb.New(builtinweb.Config{RoutesDir: builtinweb.RoutesDir(b.dataDir)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = web.Serve(ln) }()
	t.Cleanup(func() { _ = web.Shutdown(context.Background()) })
	b.web, b.webURL = web, "http://"+ln.Addr().String()
	b.deps = provision.Deps{
		Web: map[domain.ServiceKind]provision.WebFactory{domain.KindBuiltin: builtinweb.NewDriverFactory},
		DB:  map[domain.ServiceKind]provision.DBFactory{domain.KindSQLite: dbsqlite.New},
		OpenSecrets: func(env provision.EnvInfo) (secrets.Store, error) {
			return secrets.OpenFile(filepath.Join(env.DataDir, "secrets"))
		},
		Version: "test",
	}
	b.runner = &provision.Runner{Deps: b.deps, Log: provision.NewLogger(b.logs, provision.NewRedactor(), slog.LevelDebug), CheckTimeout: 5 * time.Second}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("back-end log:\n%s", b.logs.String())
		}
	})
	b.webSrv = provision.ServerInfo{ID: domain.NewID(), Name: "web1", Address: "127.0.0.1"}
	b.webSvc = provision.ServiceInfo{ID: domain.NewID(), ServerID: b.webSrv.ID, Type: domain.ServiceHTTP, Kind: domain.KindBuiltin,
		Port: ln.Addr().(*net.TCPAddr).Port}
	b.dbSrv = b.webSrv
	b.dbSvc = provision.ServiceInfo{ID: domain.NewID(), ServerID: b.dbSrv.ID, Type: domain.ServiceDB, Kind: domain.KindSQLite}
	for _, name := range []string{"static1", "static2"} {
		dir := filepath.Join(root, "platforms", name)
		copyDir(t, fixture(t, "static"), dir)
		b.platform[name] = &provision.PlatformInfo{ID: domain.NewID(), Name: name, Path: dir, Type: domain.PlatformStatic}
	}
	return b
}

func fixture(t testing.TB, name string) string {
	t.Helper()
	p, err := filepath.Abs(testharness.PlatformFixture(name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func copyDir(t testing.TB, src, dst string) {
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
	if err != nil {
		t.Fatal(err)
	}
}

func (b *bundle) newSite(domainName string, aliases ...string) *provision.SiteInfo {
	return &provision.SiteInfo{ID: domain.NewID(), Domain: domainName, Aliases: aliases, Status: domain.SitePending}
}

// ctx builds a site task's context the way the dispatcher would.
func (b *bundle) ctx(typ domain.TaskType, site *provision.SiteInfo, plat string) *provision.Context {
	return &provision.Context{
		Version:    provision.ContextVersion,
		Task:       provision.TaskInfo{ID: domain.NewID(), Type: typ},
		Site:       site,
		Client:     &provision.ClientInfo{ID: domain.NewID(), Name: "acme"},
		Platform:   b.platform[plat],
		WebServer:  &b.webSrv,
		WebService: &b.webSvc,
		DBServer:   &b.dbSrv,
		DBService:  &b.dbSvc,
		Secrets:    map[string]string{"site_db": secrets.SiteDBRef(site.ID)},
		Env:        provision.EnvInfo{DataDir: b.dataDir, SecretsBackend: "file", ArchiveFormat: archive.FormatVersion},
	}
}

func (b *bundle) platformCtx(typ domain.TaskType, plat string) *provision.Context {
	return &provision.Context{
		Version:  provision.ContextVersion,
		Task:     provision.TaskInfo{ID: domain.NewID(), Type: typ},
		Platform: b.platform[plat],
		DBServer: &b.dbSrv,
		Env:      provision.EnvInfo{DataDir: b.dataDir, SecretsBackend: "file"},
	}
}

func (b *bundle) target(c *provision.Context, domainName, plat string) {
	c.Target = &provision.TargetInfo{SiteID: domain.NewID(), Domain: domainName, Platform: b.platform[plat],
		WebServer: &b.webSrv, WebService: &b.webSvc, DBServer: &b.dbSrv, DBService: &b.dbSvc}
}

func (b *bundle) run(c *provision.Context) provision.Result {
	b.t.Helper()
	return b.runner.Run(context.Background(), c)
}

// installed is a new site of domainName installed on platform plat.
func (b *bundle) installed(domainName, plat string) *provision.SiteInfo {
	b.t.Helper()
	site := b.newSite(domainName)
	b.mustRun(b.ctx(domain.TaskInstall, site, plat))
	site.Status = domain.SiteEnabled
	return site
}

// mustRun runs a task that must succeed and, as the dispatcher would,
// the remove-replaced-files its result asks for.
func (b *bundle) mustRun(c *provision.Context) provision.Result {
	b.t.Helper()
	res := b.run(c)
	if res.Status != domain.TaskSucceeded {
		b.t.Fatalf("%s %s: %s: %s (%s)", c.Task.Type, c.Site.Domain, res.ErrorCode, res.Explanation, res.FixHint)
	}
	if res.Changes.ReplacedFiles {
		xc := *c
		xc.Task = provision.TaskInfo{ID: domain.NewID(), Type: domain.TaskRemoveReplacedFiles, Args: map[string]string{"task_id": c.Task.ID}}
		xc.Backup = nil
		if xr := b.run(&xc); xr.Status != domain.TaskSucceeded {
			b.t.Fatalf("remove-replaced-files after %s %s: %s: %s", c.Task.Type, c.Site.Domain, xr.ErrorCode, xr.Explanation)
		}
	}
	return res
}

// get fetches path from the web server with host as Host.
func (b *bundle) get(host, path string) (int, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.webURL+path, nil)
	req.Host = host
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (b *bundle) sqlitePath(siteID string) string {
	return filepath.Join(b.dataDir, "sqlite", provision.NameFor(siteID)+".db")
}

// exec runs SQL on a site's sqlite database.
func (b *bundle) exec(siteID string, stmts ...string) {
	b.t.Helper()
	db, err := sql.Open("sqlite", b.sqlitePath(siteID))
	if err != nil {
		b.t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			b.t.Fatalf("%s: %v", s, err)
		}
	}
}

func (b *bundle) count(siteID, table string) int64 {
	b.t.Helper()
	d, err := dbsqlite.Open(filepath.Join(b.dataDir, "sqlite"), nil)
	if err != nil {
		b.t.Fatal(err)
	}
	n, err := d.Count(context.Background(), d.Locate(provision.NameFor(siteID)), table)
	if err != nil {
		b.t.Fatalf("count %s: %v", table, err)
	}
	return n
}
