package provision_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	vault "github.com/hashicorp/vault/api"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/provision/dbmariadb"
	"github.com/aegirhq/aegir/internal/provision/dbpostgres"
	"github.com/aegirhq/aegir/internal/testharness"
	"github.com/aegirhq/aegir/secrets"
)

// vaultStack is the back end with Vault as its secrets backend (under the
// aegir-backend policy of ops/vault/) and a real MariaDB or PostgreSQL.
type vaultStack struct {
	*bundle
	vault   *testharness.VaultServer
	root    *vault.Client
	kind    domain.ServiceKind
	dbHost  string
	dbPort  int
	query   func(t testing.TB, sql string) string
	backend string // the aegir-backend token

	mu     sync.Mutex
	stores []*secrets.VaultStore
	// hide, when set, makes OpenSecrets hide the store's throwaway users
	// (static admin credentials for dumps), for the benchmark's baseline.
	hide bool
	// wrap, when set, wraps the store (fault injection).
	wrap func(*secrets.VaultStore) secrets.Store
}

func setupVaultStack(t testing.TB, kind domain.ServiceKind) *vaultStack {
	t.Helper()
	s := &vaultStack{bundle: setup(t), kind: kind, vault: testharness.Vault(t)}
	cfg := vault.DefaultConfig()
	cfg.Address = s.vault.Addr
	root, err := vault.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	root.SetToken(s.vault.RootToken)
	s.root = root
	if err := root.Sys().Mount("database", &vault.MountInput{Type: "database"}); err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{}
	for _, p := range []string{"aegir-backend", "aegir-dashboard"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "ops", "vault", p+".hcl"))
		if err != nil {
			t.Fatal(err)
		}
		if err := root.Sys().PutPolicy(p, string(b)); err != nil {
			t.Fatal(err)
		}
		tok, err := root.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{p}, TTL: "1h"})
		if err != nil {
			t.Fatal(err)
		}
		tokens[p] = tok.Auth.ClientToken
	}
	s.backend = tokens["aegir-backend"]

	var admin map[string]string
	settings := map[string]string{}
	switch kind {
	case domain.KindMariaDB:
		m := testharness.MariaDB(t)
		s.dbHost, s.dbPort = hostPort(t, m.Addr)
		admin = map[string]string{"username": m.AdminUser, "password": m.AdminPassword}
		s.query = m.Query
	case domain.KindPostgreSQL:
		p := testharness.Postgres(t)
		s.dbHost, s.dbPort = hostPort(t, p.Addr)
		admin = map[string]string{"username": p.AdminUser, "password": p.AdminPassword}
		s.query = p.Query
		settings["sslmode"] = "disable"
	}
	settings["host"] = s.dbHost
	s.dbSvc = provision.ServiceInfo{ID: domain.NewID(), ServerID: s.dbSrv.ID, Type: domain.ServiceDB, Kind: kind, Port: s.dbPort, Settings: settings}

	// The operator stores the admin credentials through the dashboard,
	// whose policy can write but not read them.
	dash, err := secrets.NewVault(secrets.VaultConfig{Addr: s.vault.Addr, Token: tokens["aegir-dashboard"]})
	if err != nil {
		t.Fatal(err)
	}
	defer dash.Close()
	if err := dash.Put(context.Background(), secrets.ServiceAdminRef(s.dbSvc.ID), admin); err != nil {
		t.Fatal(err)
	}

	s.deps.DB[domain.KindMariaDB] = dbmariadb.Factory
	s.deps.DB[domain.KindPostgreSQL] = dbpostgres.Factory
	s.deps.OpenSecrets = s.openSecrets
	s.runner.Deps = s.deps
	t.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, st := range s.stores {
			st.Close()
		}
	})
	return s
}

// openSecrets is what the lead wires for SecretsBackend "vault", with the
// backend token given directly instead of through VAULT_TOKEN.
func (s *vaultStack) openSecrets(env provision.EnvInfo) (secrets.Store, error) {
	if env.SecretsBackend != "vault" {
		return nil, fmt.Errorf("test context names secrets backend %q", env.SecretsBackend)
	}
	st, err := secrets.NewVault(secrets.VaultConfig{Addr: env.VaultAddr, Mount: env.VaultMount, Prefix: env.VaultPrefix, Token: s.backend})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.stores = append(s.stores, st)
	hide, wrap := s.hide, s.wrap
	s.mu.Unlock()
	switch {
	case wrap != nil:
		return wrap(st), nil
	case hide:
		return struct{ secrets.Store }{st}, nil
	}
	return st, nil
}

func hostPort(t testing.TB, addr string) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return h, n
}

func (s *vaultStack) vctx(typ domain.TaskType, site *provision.SiteInfo) *provision.Context {
	c := s.ctx(typ, site, "static1")
	c.Env.SecretsBackend = "vault"
	c.Env.VaultAddr = s.vault.Addr
	c.Env.VaultMount = "secret"
	c.Env.VaultPrefix = "aegir"
	c.Secrets["db_admin"] = secrets.ServiceAdminRef(s.dbSvc.ID)
	return c
}

func (s *vaultStack) install(t testing.TB, name string) (*provision.SiteInfo, provision.Result, *provision.Context) {
	t.Helper()
	site := s.newSite(name)
	c := s.vctx(domain.TaskInstall, site)
	res := s.mustRun(c)
	site.Status = domain.SiteEnabled
	return site, res, c
}

// sitePassword reads the site's password from Vault as root.
func (s *vaultStack) sitePassword(t testing.TB, siteID string) string {
	t.Helper()
	kv, err := s.root.KVv2("secret").Get(context.Background(), "aegir/"+secrets.SiteDBRef(siteID))
	if err != nil {
		t.Fatalf("site secret in Vault: %v", err)
	}
	pw, _ := kv.Data["password"].(string)
	if pw == "" {
		t.Fatal("site secret has no password")
	}
	return pw
}

// login connects as user to database and reports the error, if any.
func (s *vaultStack) login(t testing.TB, user, password, database string) error {
	t.Helper()
	var db *sql.DB
	if s.kind == domain.KindMariaDB {
		mc := mysql.NewConfig()
		mc.User, mc.Passwd, mc.DBName = user, password, database
		mc.Net, mc.Addr = "tcp", net.JoinHostPort(s.dbHost, strconv.Itoa(s.dbPort))
		mc.Timeout = 5 * time.Second
		conn, err := mysql.NewConnector(mc)
		if err != nil {
			t.Fatal(err)
		}
		db = sql.OpenDB(conn)
	} else {
		u := url.URL{Scheme: "postgres", User: url.UserPassword(user, password), Host: net.JoinHostPort(s.dbHost, strconv.Itoa(s.dbPort)),
			Path: "/" + database, RawQuery: "sslmode=disable&connect_timeout=5"}
		var err error
		if db, err = sql.Open("pgx", u.String()); err != nil {
			t.Fatal(err)
		}
	}
	defer db.Close()
	return db.PingContext(context.Background())
}

// throwawayUsers counts the users on the server whose name starts "t-".
func (s *vaultStack) throwawayUsers(t testing.TB) int {
	t.Helper()
	q := `SELECT count(*) FROM mysql.user WHERE user LIKE 't-%'`
	if s.kind == domain.KindPostgreSQL {
		q = `SELECT count(*) FROM pg_roles WHERE rolname LIKE 't-%'`
	}
	n, err := strconv.Atoi(s.query(t, q))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// assertNowhere fails when secret appears in the result, the task log,
// the context or any file under dirs other than allowed.
func (s *vaultStack) assertNowhere(t testing.TB, secret string, res provision.Result, c *provision.Context, allowed map[string]bool, dirs ...string) {
	t.Helper()
	rj, _ := json.Marshal(res)
	cj, _ := json.Marshal(c)
	for what, text := range map[string]string{"result": string(rj), "task log": s.logs.String(), "context": string(cj)} {
		if strings.Contains(text, secret) {
			t.Errorf("the site's database password is in the %s", what)
		}
	}
	for _, dir := range dirs {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || allowed[p] {
				return nil
			}
			if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), secret) {
				t.Errorf("the site's database password is in %s", p)
			}
			return nil
		})
	}
}

func TestVaultSiteLifecycle(t *testing.T) {
	t.Parallel()
	for _, kind := range []domain.ServiceKind{domain.KindMariaDB, domain.KindPostgreSQL} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			s := setupVaultStack(t, kind)
			site, res, c := s.install(t, "vault.example.com")

			// Install: the password is in Vault and works; it is nowhere
			// else aegir writes: not in the result (what the dispatcher
			// stores), the log, the context, the data dir or the platform.
			pw := s.sitePassword(t, site.ID)
			if err := s.login(t, provision.NameFor(site.ID), pw, provision.NameFor(site.ID)); err != nil {
				t.Fatalf("the site's user does not log in with the password in Vault: %v", err)
			}
			s.assertNowhere(t, pw, res, c, nil, s.dataDir, s.platform["static1"].Path)
			if _, err := os.Stat(filepath.Join(s.dataDir, "secrets")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the file secrets store was created: %v", err)
			}

			// Backup runs as a throwaway user named after the task, which
			// is gone when the task ends.
			bc := s.vctx(domain.TaskBackup, site)
			res = s.mustRun(bc)
			if !strings.Contains(s.logs.String(), `"user":"t-`+bc.Task.ID+`-`) {
				t.Errorf("the log does not name the throwaway user of task %s", bc.Task.ID)
			}
			if n := s.throwawayUsers(t); n != 0 {
				t.Fatalf("%d throwaway users left after the backup", n)
			}
			if len(res.Changes.Backups) != 1 {
				t.Fatalf("backup result: %+v", res.Changes)
			}

			// Rotation: a new password in Vault, the database and (for
			// platforms that have one) the settings file; the old one no
			// longer logs in; the site keeps answering.
			rc := s.vctx(domain.TaskRotateCredentials, site)
			res = s.mustRun(rc)
			pw2 := s.sitePassword(t, site.ID)
			if pw2 == pw {
				t.Fatal("rotate-credentials left the password unchanged in Vault")
			}
			if err := s.login(t, provision.NameFor(site.ID), pw2, provision.NameFor(site.ID)); err != nil {
				t.Fatalf("the new password does not log in: %v", err)
			}
			if err := s.login(t, provision.NameFor(site.ID), pw, provision.NameFor(site.ID)); err == nil {
				t.Fatal("the old password still logs in after rotation")
			}
			if code, _ := s.get(site.Domain, "/"); code != 200 {
				t.Fatalf("after rotation the site answers %d", code)
			}
			s.assertNowhere(t, pw2, res, rc, nil, s.dataDir)

			// Clone copies the database with a throwaway user too.
			cc := s.vctx(domain.TaskClone, site)
			s.target(cc, "clone.example.com", "static1")
			s.mustRun(cc)
			if n := s.throwawayUsers(t); n != 0 {
				t.Fatalf("%d throwaway users left after the clone", n)
			}
			if code, _ := s.get("clone.example.com", "/"); code != 200 {
				t.Fatalf("the clone answers %d", code)
			}

			// Delete takes a final backup (throwaway user again) and
			// removes the site's secret and its Vault role.
			s.mustRun(s.vctx(domain.TaskDelete, site))
			if n := s.throwawayUsers(t); n != 0 {
				t.Fatalf("%d throwaway users left after the delete", n)
			}
			if _, err := s.root.KVv2("secret").Get(context.Background(), "aegir/"+secrets.SiteDBRef(site.ID)); err == nil {
				t.Error("the deleted site's secret is still in Vault")
			}
			if r, err := s.root.Logical().Read("database/roles/" + secrets.SiteRoleName(site.ID)); err != nil || r != nil {
				t.Errorf("the deleted site's Vault role is still there: %v %v", r, err)
			}
		})
	}
}

// A backup that fails after the throwaway user was leased still revokes it.
func TestVaultFailedBackupRevokesUser(t *testing.T) {
	t.Parallel()
	s := setupVaultStack(t, domain.KindMariaDB)
	site, _, _ := s.install(t, "fail.example.com")
	// The dump fails: the site's database is gone.
	s.query(t, "DROP DATABASE `"+provision.NameFor(site.ID)+"`")
	res := s.run(s.vctx(domain.TaskBackup, site))
	if res.Status != domain.TaskFailed || res.ErrorCode != provision.CodeDBFailed {
		t.Fatalf("backup of a dropped database: %s %s: %s", res.Status, res.ErrorCode, res.Explanation)
	}
	if !strings.Contains(s.logs.String(), "throwaway database user revoked") {
		t.Error("the log does not say the throwaway user was revoked")
	}
	if n := s.throwawayUsers(t); n != 0 {
		t.Fatalf("%d throwaway users left after the failed backup", n)
	}
}

// FakeSealingIssuer seals Vault just before the throwaway user is leased:
// Vault sealed in the middle of a task, after the admin credentials were
// read.
type FakeSealingIssuer struct {
	*secrets.VaultStore
	seal func()
}

func (f FakeSealingIssuer) DynamicCredsForTask(ctx context.Context, role, taskID string, ttl time.Duration) (string, string, string, error) {
	f.seal()
	return f.VaultStore.DynamicCredsForTask(ctx, role, taskID, ttl)
}

func TestVaultSealedMidTask(t *testing.T) {
	t.Parallel()
	s := setupVaultStack(t, domain.KindMariaDB)
	site, _, _ := s.install(t, "sealed.example.com")
	want := "Vault at " + s.vault.Addr + " is sealed; unseal it (vault operator unseal) and retry the task"

	// Sealed before the task starts: the secrets backend cannot be opened.
	s.vault.Seal(t)
	res := s.run(s.vctx(domain.TaskBackup, site))
	if res.Status != domain.TaskFailed || res.ErrorCode != provision.CodeSecretsUnavailable ||
		!strings.Contains(res.Explanation, want) || !strings.Contains(res.FixHint, "Unseal Vault") {
		t.Fatalf("backup with Vault sealed: %s %s: %s (%s)", res.Status, res.ErrorCode, res.Explanation, res.FixHint)
	}
	s.vault.Unseal(t)

	// Sealed mid-task: after the admin credentials were read.
	s.mu.Lock()
	s.wrap = func(st *secrets.VaultStore) secrets.Store {
		return FakeSealingIssuer{VaultStore: st, seal: func() { s.vault.Seal(t) }}
	}
	s.mu.Unlock()
	res = s.run(s.vctx(domain.TaskBackup, site))
	if res.Status != domain.TaskFailed || res.ErrorCode != provision.CodeSecretsUnavailable {
		t.Fatalf("backup with Vault sealed mid-task: %s %s: %s", res.Status, res.ErrorCode, res.Explanation)
	}
	if !strings.Contains(res.Explanation, want) {
		t.Errorf("explanation %q\nlacks %q", res.Explanation, want)
	}
	if !strings.Contains(res.FixHint, "Unseal Vault") {
		t.Errorf("fix hint %q", res.FixHint)
	}
	// Nothing half done: no archive, no throwaway user.
	if entries, _ := filepath.Glob(filepath.Join(s.dataDir, "backups", site.Domain, "*")); len(entries) != 0 {
		t.Errorf("files left in the backup dir: %v", entries)
	}
	if n := s.throwawayUsers(t); n != 0 {
		t.Errorf("%d throwaway users left", n)
	}
	s.vault.Unseal(t)
}

// A rotation whose last step fails (the site stops answering) puts the
// old password back everywhere: it still logs in and Vault holds it.
func TestVaultRotationFailureKeepsOldPassword(t *testing.T) {
	t.Parallel()
	s := setupVaultStack(t, domain.KindMariaDB)
	site, _, _ := s.install(t, "rotfail.example.com")
	pw := s.sitePassword(t, site.ID)
	s.runner.CheckTimeout = time.Second
	siteDir := filepath.Join(s.platform["static1"].Path, "sites", site.Domain)
	if err := os.RemoveAll(filepath.Join(siteDir, "public")); err != nil {
		t.Fatal(err)
	}
	res := s.run(s.vctx(domain.TaskRotateCredentials, site))
	if res.Status != domain.TaskFailed {
		t.Fatalf("rotation of a site that does not answer succeeded: %s", res.Summary)
	}
	if got := s.sitePassword(t, site.ID); got != pw {
		t.Error("Vault does not hold the old password after the failed rotation")
	}
	if err := s.login(t, provision.NameFor(site.ID), pw, provision.NameFor(site.ID)); err != nil {
		t.Errorf("the old password no longer logs in after the failed rotation: %v", err)
	}
}

// FakeCancellingIssuer cancels the task (as SIGTERM does through Main's
// context) right after the throwaway user is leased.
type FakeCancellingIssuer struct {
	*secrets.VaultStore
	cancel context.CancelFunc
}

func (f FakeCancellingIssuer) DynamicCredsForTask(ctx context.Context, role, taskID string, ttl time.Duration) (string, string, string, error) {
	u, p, l, err := f.VaultStore.DynamicCredsForTask(ctx, role, taskID, ttl)
	f.cancel()
	return u, p, l, err
}

// A task cancelled while it holds a throwaway user (SIGTERM, timeout)
// still revokes it on the way out.
func TestVaultCancelledBackupRevokesUser(t *testing.T) {
	t.Parallel()
	s := setupVaultStack(t, domain.KindPostgreSQL)
	site, _, _ := s.install(t, "cancel.example.com")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.mu.Lock()
	s.wrap = func(st *secrets.VaultStore) secrets.Store {
		return FakeCancellingIssuer{VaultStore: st, cancel: cancel}
	}
	s.mu.Unlock()
	res := s.runner.Run(ctx, s.vctx(domain.TaskBackup, site))
	if res.Status != domain.TaskFailed || res.ErrorCode != provision.CodeCancelled {
		t.Fatalf("cancelled backup: %s %s: %s", res.Status, res.ErrorCode, res.Explanation)
	}
	if n := s.throwawayUsers(t); n != 0 {
		t.Fatalf("%d throwaway users left after the cancelled backup", n)
	}
}
