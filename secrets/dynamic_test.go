package secrets_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/provision/dbmariadb"
	"github.com/aegirhq/aegir/internal/provision/dbpostgres"
	"github.com/aegirhq/aegir/internal/servicekind"
	"github.com/aegirhq/aegir/internal/testharness"
	"github.com/aegirhq/aegir/secrets"
)

// dbServer is one real database server with two sites on it, set up for
// throwaway users through the backend store.
type dbServer struct {
	kind         string
	host         string
	port         int
	svcID        string
	admin        map[string]string
	factory      provision.DBFactory
	siteA, siteB string
	rootQuery    func(t testing.TB, sql string) string
}

func splitHostPort(t testing.TB, addr string) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(p)
	return h, port
}

func setupDB(t testing.TB, kind string) *dbServer {
	t.Helper()
	s := &dbServer{kind: kind, svcID: domain.NewID(), siteA: domain.NewID(), siteB: domain.NewID()}
	switch kind {
	case "mariadb":
		m := testharness.MariaDB(t)
		s.host, s.port = splitHostPort(t, m.Addr)
		s.admin = map[string]string{"username": m.AdminUser, "password": m.AdminPassword}
		s.factory = dbmariadb.Factory
		s.rootQuery = m.Query
	case "postgresql":
		p := testharness.Postgres(t)
		s.host, s.port = splitHostPort(t, p.Addr)
		s.admin = map[string]string{"username": p.AdminUser, "password": p.AdminPassword}
		s.factory = dbpostgres.Factory
		s.rootQuery = p.Query
	}
	d := s.driver(t, s.admin)
	ctx := context.Background()
	for _, id := range []string{s.siteA, s.siteB} {
		c := d.Locate(provision.NameFor(id))
		c.Password = "site-pw-" + domain.NewID()
		if err := d.Create(ctx, c); err != nil {
			t.Fatal(err)
		}
		// A table with a row, created as the site's own user.
		site := s.connect(t, c.User, c.Password, c.Name)
		if _, err := site.ExecContext(ctx, "CREATE TABLE pages (id int primary key, title varchar(50))"); err != nil {
			t.Fatal(err)
		}
		if _, err := site.ExecContext(ctx, "INSERT INTO pages VALUES (1, 'hello "+id+"')"); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func (s *dbServer) driver(t testing.TB, creds map[string]string) provision.DBDriver {
	t.Helper()
	d, err := s.factory(provision.ServiceInfo{ID: s.svcID, Type: domain.ServiceDB, Kind: domain.ServiceKind(s.kind), Port: s.port,
		Settings: map[string]string{"sslmode": "disable"}},
		provision.ServerInfo{ID: s.svcID, Name: "db", Address: s.host}, creds, provision.EnvInfo{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// connect opens a connection as user to database (it is used, so a
// refused login shows at the first query).
func (s *dbServer) connect(t testing.TB, user, password, database string) *sql.DB {
	t.Helper()
	var db *sql.DB
	if s.kind == "mariadb" {
		mc := mysql.NewConfig()
		mc.User, mc.Passwd, mc.DBName = user, password, database
		mc.Net, mc.Addr = "tcp", net.JoinHostPort(s.host, strconv.Itoa(s.port))
		mc.Timeout = 5 * time.Second
		conn, err := mysql.NewConnector(mc)
		if err != nil {
			t.Fatal(err)
		}
		db = sql.OpenDB(conn)
	} else {
		u := url.URL{Scheme: "postgres", User: url.UserPassword(user, password), Host: net.JoinHostPort(s.host, strconv.Itoa(s.port)),
			Path: "/" + database, RawQuery: "sslmode=disable&connect_timeout=5"}
		var err error
		if db, err = sql.Open("pgx", u.String()); err != nil {
			t.Fatal(err)
		}
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

// configure registers the server and a role per site with the backend
// store, as the back end does before a backup.
func (s *dbServer) configure(t testing.TB, st *secrets.VaultStore) {
	t.Helper()
	ctx := context.Background()
	if err := st.ConfigureDatabase(ctx, secrets.DatabaseConnection{ServiceID: s.svcID, Vault: vaultOf(t, s.kind), Host: s.host, Port: s.port,
		Username: s.admin["username"], Password: s.admin["password"]}); err != nil {
		t.Fatalf("ConfigureDatabase: %v", err)
	}
	for _, id := range []string{s.siteA, s.siteB} {
		if err := st.ConfigureSiteRole(ctx, secrets.SiteRole{SiteID: id, ServiceID: s.svcID, Vault: vaultOf(t, s.kind), Database: provision.NameFor(id)}); err != nil {
			t.Fatalf("ConfigureSiteRole: %v", err)
		}
	}
}

// userExists asks the server, as admin, whether the user is there.
func (s *dbServer) userExists(t testing.TB, user string) bool {
	t.Helper()
	q := "SELECT count(*) FROM mysql.user WHERE user = '" + user + "'"
	if s.kind == "postgresql" {
		q = "SELECT count(*) FROM pg_roles WHERE rolname = '" + user + "'"
	}
	if strings.ContainsAny(user, `'\`) {
		t.Fatalf("unexpected user name %q", user)
	}
	return s.rootQuery(t, q) != "0"
}

func TestDynamicCreds(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"mariadb", "postgresql"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			b := setupVault(t)
			s := setupDB(t, kind)
			s.configure(t, b.backend)

			task := domain.NewID()
			user, pass, lease, err := b.backend.DynamicCredsForTask(ctx, secrets.SiteRoleName(s.siteA), task, 10*time.Minute)
			if err != nil {
				t.Fatalf("DynamicCredsForTask: %v", err)
			}
			if !strings.HasPrefix(user, "t-"+task+"-") {
				t.Errorf("user %q does not name task %s", user, task)
			}
			if !s.userExists(t, user) {
				t.Fatalf("user %s not on the server", user)
			}
			// It reads its site's database ...
			var title string
			if err := s.connect(t, user, pass, provision.NameFor(s.siteA)).QueryRowContext(ctx, "SELECT title FROM pages").Scan(&title); err != nil {
				t.Fatalf("throwaway user reads its site: %v", err)
			}
			// ... and can dump it with the driver's own dump ...
			var dump bytes.Buffer
			d := s.driver(t, map[string]string{"username": user, "password": pass})
			c := d.Locate(provision.NameFor(s.siteA))
			if err := d.Dump(ctx, c, &dump); err != nil {
				t.Fatalf("dump as the throwaway user: %v", err)
			}
			if !strings.Contains(dump.String(), "hello "+s.siteA) {
				t.Fatalf("dump lacks the site's row:\n%s", dump.String())
			}
			// ... but not another site's.
			var n int
			err = s.connect(t, user, pass, provision.NameFor(s.siteB)).QueryRowContext(ctx, "SELECT count(*) FROM pages").Scan(&n)
			if err == nil {
				t.Fatalf("throwaway user of site A reads site B")
			}
			if err := d.Dump(ctx, d.Locate(provision.NameFor(s.siteB)), &bytes.Buffer{}); err == nil {
				t.Fatalf("throwaway user of site A dumps site B")
			}
			// Writes are not granted on MariaDB (PostgreSQL: member of the
			// owner role, like the site itself).
			if kind == "mariadb" {
				if _, err := s.connect(t, user, pass, provision.NameFor(s.siteA)).ExecContext(ctx, "DELETE FROM pages"); err == nil {
					t.Error("throwaway MariaDB user may write")
				}
			}

			if err := b.backend.Revoke(ctx, lease); err != nil {
				t.Fatalf("Revoke: %v", err)
			}
			if s.userExists(t, user) {
				t.Fatalf("user %s still exists after Revoke", user)
			}
			if err := s.connect(t, user, pass, provision.NameFor(s.siteA)).PingContext(ctx); err == nil {
				t.Fatal("revoked user still logs in")
			}
			if err := b.backend.Revoke(ctx, lease); err != nil {
				t.Fatalf("second Revoke = %v, want nil", err)
			}
		})
	}
}

// Without Revoke (the task's process died), the user goes when the child
// token's TTL runs out.
func TestDynamicCredsExpireWithTTL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupVault(t)
	s := setupDB(t, "mariadb")
	s.configure(t, b.backend)
	user, _, _, err := b.backend.DynamicCreds(ctx, secrets.SiteRoleName(s.siteA), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(user, "aegir-") {
		t.Errorf("user %q", user)
	}
	deadline := time.Now().Add(20 * time.Second)
	for s.userExists(t, user) {
		if time.Now().After(deadline) {
			t.Fatalf("user %s outlived its 2s lease by 20s", user)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// The dashboard's token cannot lease users, and a role of another form is
// refused before Vault is asked.
func TestDynamicCredsRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupVault(t)
	if _, _, _, err := b.dashboard.DynamicCreds(ctx, secrets.SiteRoleName(domain.NewID()), time.Minute); !errors.Is(err, secrets.ErrVaultDenied) {
		t.Fatalf("dashboard DynamicCreds = %v, want ErrVaultDenied", err)
	}
	for _, role := range []string{"admin", "site-../x", "site-" + strings.Repeat("a", 20) + "'"} {
		if _, _, _, err := b.backend.DynamicCreds(ctx, role, time.Minute); !errors.Is(err, secrets.ErrInvalidRef) {
			t.Errorf("DynamicCreds(%q) = %v, want ErrInvalidRef", role, err)
		}
	}
	err := b.backend.ConfigureSiteRole(ctx, secrets.SiteRole{SiteID: domain.NewID(), ServiceID: domain.NewID(), Vault: vaultOf(t, "mariadb"), Database: "x`; DROP DATABASE y; --"})
	if !errors.Is(err, secrets.ErrInvalidRef) {
		t.Fatalf("ConfigureSiteRole with a hostile name = %v", err)
	}
}

// ops/vault/setup-dev.sh sets up a fresh dev Vault (twice: it is
// idempotent), and what it writes works: AppRole logins with the two
// policies, and a registered database server that leases users.
func TestSetupDevScript(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := testharness.Vault(t)
	bin, err := testharness.BinPath("vault")
	if err != nil {
		t.Fatal(err)
	}
	db := setupDB(t, "mariadb")
	out := filepath.Join(t.TempDir(), "out")
	for i := 0; i < 2; i++ {
		cmd := exec.Command("bash", filepath.Join(opsVaultDir(t), "setup-dev.sh"), out)
		cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"),
			"VAULT_ADDR="+srv.Addr, "VAULT_TOKEN="+srv.RootToken,
			"AEGIR_DB_SERVICE_ID="+db.svcID, "AEGIR_DB_KIND=mariadb", "AEGIR_DB_HOST="+db.host,
			"AEGIR_DB_PORT="+strconv.Itoa(db.port), "AEGIR_DB_ADMIN_USER="+db.admin["username"],
			"AEGIR_DB_ADMIN_PASSWORD="+db.admin["password"])
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("setup-dev.sh run %d: %v\n%s", i+1, err, b)
		}
		if strings.Contains(string(b), db.admin["password"]) {
			t.Fatal("setup-dev.sh printed the admin password")
		}
	}
	login := func(role string) *secrets.VaultStore {
		st, err := secrets.NewVault(secrets.VaultConfig{Addr: srv.Addr,
			RoleIDFile: filepath.Join(out, role+".role_id"), SecretIDFile: filepath.Join(out, role+".secret_id")})
		if err != nil {
			t.Fatalf("AppRole login as %s: %v", role, err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	backend, server := login("backend"), login("server")
	admin := secrets.ServiceAdminRef(db.svcID)
	if got, err := backend.Get(ctx, admin); err != nil || got["password"] != db.admin["password"] {
		t.Fatalf("backend reads the admin credentials the script stored: %v", err)
	}
	if _, err := server.Get(ctx, admin); !errors.Is(err, secrets.ErrVaultDenied) {
		t.Fatalf("server (dashboard policy) reads admin credentials: %v, want ErrVaultDenied", err)
	}
	if err := backend.ConfigureSiteRole(ctx, secrets.SiteRole{SiteID: db.siteA, ServiceID: db.svcID, Vault: vaultOf(t, "mariadb"), Database: provision.NameFor(db.siteA)}); err != nil {
		t.Fatal(err)
	}
	task := domain.NewID()
	user, _, lease, err := backend.DynamicCredsForTask(ctx, secrets.SiteRoleName(db.siteA), task, time.Minute)
	if err != nil {
		t.Fatalf("lease from the connection the script configured: %v", err)
	}
	if !strings.HasPrefix(user, "t-"+task+"-") {
		t.Errorf("user %q", user)
	}
	if err := backend.Revoke(ctx, lease); err != nil {
		t.Fatal(err)
	}
}

// vaultOf is the Vault descriptor of a database kind, as the back end
// hands it to ConfigureDatabase and ConfigureSiteRole.
func vaultOf(t testing.TB, kind string) *servicekind.VaultDB {
	t.Helper()
	d, ok := servicekind.Lookup(servicekind.Kind(kind))
	if !ok || d.Vault == nil {
		t.Fatalf("%s has no Vault descriptor", kind)
	}
	return d.Vault
}
