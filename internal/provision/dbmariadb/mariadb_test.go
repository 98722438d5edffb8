package dbmariadb

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/provision/dberr"
	"github.com/aegirhq/aegir/internal/testharness"
)

type bundle struct {
	srv    *testharness.MariaDBServer
	driver *Driver
}

func setup(t *testing.T) *bundle {
	t.Helper()
	srv := testharness.MariaDB(t)
	return &bundle{srv: srv, driver: newDriver(t, srv, srv.AdminPassword)}
}

func newDriver(t *testing.T, srv *testharness.MariaDBServer, password string) *Driver {
	t.Helper()
	host, port := splitAddr(t, srv.Addr)
	d, err := Factory(provision.ServiceInfo{ID: "db1", Type: "db", Kind: "mariadb", Port: port},
		provision.ServerInfo{ID: "srv1", Name: "db1", Address: host},
		map[string]string{"username": srv.AdminUser, "password": password}, provision.EnvInfo{},
		slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.(*Driver).Close() })
	return d.(*Driver)
}

func splitAddr(t *testing.T, addr string) (string, int) {
	t.Helper()
	var port int
	i := strings.LastIndexByte(addr, ':')
	if _, err := fmt.Sscanf(addr[i+1:], "%d", &port); err != nil {
		t.Fatal(err)
	}
	return addr[:i], port
}

// creds returns the credentials of a fresh site database, unique per test.
func creds(d *Driver, id, password string) provision.DBCreds {
	c := d.Locate(provision.NameFor(id))
	c.Password = password
	return c
}

// siteConn connects as the site's own user over TCP (or the socket).
func siteConn(t *testing.T, c provision.DBCreds, socket string) *sql.DB {
	t.Helper()
	mc := mysql.NewConfig()
	mc.User, mc.Passwd, mc.DBName = c.User, c.Password, c.Name
	mc.Net, mc.Addr = "tcp", fmt.Sprintf("%s:%d", c.Host, c.Port)
	if socket != "" {
		mc.Net, mc.Addr = "unix", socket
	}
	mc.Timeout = 5 * time.Second
	conn, err := mysql.NewConnector(mc)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	t.Cleanup(func() { db.Close() })
	return db
}

func mustExec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// TestDriver runs the scenarios that share one server as parallel
// subtests, each on its own databases.
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
		if err := d.Check(context.Background()); !errors.Is(err, dberr.ErrAuthFailed) || dberr.Code(err) != "db_auth_failed" {
			t.Fatalf("Check with a wrong password = %v, want ErrAuthFailed", err)
		}
		if strings.Contains(d.Check(context.Background()).Error(), b.srv.AdminPassword) {
			t.Fatal("error carries the password")
		}
		var buf bytes.Buffer
		if err := d.Dump(context.Background(), creds(d, "aaaaaaaaaaaaaaaaaaa9", ""), &buf); !errors.Is(err, dberr.ErrAuthFailed) {
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

	// The site user works in its own database, over TCP and the socket.
	sa := siteConn(t, a, "")
	mustExec(t, sa, "CREATE TABLE hits (id BIGINT AUTO_INCREMENT PRIMARY KEY, path VARCHAR(255), body LONGBLOB)")
	for i := range 50 {
		mustExec(t, sa, "INSERT INTO hits (path, body) VALUES (?, ?)", fmt.Sprintf("/p%d", i), []byte{0, 1, 2, '\'', '\\', byte(i)})
	}
	var n int
	if err := siteConn(t, a, b.srv.Socket).QueryRow("SELECT COUNT(*) FROM hits").Scan(&n); err != nil || n != 50 {
		t.Fatalf("over the socket: %d rows, %v", n, err)
	}

	// ... and cannot reach the other site's database, nor see it.
	if _, err := sa.Exec("CREATE TABLE " + quoteIdent(other.Name) + ".stolen (x INT)"); err == nil {
		t.Fatal("site user created a table in another site's database")
	}
	if _, err := sa.Exec("USE " + quoteIdent(other.Name)); err == nil {
		t.Fatal("site user could USE another site's database")
	}
	dbs := queryStrings(t, sa, "SHOW DATABASES")
	if strings.Join(dbs, ",") != "information_schema,"+a.Name {
		t.Fatalf("site user sees databases %v", dbs)
	}
	if _, err := sa.Exec("CREATE DATABASE s_intruder"); err == nil {
		t.Fatal("site user could create a database")
	}

	// Dump, change, load: the data is back.
	var dump bytes.Buffer
	if err := d.Dump(ctx, a, &dump); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dump.String(), "CREATE TABLE `hits`") || strings.Contains(dump.String(), "CREATE DATABASE") {
		t.Fatalf("unexpected dump:\n%.500s", dump.String())
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
	var body []byte
	sa2 := siteConn(t, a, "")
	if err := sa2.QueryRow("SELECT body FROM hits WHERE path = '/p7'").Scan(&body); err != nil || !bytes.Equal(body, []byte{0, 1, 2, '\'', '\\', 7}) {
		t.Fatalf("binary data after load = %v, %v", body, err)
	}

	// Clone: the same dump into the other site's database.
	if err := d.Load(ctx, other, bytes.NewReader(dump.Bytes())); err != nil {
		t.Fatal(err)
	}
	if got, _ := d.Count(ctx, other, "hits"); got != 50 {
		t.Fatalf("cloned count = %d", got)
	}
	if _, err := siteConn(t, other, "").Exec("INSERT INTO hits (path) VALUES ('x')"); err != nil {
		t.Fatalf("other site user cannot write its loaded tables: %v", err)
	}

	// New password: the old one is refused, the new one works.
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

	// Drop leaves nothing, and twice is fine.
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
		"SELECT (SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '%[1]s') + "+
			"(SELECT COUNT(*) FROM mysql.user WHERE User = '%[2]s') + "+
			"(SELECT COUNT(*) FROM mysql.db WHERE User = '%[2]s')", c.Name, c.User)); got != "0" {
		t.Fatalf("%s left %s schema/user/grant rows behind", c.Name, got)
	}
}

func queryStrings(t *testing.T, db *sql.DB, q string) []string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		rows.Scan(&s)
		out = append(out, s)
	}
	return out
}

func testCrafted(t *testing.T, b *bundle) {
	ctx := context.Background()
	d := b.driver
	before := b.srv.Query(t, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE LEFT(SCHEMA_NAME, 21) <> 's_aaaaaaaaaaaaaaaaaaa'")
	users := b.srv.Query(t, "SELECT COUNT(*) FROM mysql.user WHERE LEFT(User, 21) <> 's_aaaaaaaaaaaaaaaaaaa'")
	for _, name := range []string{
		"s_x`; DROP DATABASE mysql; -- ",
		"s_x' OR '1'='1",
		"s_x\\",
		"-s_x",
		"--all-databases",
		"S_UPPER",
		"",
		strings.Repeat("a", 65),
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
		if _, err := d.Count(ctx, creds(d, "aaaaaaaaaaaaaaaaaaa3", ""), name); name != "S_UPPER" && !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("Count(table %q) = %v, want ErrInvalid", name, err)
		}
		if _, err := d.Size(ctx, c); !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("Size(%q) = %v, want ErrInvalid", name, err)
		}
	}
	if after := b.srv.Query(t, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE LEFT(SCHEMA_NAME, 21) <> 's_aaaaaaaaaaaaaaaaaaa'"); after != before {
		t.Fatalf("schemas %s -> %s", before, after)
	}
	if after := b.srv.Query(t, "SELECT COUNT(*) FROM mysql.user WHERE LEFT(User, 21) <> 's_aaaaaaaaaaaaaaaaaaa'"); after != users {
		t.Fatalf("users %s -> %s", users, after)
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
	if err := b.driver.Create(ctx, c2); !errors.Is(err, dberr.ErrExists) || dberr.Code(err) != "db_exists" {
		t.Fatalf("Create over an existing database = %v, want ErrExists", err)
	}
	if err := siteConn(t, c, "").Ping(); err != nil {
		t.Fatalf("refused Create changed the user's password: %v", err)
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
	pw := `it's a "p\w"; DROP USER x; -- ` + "\n\t\x00é"
	c := creds(b.driver, "aaaaaaaaaaaaaaaaaaa5", pw)
	if err := b.driver.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	defer b.driver.Drop(ctx, c)
	if err := siteConn(t, c, "").Ping(); err != nil {
		t.Fatalf("connect with an odd password: %v", err)
	}
	if out := b.srv.Query(t, "SELECT COUNT(*) FROM mysql.user WHERE authentication_string LIKE '%DROP%' OR Password LIKE '%DROP%'"); out != "0" {
		t.Fatal("the password is stored in clear")
	}
}

// testSize: an empty database is 0 bytes, one with 2,000 rows of 1,000
// bytes at least 2 MB once InnoDB's statistics are refreshed, and a
// database that does not exist is ErrNotFound, named in the error.
func testSize(t *testing.T, b *bundle) {
	ctx := context.Background()
	d := b.driver
	c := creds(d, "aaaaaaaaaaaaaaaaaaa7", "pw-size")
	if err := d.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	defer d.Drop(ctx, c)
	if n, err := d.Size(ctx, c); err != nil || n != 0 {
		t.Fatalf("size of an empty database = %d, %v; want 0", n, err)
	}
	sa := siteConn(t, c, "")
	mustExec(t, sa, "CREATE TABLE rows_1k (id INT AUTO_INCREMENT PRIMARY KEY, body VARCHAR(1000), KEY (body(100))) ENGINE=InnoDB")
	// 1,000 × 2 rows: max_recursive_iterations is 1,000 by default.
	mustExec(t, sa, "INSERT INTO rows_1k (body) WITH RECURSIVE seq (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 1000) "+
		"SELECT LPAD(seq.n * 2 + two.k, 1000, 'x') FROM seq, (SELECT 0 AS k UNION ALL SELECT 1) AS two")
	// InnoDB refreshes its statistics in the background; ANALYZE does it now.
	mustExec(t, sa, "ANALYZE TABLE rows_1k")
	n, err := d.Size(ctx, c)
	if err != nil || n < 2000*1000 {
		t.Fatalf("size with 2 MB of rows = %d, %v", n, err)
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

// TestServerDown stops the server: Check and Create fail with
// ErrUnreachable and, once it is back, nothing was created.
func TestServerDown(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.driver.Check(ctx); err != nil {
		t.Fatal(err)
	}
	b.srv.Stop(t)
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

// testharnessMariaDB and newBenchDriver serve the benchmarks.
func testharnessMariaDB(b *testing.B) *testharness.MariaDBServer { return testharness.MariaDB(b) }

func newBenchDriver(b *testing.B, srv *testharness.MariaDBServer) *Driver {
	host, portStr, _ := strings.Cut(srv.Addr, ":")
	var port int
	fmt.Sscanf(portStr, "%d", &port)
	d, err := New(Config{Host: host, Port: port, AdminUser: srv.AdminUser, AdminPassword: srv.AdminPassword}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	return d
}
