package dbpostgres

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/provision/dberr"
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

func TestDriver(t *testing.T) {
	t.Parallel()
	b := setup(t)
	t.Run("lifecycle", func(t *testing.T) { t.Parallel(); testLifecycle(t, b) })
	t.Run("crafted names", func(t *testing.T) { t.Parallel(); testCrafted(t, b) })
	t.Run("existing database", func(t *testing.T) { t.Parallel(); testExisting(t, b) })
	t.Run("odd password", func(t *testing.T) { t.Parallel(); testOddPassword(t, b) })
	t.Run("size", func(t *testing.T) { t.Parallel(); testSize(t, b) })
	t.Run("wrong admin password", func(t *testing.T) {
		t.Parallel()
		d := newDriver(t, b.srv, "wrong")
		err := d.Check(context.Background())
		if !errors.Is(err, dberr.ErrAuthFailed) || dberr.Code(err) != "db_auth_failed" {
			t.Fatalf("Check with a wrong password = %v, want ErrAuthFailed", err)
		}
		if strings.Contains(err.Error(), b.srv.AdminPassword) {
			t.Fatal("error carries the password")
		}
		if err := d.Dump(context.Background(), creds(d, "aaaaaaaaaaaaaaaaaaa9", ""), &bytes.Buffer{}); !errors.Is(err, dberr.ErrAuthFailed) {
			t.Fatalf("Dump with a wrong password = %v, want ErrAuthFailed", err)
		}
	})
}

func testLifecycle(t *testing.T, b *bundle) {
	ctx := context.Background()
	d := b.driver
	a := creds(d, "aaaaaaaaaaaaaaaaaaa1", "pw-a-"+strings.Repeat("x", 20))
	other := creds(d, "aaaaaaaaaaaaaaaaaaa2", "pw-b-"+strings.Repeat("y", 20))
	if err := d.Check(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []provision.DBCreds{a, other} {
		if err := d.Create(ctx, c); err != nil {
			t.Fatal(err)
		}
	}

	sa := siteConn(t, a, "")
	mustExec(t, sa, "CREATE TABLE hits (id BIGSERIAL PRIMARY KEY, path TEXT, body BYTEA)")
	for i := range 50 {
		mustExec(t, sa, "INSERT INTO hits (path, body) VALUES ($1, $2)", fmt.Sprintf("/p%d", i), []byte{0, 1, '\'', '\\', byte(i)})
	}

	// The site role cannot connect to the other site's database.
	if err := siteConn(t, a, other.Name).Ping(); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("site role connecting to another site's database: %v", err)
	}
	if _, err := sa.Exec("CREATE DATABASE s_intruder"); err == nil {
		t.Fatal("site role could create a database")
	}
	if _, err := sa.Exec("CREATE ROLE s_intruder"); err == nil {
		t.Fatal("site role could create a role")
	}

	var dump bytes.Buffer
	if err := d.Dump(ctx, a, &dump); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dump.String(), "CREATE TABLE public.hits") || strings.Contains(dump.String(), "OWNER TO") {
		t.Fatalf("unexpected dump:\n%.800s", dump.String())
	}
	mustExec(t, sa, "DELETE FROM hits WHERE id > 10")
	mustExec(t, sa, "CREATE TABLE extra (x INT)")
	if got, _ := d.Count(ctx, a, "hits"); got != 10 {
		t.Fatalf("count after delete = %d", got)
	}
	if err := d.Load(ctx, a, bytes.NewReader(dump.Bytes())); err != nil {
		t.Fatal(err)
	}
	if got, err := d.Count(ctx, a, "hits"); err != nil || got != 50 {
		t.Fatalf("count after load = %d, %v", got, err)
	}
	if _, err := d.Count(ctx, a, "extra"); err == nil {
		t.Fatal("load left a table that was not in the dump")
	}
	sa2 := siteConn(t, a, "")
	var body []byte
	if err := sa2.QueryRow("SELECT body FROM hits WHERE path = '/p7'").Scan(&body); err != nil || !bytes.Equal(body, []byte{0, 1, '\'', '\\', 7}) {
		t.Fatalf("binary data after load = %v, %v", body, err)
	}
	// The loaded objects belong to the site: it can write and alter them.
	mustExec(t, sa2, "INSERT INTO hits (path) VALUES ('after-load')")
	mustExec(t, sa2, "ALTER TABLE hits ADD COLUMN note TEXT")

	// Clone into the other site's database.
	if err := d.Load(ctx, other, bytes.NewReader(dump.Bytes())); err != nil {
		t.Fatal(err)
	}
	if got, _ := d.Count(ctx, other, "hits"); got != 50 {
		t.Fatalf("cloned count = %d", got)
	}
	mustExec(t, siteConn(t, other, ""), "INSERT INTO hits (path) VALUES ('x')")

	if err := d.SetPassword(ctx, a, "new-secret-1"); err != nil {
		t.Fatal(err)
	}
	if err := siteConn(t, a, "").Ping(); err == nil {
		t.Fatal("old password still accepted")
	}
	a.Password = "new-secret-1"
	if err := siteConn(t, a, "").Ping(); err != nil {
		t.Fatalf("new password refused: %v", err)
	}
	if err := d.SetPassword(ctx, creds(d, "aaaaaaaaaaaaaaaaaaa8", ""), "x"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("SetPassword of a missing role = %v", err)
	}

	// Drop with the site still connected: nothing left, twice is fine.
	held := siteConn(t, a, "")
	if err := held.Ping(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []provision.DBCreds{a, other} {
		if err := d.Drop(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := d.Drop(ctx, c); err != nil {
			t.Fatalf("second drop: %v", err)
		}
		assertGone(t, b, c)
	}
}

func assertGone(t *testing.T, b *bundle, c provision.DBCreds) {
	t.Helper()
	if got := b.srv.Query(t, fmt.Sprintf(
		"SELECT (SELECT count(*) FROM pg_database WHERE datname = '%s') + (SELECT count(*) FROM pg_roles WHERE rolname = '%s')",
		c.Name, c.User)); got != "0" {
		t.Fatalf("%s left %s database/role rows behind", c.Name, got)
	}
}

func testCrafted(t *testing.T, b *bundle) {
	ctx := context.Background()
	d := b.driver
	q := "SELECT (SELECT count(*) FROM pg_database WHERE left(datname, 21) <> 's_aaaaaaaaaaaaaaaaaaa') || ',' || " +
		"(SELECT count(*) FROM pg_roles WHERE left(rolname, 21) <> 's_aaaaaaaaaaaaaaaaaaa')"
	before := b.srv.Query(t, q)
	for _, name := range []string{
		`s_x"; DROP DATABASE postgres; --`,
		"s_x' OR '1'='1",
		"s_x\\",
		"-s_x",
		"--dbname=postgres",
		"S_UPPER",
		"s x",
		"",
		strings.Repeat("a", 64),
	} {
		c := provision.DBCreds{Name: name, User: name, Password: "pw"}
		if err := d.Create(ctx, c); !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("Create(%q) = %v, want ErrInvalid", name, err)
		}
		if err := d.Drop(ctx, c); !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("Drop(%q) = %v, want ErrInvalid", name, err)
		}
		if err := d.Dump(ctx, c, &bytes.Buffer{}); !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("Dump(%q) = %v, want ErrInvalid", name, err)
		}
		if err := d.Load(ctx, c, strings.NewReader("")); !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("Load(%q) = %v, want ErrInvalid", name, err)
		}
		if _, err := d.Count(ctx, creds(d, "aaaaaaaaaaaaaaaaaaa3", ""), name); name != "S_UPPER" && !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("Count(table %q) = %v, want ErrInvalid", name, err)
		}
		if _, err := d.Size(ctx, c); !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("Size(%q) = %v, want ErrInvalid", name, err)
		}
	}
	for _, pw := range []string{"", "nul\x00byte", "é-not-ascii"} {
		if err := d.Create(ctx, creds(d, "aaaaaaaaaaaaaaaaaaa3", pw)); !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("Create with password %q = %v, want ErrInvalid", pw, err)
		}
	}
	if after := b.srv.Query(t, q); after != before {
		t.Fatalf("databases,roles %s -> %s", before, after)
	}
}

func testExisting(t *testing.T, b *bundle) {
	ctx := context.Background()
	c := creds(b.driver, "aaaaaaaaaaaaaaaaaaa4", "first")
	if err := b.driver.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	mustExec(t, siteConn(t, c, ""), "CREATE TABLE keep (x INT)")
	c2 := c
	c2.Password = "second"
	if err := b.driver.Create(ctx, c2); !errors.Is(err, dberr.ErrExists) {
		t.Fatalf("Create over an existing database = %v, want ErrExists", err)
	}
	if err := siteConn(t, c, "").Ping(); err != nil {
		t.Fatalf("refused Create changed the role's password: %v", err)
	}
	if _, err := b.driver.Count(ctx, c, "keep"); err != nil {
		t.Fatalf("refused Create touched the data: %v", err)
	}
	if err := b.driver.Drop(ctx, c); err != nil {
		t.Fatal(err)
	}
}

func testOddPassword(t *testing.T, b *bundle) {
	ctx := context.Background()
	pw := `it's a "p\w"; DROP ROLE x; -- $$` + "\n\t"
	c := creds(b.driver, "aaaaaaaaaaaaaaaaaaa5", pw)
	if err := b.driver.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	defer b.driver.Drop(ctx, c)
	if err := siteConn(t, c, "").Ping(); err != nil {
		t.Fatalf("connect with an odd password: %v", err)
	}
	if got := b.srv.Query(t, "SELECT left(rolpassword, 14) FROM pg_authid WHERE rolname = '"+c.User+"'"); got != "SCRAM-SHA-256$" {
		t.Fatalf("stored password is %q, want a SCRAM verifier", got)
	}
}

// testSize: a database with 2 MB of rows measures at least 2 MB more than
// when it was empty, and a database that does not exist is ErrNotFound,
// named in the error.
func testSize(t *testing.T, b *bundle) {
	ctx := context.Background()
	d := b.driver
	c := creds(d, "aaaaaaaaaaaaaaaaaaa7", "pw-size")
	if err := d.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	defer d.Drop(ctx, c)
	empty, err := d.Size(ctx, c)
	if err != nil || empty <= 0 {
		t.Fatalf("size of an empty database = %d, %v", empty, err)
	}
	sa := siteConn(t, c, "")
	// Rows of 1 kB stay below the TOAST threshold (2 kB): not compressed.
	mustExec(t, sa, "CREATE TABLE rows_1k (id serial PRIMARY KEY, body text)")
	mustExec(t, sa, "INSERT INTO rows_1k (body) SELECT lpad(n::text, 1000, 'x') FROM generate_series(1, 2000) AS n")
	n, err := d.Size(ctx, c)
	if err != nil || n-empty < 2000*1000 {
		t.Fatalf("size with 2 MB of rows = %d (empty %d), %v", n, empty, err)
	}
	if n > 64<<20 {
		t.Fatalf("size with 2 MB of rows = %d, counts more than this database", n)
	}

	missing := creds(d, "aaaaaaaaaaaaaaaaaaa8", "")
	_, err = d.Size(ctx, missing)
	if !errors.Is(err, domain.ErrNotFound) || !strings.Contains(err.Error(), missing.Name) {
		t.Fatalf("size of a missing database = %v, want ErrNotFound naming it", err)
	}
}

func TestServerDown(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.driver.Check(ctx); err != nil {
		t.Fatal(err)
	}
	// The harness stops postgres with a smart shutdown, which waits for
	// clients: close the pool's idle connection first.
	b.driver.db.SetMaxIdleConns(0)
	b.srv.Stop(t)
	b.driver.db.SetMaxIdleConns(2)
	c := creds(b.driver, "aaaaaaaaaaaaaaaaaaa6", "pw")
	if err := b.driver.Check(ctx); !errors.Is(err, dberr.ErrUnreachable) || dberr.Code(err) != "db_unreachable" {
		t.Fatalf("Check on a stopped server = %v, want ErrUnreachable", err)
	}
	if err := b.driver.Create(ctx, c); !errors.Is(err, dberr.ErrUnreachable) {
		t.Fatalf("Create on a stopped server = %v, want ErrUnreachable", err)
	}
	if err := b.driver.Dump(ctx, c, &bytes.Buffer{}); !errors.Is(err, dberr.ErrUnreachable) {
		t.Fatalf("Dump on a stopped server = %v, want ErrUnreachable", err)
	}
	if _, err := b.driver.Size(ctx, c); !errors.Is(err, dberr.ErrUnreachable) {
		t.Fatalf("Size on a stopped server = %v, want ErrUnreachable", err)
	}
	b.srv.Start(t)
	if err := b.driver.Check(ctx); err != nil {
		t.Fatalf("Check after restart: %v", err)
	}
	assertGone(t, b, c)
}
