package provision_test

import (
	"context"
	"database/sql"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	_ "github.com/go-sql-driver/mysql" // database/sql driver "mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/provision/dbmariadb"
	"github.com/aegirhq/aegir/internal/provision/dbpostgres"
	"github.com/aegirhq/aegir/internal/testharness"
	"github.com/aegirhq/aegir/secrets"
)

// dbServer is a real database server the bundle's database service
// points at (useDBServer).
type dbServer struct {
	kind domain.ServiceKind
	// open connects as the admin to database name.
	open func(name string) *sql.DB
	// query runs SQL as the admin and returns its output.
	query func(sql string) string
	// schemas returns the number of databases whose name starts with prefix.
	schemas func(prefix string) string
	// mariadb or postgres is the server.
	mariadb  *testharness.MariaDBServer
	postgres *testharness.PostgresServer
}

// useDBServer starts a MariaDB or PostgreSQL server and points the
// bundle's database service at it, with its admin credentials in the
// file secrets store.
func useDBServer(tb testing.TB, bb *bundle, kind domain.ServiceKind) *dbServer {
	tb.Helper()
	s := &dbServer{kind: kind}
	var addr string
	var admin map[string]string
	settings := map[string]string{}
	switch kind {
	case domain.KindMariaDB:
		m := testharness.MariaDB(tb)
		s.mariadb, addr = m, m.Addr
		admin = map[string]string{"username": m.AdminUser, "password": m.AdminPassword}
		s.open = func(name string) *sql.DB { return sqlOpen(tb, "mysql", m.DSN(name)) }
		s.query = func(q string) string { return m.Query(tb, q) }
		s.schemas = func(prefix string) string {
			return m.Query(tb, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '"+prefix+"%'")
		}
		bb.deps.DB[domain.KindMariaDB] = dbmariadb.Factory
	case domain.KindPostgreSQL:
		p := testharness.Postgres(tb)
		s.postgres, addr = p, p.Addr
		admin = map[string]string{"username": p.AdminUser, "password": p.AdminPassword}
		settings["sslmode"] = "disable"
		s.open = func(name string) *sql.DB { return sqlOpen(tb, "pgx", p.URL(name)) }
		s.query = func(q string) string { return p.Query(tb, q) }
		s.schemas = func(prefix string) string {
			return p.Query(tb, "SELECT count(*) FROM pg_database WHERE datname LIKE '"+prefix+"%'")
		}
		bb.deps.DB[domain.KindPostgreSQL] = dbpostgres.Factory
	default:
		tb.Fatalf("no server for %s", kind)
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		tb.Fatal(err)
	}
	n, _ := strconv.Atoi(port)
	bb.dbSvc = provision.ServiceInfo{ID: domain.NewID(), ServerID: bb.dbSrv.ID, Type: domain.ServiceDB, Kind: kind, Port: n, Settings: settings}
	st, err := secrets.OpenFile(filepath.Join(bb.dataDir, "secrets"))
	if err != nil {
		tb.Fatal(err)
	}
	if err := st.Put(context.Background(), secrets.ServiceAdminRef(bb.dbSvc.ID), admin); err != nil {
		tb.Fatal(err)
	}
	bb.runner.Deps = bb.deps
	return s
}

func sqlOpen(tb testing.TB, driver, dsn string) *sql.DB {
	tb.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func (s *dbServer) exec(tb testing.TB, name string, stmts ...string) {
	tb.Helper()
	db := s.open(name)
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			tb.Fatalf("%s: %v", q, err)
		}
	}
}

func (s *dbServer) count(tb testing.TB, name, table string) int {
	tb.Helper()
	var n int
	if err := s.open(name).QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
		tb.Fatalf("count %s in %s: %v", table, name, err)
	}
	return n
}

// TestRestoreOnServers: on MariaDB and PostgreSQL a restore sets the live
// database aside by renaming and loads the backup while its files unpack.
// A corrupt archive, or another site's, fails with the site as it was
// (database put back, nothing held left); a good one restores, leaving
// nothing held. MariaDB with a view cannot be set aside: the restore
// takes a safety backup instead, and works.
func TestRestoreOnServers(t *testing.T) {
	testharness.RequireProgram(t, "mariadb-dump")
	for _, kind := range []domain.ServiceKind{domain.KindMariaDB, domain.KindPostgreSQL} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			srv := useDBServer(t, b, kind)
			site := b.newSite("srv.example.com")
			b.mustRun(b.ctx(domain.TaskInstall, site, "static1"))
			site.Status = domain.SiteEnabled
			name := provision.NameFor(site.ID)
			srv.exec(t, name, "CREATE TABLE t (n INT)", "INSERT INTO t VALUES (1)")
			bk := b.mustRun(b.ctx(domain.TaskBackup, site, "static1")).Changes.Backups[0]
			other := b.newSite("other.example.com")
			b.mustRun(b.ctx(domain.TaskInstall, other, "static1"))
			otherBk := b.mustRun(b.ctx(domain.TaskBackup, other, "static1")).Changes.Backups[0]

			srv.exec(t, name, "INSERT INTO t VALUES (2)")
			siteDir := filepath.Join(b.platform["static1"].Path, "sites", site.Domain)
			if err := os.WriteFile(filepath.Join(siteDir, "after-backup.txt"), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			raw, err := os.ReadFile(bk.Path)
			if err != nil {
				t.Fatal(err)
			}
			raw[len(raw)/2] ^= 0x55
			corrupt := bk.Path + ".corrupt.tar.zst"
			if err := os.WriteFile(corrupt, raw, 0o600); err != nil {
				t.Fatal(err)
			}
			restore := func(path, sha string, size int64) provision.Result {
				rc := b.ctx(domain.TaskRestore, site, "static1")
				rc.Backup = &provision.BackupInfo{ID: domain.NewID(), Path: path, SHA256: sha, Size: size}
				return b.run(rc)
			}
			intact := func(what string) {
				t.Helper()
				if n := srv.count(t, name, "t"); n != 2 {
					t.Fatalf("after %s the database has %d rows, want 2", what, n)
				}
				if !exists(filepath.Join(siteDir, "after-backup.txt")) {
					t.Fatalf("after %s the site's files changed", what)
				}
				if got := srv.schemas(name + "_a"); got != "0" {
					t.Fatalf("after %s %s held databases are left", what, got)
				}
			}
			wantFailure(t, restore(corrupt, bk.SHA256, bk.Size), provision.CodeBackupCorrupt)
			intact("a corrupt archive")
			wantFailure(t, restore(otherBk.Path, otherBk.SHA256, otherBk.Size), provision.CodeInvalidInput)
			intact("another site's archive")
			srv.exec(t, name, "INSERT INTO t VALUES (3)", "DELETE FROM t WHERE n = 3") // the site still writes

			res := restore(bk.Path, bk.SHA256, bk.Size)
			if res.Status != domain.TaskSucceeded {
				t.Fatalf("restore: %s: %s", res.ErrorCode, res.Explanation)
			}
			if len(res.Changes.Backups) != 0 {
				t.Fatalf("a restore that set the database aside wrote backups: %+v", res.Changes.Backups)
			}
			if n := srv.count(t, name, "t"); n != 1 || exists(filepath.Join(siteDir, "after-backup.txt")) {
				t.Fatalf("restored: %d rows (want 1), file after the backup still there: %v", n, exists(filepath.Join(siteDir, "after-backup.txt")))
			}
			if got := srv.schemas(name + "_a"); got != "0" {
				t.Fatalf("a restore left %s held databases", got)
			}
			if code, _ := b.get(site.Domain, "/"); code != 200 {
				t.Fatalf("restored site answers %d", code)
			}

			if kind == domain.KindMariaDB {
				srv.exec(t, name, "CREATE VIEW v AS SELECT n FROM t", "INSERT INTO t VALUES (5)")
				res := restore(bk.Path, bk.SHA256, bk.Size)
				if res.Status != domain.TaskSucceeded {
					t.Fatalf("restore of a database with a view: %s: %s", res.ErrorCode, res.Explanation)
				}
				if len(res.Changes.Backups) != 1 || res.Changes.Backups[0].Reason != "pre-restore" {
					t.Fatalf("a database with a view must get a safety backup: %+v", res.Changes.Backups)
				}
				if n := srv.count(t, name, "t"); n != 1 {
					t.Fatalf("restored with a safety backup: %d rows, want 1", n)
				}
			}
		})
	}
}
