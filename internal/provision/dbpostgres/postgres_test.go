package dbpostgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/provision/dbtest"
	"github.com/aegirhq/aegir/internal/servicekind"
	"github.com/aegirhq/aegir/internal/testharness"
	"github.com/jackc/pgx/v5"
)

type bundle struct {
	srv    *testharness.PostgresServer
	driver *Driver
}

func setup(t testing.TB) *bundle {
	t.Helper()
	srv := testharness.Postgres(t)
	return &bundle{srv: srv, driver: newDriver(t, srv, srv.AdminPassword)}
}

func newDriver(t testing.TB, srv *testharness.PostgresServer, password string) *Driver {
	t.Helper()
	host, portStr, _ := net.SplitHostPort(srv.Addr)
	port, _ := strconv.Atoi(portStr)
	d, err := Factory(provision.ServiceInfo{ID: "db1", Type: "db", Kind: "postgresql", Port: port, Settings: map[string]string{"sslmode": "disable"}},
		provision.ServerInfo{ID: "srv1", Name: "db1", Address: host},
		map[string]string{"username": srv.AdminUser, "password": password}, provision.EnvInfo{},
		slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.(*Driver).Close() })
	return d.(*Driver)
}

func creds(d *Driver, id, password string) provision.DBCreds {
	c := d.Locate(provision.NameFor(id))
	c.Password = password
	return c
}

// siteConn connects as the site's own role to database (default its own).
func siteConn(t *testing.T, c provision.DBCreds, database string) *sql.DB {
	t.Helper()
	u := url.URL{Scheme: "postgres", User: url.UserPassword(c.User, c.Password),
		Host: net.JoinHostPort(c.Host, strconv.Itoa(c.Port)), Path: "/" + cmpOr(database, c.Name),
		RawQuery: "sslmode=disable&connect_timeout=5"}
	pc, err := pgx.ParseConfig(u.String())
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*pc)
	t.Cleanup(func() { db.Close() })
	return db
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func mustExec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// harness is the dbtest conformance harness for a driver on srv.
func harness(t *testing.T, srv *testharness.PostgresServer, d *Driver) *dbtest.Harness {
	return &dbtest.Harness{
		Kind:   servicekind.PostgreSQL,
		Driver: d,
		Open:   func(t *testing.T, c provision.DBCreds) *sql.DB { return siteConn(t, c, "") },
		Dialect: dbtest.Dialect{
			CreateHits: "CREATE TABLE hits (id BIGSERIAL PRIMARY KEY, path TEXT, body BYTEA)",
			InsertHit:  "INSERT INTO hits (path, body) VALUES ($1, $2)",
			Fill: []string{
				// Rows of 1 kB stay below the TOAST threshold (2 kB): not compressed.
				"CREATE TABLE rows_1k (id serial PRIMARY KEY, body text)",
				"INSERT INTO rows_1k (body) SELECT lpad(n::text, 1000, 'x') FROM generate_series(1, 2000) AS n",
			},
		},
		Census: func(t *testing.T) string {
			return srv.Query(t, "SELECT (SELECT count(*) FROM pg_database WHERE left(datname, 21) <> '"+dbtest.Prefix+"') || ' databases, ' || "+
				"(SELECT count(*) FROM pg_roles WHERE left(rolname, 21) <> '"+dbtest.Prefix+"') || ' roles'")
		},
		Leftovers: func(t *testing.T, c provision.DBCreds) string {
			if got := srv.Query(t, fmt.Sprintf(
				"SELECT (SELECT count(*) FROM pg_database WHERE datname = '%s') + (SELECT count(*) FROM pg_roles WHERE rolname = '%s')",
				c.Name, c.User)); got != "0" {
				return got + " database/role rows"
			}
			return ""
		},
		WithAdminPassword: func(t *testing.T, password string) provision.DBDriver { return newDriver(t, srv, password) },
		FromSettings: func(t *testing.T, settings map[string]string) error {
			host, portStr, _ := net.SplitHostPort(srv.Addr)
			port, _ := strconv.Atoi(portStr)
			all := map[string]string{"sslmode": "disable"}
			maps.Copy(all, settings)
			d, err := Factory(provision.ServiceInfo{ID: "db1", Type: "db", Kind: "postgresql", Port: port, Settings: all},
				provision.ServerInfo{ID: "srv1", Name: "db1", Address: host},
				map[string]string{"username": srv.AdminUser, "password": srv.AdminPassword}, provision.EnvInfo{}, nil)
			if err == nil {
				d.(*Driver).Close()
			}
			return err
		},
		DefaultPort: func(t *testing.T) provision.DBDriver {
			d, err := New(Config{AdminUser: "nobody"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			return d
		},
		Passwords: true,
		Isolated: func(t *testing.T, a, other provision.DBCreds) {
			// The site role cannot connect to the other site's database.
			if err := siteConn(t, a, other.Name).Ping(); err == nil || !strings.Contains(err.Error(), "permission denied") {
				t.Fatalf("site role connecting to another site's database: %v", err)
			}
			sa := siteConn(t, a, "")
			if _, err := sa.Exec("CREATE DATABASE s_intruder"); err == nil {
				t.Fatal("site role could create a database")
			}
			if _, err := sa.Exec("CREATE ROLE s_intruder"); err == nil {
				t.Fatal("site role could create a role")
			}
		},
		CheckDump: func(t *testing.T, dump string) {
			if !strings.Contains(dump, "CREATE TABLE public.hits") || strings.Contains(dump, "OWNER TO") {
				t.Fatalf("unexpected dump:\n%.800s", dump)
			}
		},
		AfterLoad: func(t *testing.T, a provision.DBCreds) {
			// The loaded objects belong to the site: it can write and alter them.
			sa := siteConn(t, a, "")
			mustExec(t, sa, "INSERT INTO hits (path) VALUES ('after-load')")
			mustExec(t, sa, "ALTER TABLE hits ADD COLUMN note TEXT")
			// This connection stays open until the test ends, so the suite
			// drops the database with the site still connected.
			if err := siteConn(t, a, "").Ping(); err != nil {
				t.Fatal(err)
			}
			if err := d.SetPassword(context.Background(), creds(d, "aaaaaaaaaaaaaaaaaaa8", ""), "x"); !errors.Is(err, domain.ErrNotFound) {
				t.Fatalf("SetPassword of a missing role = %v", err)
			}
		},
		PasswordHidden: func(t *testing.T, c provision.DBCreds) {
			if got := srv.Query(t, "SELECT left(rolpassword, 14) FROM pg_authid WHERE rolname = '"+c.User+"'"); got != "SCRAM-SHA-256$" {
				t.Fatalf("stored password is %q, want a SCRAM verifier", got)
			}
		},
	}
}

// TestDriver runs the dbtest conformance suite on one server, its
// scenarios as parallel subtests.
func TestDriver(t *testing.T) {
	t.Parallel()
	b := setup(t)
	h := harness(t, b.srv, b.driver)
	dbtest.Run(t, h)
	t.Run("passwords libpq cannot send", func(t *testing.T) {
		t.Parallel()
		before := h.Census(t)
		defer func() {
			if after := h.Census(t); after != before {
				t.Fatalf("refused calls changed the server: %s -> %s", before, after)
			}
		}()
		for _, pw := range []string{"", "nul\x00byte", "é-not-ascii"} {
			if err := b.driver.Create(context.Background(), creds(b.driver, "aaaaaaaaaaaaaaaaaaa3", pw)); !errors.Is(err, domain.ErrInvalid) {
				t.Errorf("Create with password %q = %v, want ErrInvalid", pw, err)
			}
		}
	})
}

func TestServerDown(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// The harness stops postgres with a smart shutdown, which waits for
	// clients: close the pool's idle connection first.
	stop := func(t testing.TB) {
		b.driver.db.SetMaxIdleConns(0)
		b.srv.Stop(t)
		b.driver.db.SetMaxIdleConns(2)
	}
	dbtest.ServerDown(t, harness(t, b.srv, b.driver), stop, b.srv.Start)
}
