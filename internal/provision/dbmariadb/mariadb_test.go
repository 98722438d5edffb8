package dbmariadb

import (
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/provision/dbtest"
	"github.com/aegirhq/aegir/internal/servicekind"
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

// harness is the dbtest conformance harness for a driver on srv.
func harness(t *testing.T, srv *testharness.MariaDBServer, d *Driver) *dbtest.Harness {
	return &dbtest.Harness{
		Kind:   servicekind.MariaDB,
		Driver: d,
		Open:   func(t *testing.T, c provision.DBCreds) *sql.DB { return siteConn(t, c, "") },
		Dialect: dbtest.Dialect{
			CreateHits: "CREATE TABLE hits (id BIGINT AUTO_INCREMENT PRIMARY KEY, path VARCHAR(255), body LONGBLOB)",
			InsertHit:  "INSERT INTO hits (path, body) VALUES (?, ?)",
			Fill: []string{
				"CREATE TABLE rows_1k (id INT AUTO_INCREMENT PRIMARY KEY, body VARCHAR(1000), KEY (body(100))) ENGINE=InnoDB",
				// 1,000 × 2 rows: max_recursive_iterations is 1,000 by default.
				"INSERT INTO rows_1k (body) WITH RECURSIVE seq (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 1000) " +
					"SELECT LPAD(seq.n * 2 + two.k, 1000, 'x') FROM seq, (SELECT 0 AS k UNION ALL SELECT 1) AS two",
				// InnoDB refreshes its statistics in the background; ANALYZE does it now.
				"ANALYZE TABLE rows_1k",
			},
			EmptySize: true,
		},
		Census: func(t *testing.T) string {
			return srv.Query(t, "SELECT CONCAT("+
				"(SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE LEFT(SCHEMA_NAME, 21) <> '"+dbtest.Prefix+"'), ' schemas, ', "+
				"(SELECT COUNT(*) FROM mysql.user WHERE LEFT(User, 21) <> '"+dbtest.Prefix+"'), ' users')")
		},
		Leftovers: func(t *testing.T, c provision.DBCreds) string {
			if got := srv.Query(t, fmt.Sprintf(
				"SELECT (SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '%[1]s') + "+
					"(SELECT COUNT(*) FROM mysql.user WHERE User = '%[2]s') + "+
					"(SELECT COUNT(*) FROM mysql.db WHERE User = '%[2]s')", c.Name, c.User)); got != "0" {
				return got + " schema/user/grant rows"
			}
			return ""
		},
		WithAdminPassword: func(t *testing.T, password string) provision.DBDriver { return newDriver(t, srv, password) },
		FromSettings: func(t *testing.T, settings map[string]string) error {
			host, port := splitAddr(t, srv.Addr)
			d, err := Factory(provision.ServiceInfo{ID: "db1", Type: "db", Kind: "mariadb", Port: port, Settings: settings},
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
		Passwords:   true,
		OddPassword: `it's a "p\w"; DROP USER x; -- ` + "\n\t\x00é",
		Isolated: func(t *testing.T, a, other provision.DBCreds) {
			// Over the socket too.
			var n int
			if err := siteConn(t, a, srv.Socket).QueryRow("SELECT COUNT(*) FROM hits").Scan(&n); err != nil || n != 50 {
				t.Fatalf("over the socket: %d rows, %v", n, err)
			}
			// The site user cannot reach the other site's database, nor see it.
			sa := siteConn(t, a, "")
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
		},
		CheckDump: func(t *testing.T, dump string) {
			if !strings.Contains(dump, "CREATE TABLE `hits`") || strings.Contains(dump, "CREATE DATABASE") {
				t.Fatalf("unexpected dump:\n%.500s", dump)
			}
		},
		PasswordHidden: func(t *testing.T, c provision.DBCreds) {
			if out := srv.Query(t, "SELECT COUNT(*) FROM mysql.user WHERE authentication_string LIKE '%DROP%' OR Password LIKE '%DROP%'"); out != "0" {
				t.Fatal("the password is stored in clear")
			}
		},
	}
}

// TestDriver runs the dbtest conformance suite on one server, its
// scenarios as parallel subtests.
func TestDriver(t *testing.T) {
	t.Parallel()
	b := setup(t)
	dbtest.Run(t, harness(t, b.srv, b.driver))
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

// TestServerDown stops the server: Check and Create fail with
// ErrUnreachable and, once it is back, nothing was created.
func TestServerDown(t *testing.T) {
	t.Parallel()
	b := setup(t)
	dbtest.ServerDown(t, harness(t, b.srv, b.driver), b.srv.Stop, b.srv.Start)
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

// TestAccountHosts: a site's account exists only for the hosts its web
// server connects from (the context's ClientHosts, else loopback), never
// for '%'; a wildcard in user_hosts or the context is refused.
func TestAccountHosts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	hosts := func(user string) string {
		return b.srv.Query(t, "SELECT GROUP_CONCAT(Host ORDER BY Host SEPARATOR ',') FROM mysql.user WHERE User = '"+user+"'")
	}
	remote := b.driver.Locate("s_remoteweb00000000000")
	remote.Password, remote.ClientHosts = "pw-remote", []string{"10.20.30.40"}
	if err := b.driver.Create(ctx, remote); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.driver.Drop(ctx, remote) })
	if got := hosts(remote.User); got != "10.20.30.40" {
		t.Errorf("web server at 10.20.30.40: account hosts %q, want only 10.20.30.40", got)
	}
	local := b.driver.Locate("s_localweb000000000000")
	local.Password = "pw-local"
	if err := b.driver.Create(ctx, local); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.driver.Drop(ctx, local) })
	if got := hosts(local.User); got != "127.0.0.1,::1,localhost" {
		t.Errorf("no context: account hosts %q, want loopback only", got)
	}
	bad := b.driver.Locate("s_wildcard000000000000")
	bad.Password, bad.ClientHosts = "pw", []string{"%"}
	if err := b.driver.Create(ctx, bad); err == nil {
		_ = b.driver.Drop(ctx, bad)
		t.Errorf("Create with client host '%%' succeeded")
	}
	if got := hosts(bad.User); got != "" && got != "NULL" {
		t.Errorf("refused create left accounts %q", got)
	}
	host, port := splitAddr(t, b.srv.Addr)
	_, err := Factory(provision.ServiceInfo{ID: "db1", Type: "db", Kind: "mariadb", Port: port, Settings: map[string]string{"user_hosts": "%,localhost"}},
		provision.ServerInfo{ID: "srv1", Name: "db1", Address: host}, map[string]string{"username": "root", "password": "x"}, provision.EnvInfo{}, nil)
	if err == nil {
		t.Errorf("user_hosts %%,localhost accepted")
	}
}

// TestSetAsideRefusesViews: a database with a view (or trigger, routine,
// event) cannot be moved by RENAME TABLE; SetAside says so with
// provision.ErrSetAsideUnsupported and changes nothing, so restore takes
// a safety backup instead.
func TestSetAsideRefusesViews(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	c := b.driver.Locate("s_asideview0000000000")
	c.Password = "pw-aside-view"
	if err := b.driver.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.driver.Drop(ctx, c) })
	site := siteConn(t, c, "")
	for _, q := range []string{"CREATE TABLE t (n INT)", "INSERT INTO t VALUES (1)", "CREATE VIEW v AS SELECT n FROM t"} {
		if _, err := site.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := b.driver.SetAside(ctx, c, "k1"); !errors.Is(err, provision.ErrSetAsideUnsupported) {
		t.Fatalf("SetAside of a database with a view = %v, want ErrSetAsideUnsupported", err)
	}
	if n, err := b.driver.Count(ctx, c, "t"); err != nil || n != 1 {
		t.Fatalf("after a refused SetAside: %d rows, %v", n, err)
	}
	if got := b.srv.Query(t, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '"+c.Name+"_ak1'"); got != "0" {
		t.Fatalf("a refused SetAside left its holding schema (%s)", got)
	}
}
