// Package dbtest is the conformance suite every provision.DBDriver passes
// (sqlite, MariaDB, PostgreSQL), run from each driver's own tests against
// a real server:
//
//	func TestConformance(t *testing.T) {
//		dbtest.Run(t, &dbtest.Harness{Kind: servicekind.MariaDB, Driver: d, Open: ..., ...})
//	}
//
// It checks the behaviour the back end relies on whatever the engine: a
// site's database and user are created, hold binary data, dump and load
// (replacing what was there, and into another site's database for a
// clone), change password, and drop leaving nothing, twice; names that are
// not NameFor's are refused with domain.ErrInvalid before the server sees
// them; a database that exists is never taken over; the failures the back
// end reports by code are dberr's; and the driver agrees with its kind's
// servicekind descriptor. What only one engine has (MariaDB's SHOW
// DATABASES, PostgreSQL's SCRAM verifiers, SQLite's WAL) is checked
// through the Harness's hooks or in the driver's own tests.
//
// The suite names its databases s_aaaaaaaaaaaaaaaaaaa<digit>, one digit
// per scenario, so scenarios run in parallel on one server and Census can
// leave them out.
package dbtest

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/provision/dberr"
	"github.com/aegirhq/aegir/internal/servicekind"
)

// Prefix starts the name of every database the suite creates.
const Prefix = "s_aaaaaaaaaaaaaaaaaaa"

// Harness is one driver under test and what the suite needs to look at
// its server from outside the driver.
type Harness struct {
	Kind servicekind.Kind
	// Driver holds the admin credentials. Required.
	Driver provision.DBDriver
	// Open connects as the site's own user (c.User, c.Password) to its
	// own database, as the site would. Required.
	Open func(t *testing.T, c provision.DBCreds) *sql.DB
	// Dialect is the engine's SQL for the suite's table. Required.
	Dialect Dialect
	// Census describes the server's databases and users whose names do
	// not start with Prefix, to show that refused calls created nothing.
	// Required.
	Census func(t *testing.T) string
	// Leftovers describes what remains of c's database and user on the
	// server; "" when nothing. Required.
	Leftovers func(t *testing.T, c provision.DBCreds) string
	// WithAdminPassword returns a driver on the same server logged in
	// with password; nil for a kind without admin credentials.
	WithAdminPassword func(t *testing.T, password string) provision.DBDriver
	// DefaultPort, when set, builds a driver for a service with no port
	// (without connecting) so the suite can check that it answers on its
	// descriptor's DefaultPort; nil for a kind without a server.
	DefaultPort func(t *testing.T) provision.DBDriver
	// FromSettings builds a driver for a service with the harness's
	// settings overridden by settings (without connecting) and returns
	// its error, so the suite can check that the driver refuses what the
	// descriptor's Validate refuses. Required.
	FromSettings func(t *testing.T, settings map[string]string) error
	// Passwords is false when the engine has no users (sqlite): Create
	// over an existing database then succeeds (a retried install) instead
	// of dberr.ErrExists, and passwords are not checked.
	Passwords bool
	// OddPassword is a password full of quotes and separators that Create
	// must take as it is. Default: one of ASCII quotes and SQL.
	OddPassword string
	// BadNames are more database names the engine must refuse, beyond the
	// suite's own.
	BadNames []string

	// Hooks for what only this engine has; each may be nil.

	// Isolated checks, after Create, that site cannot reach other.
	Isolated func(t *testing.T, site, other provision.DBCreds)
	// CheckDump checks a dump of the suite's table.
	CheckDump func(t *testing.T, dump string)
	// AfterLoad runs after a dump is loaded into site.
	AfterLoad func(t *testing.T, site provision.DBCreds)
	// PasswordHidden checks that c's password is not stored in clear.
	PasswordHidden func(t *testing.T, c provision.DBCreds)
}

// Dialect is the engine's SQL for the suite's tables.
type Dialect struct {
	// CreateHits creates table hits (id: auto-increment primary key, path:
	// text, body: binary).
	CreateHits string
	// InsertHit inserts one row into hits with two placeholders: path and
	// body.
	InsertHit string
	// Fill adds 2,000 rows of 1,000 bytes to a new table, for Size; empty
	// when the driver is not a provision.DBSizer.
	Fill []string
	// EmptySize is true when an empty database measures 0 bytes.
	EmptySize bool
}

// Creds returns the credentials of the suite's database number n on d.
func Creds(d provision.DBDriver, n int, password string) provision.DBCreds {
	c := d.Locate(fmt.Sprintf("%s%d", Prefix, n))
	c.Password = password
	return c
}

// Exec runs statements on db, failing the test on the first error.
func Exec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// Run runs the conformance scenarios as parallel subtests of t, each on
// its own databases.
func Run(t *testing.T, h *Harness) {
	t.Helper()
	t.Run("descriptor", func(t *testing.T) { t.Parallel(); testDescriptor(t, h) })
	t.Run("settings", func(t *testing.T) { t.Parallel(); testSettings(t, h.Kind, h.FromSettings) })
	t.Run("lifecycle", func(t *testing.T) { t.Parallel(); testLifecycle(t, h) })
	t.Run("crafted names", func(t *testing.T) { t.Parallel(); testCrafted(t, h) })
	t.Run("existing database", func(t *testing.T) { t.Parallel(); testExisting(t, h) })
	if h.Passwords {
		t.Run("odd password", func(t *testing.T) { t.Parallel(); testOddPassword(t, h) })
	}
	if _, ok := h.Driver.(provision.DBSizer); ok {
		t.Run("size", func(t *testing.T) { t.Parallel(); testSize(t, h) })
	}
	if h.WithAdminPassword != nil {
		t.Run("wrong admin password", func(t *testing.T) { t.Parallel(); testWrongAdmin(t, h) })
	}
}

func testDescriptor(t *testing.T, h *Harness) {
	desc, ok := servicekind.Lookup(h.Kind)
	if !ok || desc.Type != servicekind.DB {
		t.Fatalf("%s is not a db kind of servicekind", h.Kind)
	}
	c := Creds(h.Driver, 0, "")
	if c.Kind != string(h.Kind) || c.Name != Prefix+"0" || c.User != c.Name {
		t.Errorf("Locate = %+v, want kind %s and name and user %s0", c, h.Kind, Prefix)
	}
	if (h.WithAdminPassword != nil) != desc.Has(servicekind.AdminCredentials) {
		t.Errorf("the driver takes admin credentials: %v; its descriptor says %v", h.WithAdminPassword != nil, desc.Has(servicekind.AdminCredentials))
	}
	if _, ok := h.Driver.(provision.DBSizer); ok != (len(h.Dialect.Fill) > 0) {
		t.Errorf("the driver measures sizes: %v, but the harness has Fill statements: %v", ok, len(h.Dialect.Fill) > 0)
	}
	if !desc.Has(servicekind.DumpLoad) {
		t.Errorf("%s: every db driver dumps and loads, its descriptor says it does not", h.Kind)
	}
	if h.DefaultPort != nil {
		if got := Creds(h.DefaultPort(t), 0, "").Port; got != desc.DefaultPort {
			t.Errorf("a service without a port answers on %d, its descriptor's DefaultPort is %d", got, desc.DefaultPort)
		}
	} else if desc.DefaultPort != 0 {
		t.Errorf("the harness builds no driver with the default port, but the descriptor has DefaultPort %d", desc.DefaultPort)
	}
}

func testLifecycle(t *testing.T, h *Harness) {
	ctx := context.Background()
	d := h.Driver
	a := Creds(d, 1, "pw-a-"+strings.Repeat("x", 20))
	other := Creds(d, 2, "pw-b-"+strings.Repeat("y", 20))
	if err := d.Check(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []provision.DBCreds{a, other} {
		if err := d.Create(ctx, c); err != nil {
			t.Fatal(err)
		}
	}

	// The site user works in its own database.
	sa := h.Open(t, a)
	Exec(t, sa, h.Dialect.CreateHits)
	for i := range 50 {
		Exec(t, sa, h.Dialect.InsertHit, fmt.Sprintf("/p%d", i), binary(i))
	}
	if h.Isolated != nil {
		h.Isolated(t, a, other)
	}

	// Dump, change, load: the data is back, and only the dump's.
	var dump bytes.Buffer
	if err := d.Dump(ctx, a, &dump); err != nil {
		t.Fatal(err)
	}
	if h.CheckDump != nil {
		h.CheckDump(t, dump.String())
	}
	Exec(t, sa, "DELETE FROM hits WHERE id > 10")
	Exec(t, sa, "CREATE TABLE extra (x INT)")
	if got, err := d.Count(ctx, a, "hits"); err != nil || got != 10 {
		t.Fatalf("count after delete = %d, %v", got, err)
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
	if err := h.Open(t, a).QueryRow("SELECT body FROM hits WHERE path = '/p7'").Scan(&body); err != nil || !bytes.Equal(body, binary(7)) {
		t.Fatalf("binary data after load = %v, %v", body, err)
	}
	if h.AfterLoad != nil {
		h.AfterLoad(t, a)
	}

	// Clone: the same dump into the other site's database, which its own
	// user can then write.
	if err := d.Load(ctx, other, bytes.NewReader(dump.Bytes())); err != nil {
		t.Fatal(err)
	}
	if got, err := d.Count(ctx, other, "hits"); err != nil || got != 50 {
		t.Fatalf("cloned count = %d, %v", got, err)
	}
	Exec(t, h.Open(t, other), "INSERT INTO hits (path) VALUES ('x')")

	// New password: the old one is refused, the new one works.
	if err := d.SetPassword(ctx, a, "new-secret-1"); err != nil {
		t.Fatal(err)
	}
	if h.Passwords {
		if err := h.Open(t, a).Ping(); err == nil {
			t.Fatal("old password still accepted")
		}
		a.Password = "new-secret-1"
		if err := h.Open(t, a).Ping(); err != nil {
			t.Fatalf("new password refused: %v", err)
		}
	}

	// Drop leaves nothing, and twice is fine.
	for _, c := range []provision.DBCreds{a, other} {
		if err := d.Drop(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := d.Drop(ctx, c); err != nil {
			t.Fatalf("second drop: %v", err)
		}
		if left := h.Leftovers(t, c); left != "" {
			t.Fatalf("%s left %s behind", c.Name, left)
		}
	}
}

// binary is a row's body: bytes that break naive quoting.
func binary(i int) []byte { return []byte{0, 1, 2, '\'', '\\', '"', byte(i)} }

// badNames are refused by every engine.
var badNames = []string{
	"s_x`; DROP DATABASE mysql; -- ",
	`s_x"; DROP DATABASE postgres; --`,
	"s_x' OR '1'='1",
	"s_x\\",
	"-s_x",
	"--all-databases",
	"--dbname=postgres",
	"S_UPPER",
	"s x",
	"../etc/passwd",
	"a/b",
	"a\x00",
	"",
	strings.Repeat("a", 65),
}

func testCrafted(t *testing.T, h *Harness) {
	ctx := context.Background()
	d := h.Driver
	before := h.Census(t)
	sizer, _ := d.(provision.DBSizer)
	good := Creds(d, 3, "pw")
	for _, name := range append(badNames, h.BadNames...) {
		c := provision.DBCreds{Name: name, User: name, Password: "pw", Kind: string(h.Kind)}
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
		// Table names are identifiers too; S_UPPER is a valid table name.
		if _, err := d.Count(ctx, good, name); name != "S_UPPER" && !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("Count(table %q) = %v, want ErrInvalid", name, err)
		}
		if sizer != nil {
			if _, err := sizer.Size(ctx, c); !errors.Is(err, domain.ErrInvalid) {
				t.Errorf("Size(%q) = %v, want ErrInvalid", name, err)
			}
		}
	}
	if after := h.Census(t); after != before {
		t.Fatalf("refused calls changed the server: %s -> %s", before, after)
	}
}

func testExisting(t *testing.T, h *Harness) {
	ctx := context.Background()
	d := h.Driver
	c := Creds(d, 4, "first")
	if err := d.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	Exec(t, h.Open(t, c), "CREATE TABLE keep (x INT)")
	c2 := c
	c2.Password = "second"
	err := d.Create(ctx, c2)
	switch {
	case !h.Passwords && err != nil:
		t.Fatalf("Create over an existing database = %v, want nil (a retried install)", err)
	case h.Passwords && (!errors.Is(err, dberr.ErrExists) || dberr.Code(err) != "db_exists"):
		t.Fatalf("Create over an existing database = %v, want ErrExists", err)
	}
	if h.Passwords {
		if err := h.Open(t, c).Ping(); err != nil {
			t.Fatalf("refused Create changed the user's password: %v", err)
		}
	}
	if _, err := d.Count(ctx, c, "keep"); err != nil {
		t.Fatalf("a second Create touched the data: %v", err)
	}
	if err := d.Drop(ctx, c); err != nil {
		t.Fatal(err)
	}
}

func testOddPassword(t *testing.T, h *Harness) {
	ctx := context.Background()
	pw := h.OddPassword
	if pw == "" {
		pw = `it's a "p\w"; DROP USER x; -- $$` + "\n\t"
	}
	c := Creds(h.Driver, 5, pw)
	if err := h.Driver.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	defer h.Driver.Drop(ctx, c)
	if err := h.Open(t, c).Ping(); err != nil {
		t.Fatalf("connect with an odd password: %v", err)
	}
	if h.PasswordHidden != nil {
		h.PasswordHidden(t, c)
	}
}

// testSize: a database with 2,000 rows of 1,000 bytes measures at least
// 2 MB more than when it was empty (0 bytes when Dialect.EmptySize), and
// a database that does not exist is ErrNotFound, named in the error.
func testSize(t *testing.T, h *Harness) {
	ctx := context.Background()
	d := h.Driver
	sizer := d.(provision.DBSizer)
	c := Creds(d, 7, "pw-size")
	if err := d.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	defer d.Drop(ctx, c)
	empty, err := sizer.Size(ctx, c)
	if err != nil || (h.Dialect.EmptySize && empty != 0) || (!h.Dialect.EmptySize && empty <= 0) {
		t.Fatalf("size of an empty database = %d, %v", empty, err)
	}
	sa := h.Open(t, c)
	for _, q := range h.Dialect.Fill {
		Exec(t, sa, q)
	}
	n, err := sizer.Size(ctx, c)
	if err != nil || n-empty < 2000*1000 {
		t.Fatalf("size with 2 MB of rows = %d (empty %d), %v", n, empty, err)
	}
	if n > 64<<20 {
		t.Fatalf("size with 2 MB of rows = %d, counts more than this database", n)
	}
	missing := Creds(d, 8, "")
	_, err = sizer.Size(ctx, missing)
	if !errors.Is(err, domain.ErrNotFound) || !strings.Contains(err.Error(), missing.Name) {
		t.Fatalf("size of a missing database = %v, want ErrNotFound naming it", err)
	}
}

func testWrongAdmin(t *testing.T, h *Harness) {
	const secret = "wrong-admin-password"
	d := h.WithAdminPassword(t, secret)
	err := d.Check(context.Background())
	if !errors.Is(err, dberr.ErrAuthFailed) || dberr.Code(err) != "db_auth_failed" {
		t.Fatalf("Check with a wrong password = %v, want ErrAuthFailed", err)
	}
	if strings.Contains(err.Error(), secret) {
		t.Fatal("error carries the password")
	}
	if err := d.Dump(context.Background(), Creds(d, 9, ""), &bytes.Buffer{}); !errors.Is(err, dberr.ErrAuthFailed) {
		t.Fatalf("Dump with a wrong password = %v, want ErrAuthFailed", err)
	}
}

// ServerDown stops the server under d: Check, Create, Dump and Size fail
// with dberr.ErrUnreachable and, once it is back, nothing was created.
// Run it on a server of its own: the other scenarios cannot share it.
func ServerDown(t *testing.T, h *Harness, stop, start func(t testing.TB)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d := h.Driver
	if err := d.Check(ctx); err != nil {
		t.Fatal(err)
	}
	stop(t)
	c := Creds(d, 6, "pw")
	if err := d.Check(ctx); !errors.Is(err, dberr.ErrUnreachable) || dberr.Code(err) != "db_unreachable" {
		t.Fatalf("Check on a stopped server = %v, want ErrUnreachable", err)
	}
	if err := d.Create(ctx, c); !errors.Is(err, dberr.ErrUnreachable) {
		t.Fatalf("Create on a stopped server = %v, want ErrUnreachable", err)
	}
	if err := d.Dump(ctx, c, &bytes.Buffer{}); !errors.Is(err, dberr.ErrUnreachable) {
		t.Fatalf("Dump on a stopped server = %v, want ErrUnreachable", err)
	}
	if s, ok := d.(provision.DBSizer); ok {
		if _, err := s.Size(ctx, c); !errors.Is(err, dberr.ErrUnreachable) {
			t.Fatalf("Size on a stopped server = %v, want ErrUnreachable", err)
		}
	}
	start(t)
	if err := d.Check(ctx); err != nil {
		t.Fatalf("Check after restart: %v", err)
	}
	if left := h.Leftovers(t, c); left != "" {
		t.Fatalf("%s left %s behind", c.Name, left)
	}
}

// badSetting is a value every setting's Validate refuses.
const badSetting = "not valid; \n"

func testSettings(t *testing.T, kind servicekind.Kind, build func(t *testing.T, settings map[string]string) error) {
	desc, _ := servicekind.Lookup(kind)
	if err := build(t, nil); err != nil {
		t.Fatalf("the harness's own settings are refused: %v", err)
	}
	for _, s := range desc.Settings {
		if s.Validate == nil {
			continue
		}
		if err := s.Validate(badSetting); err == nil {
			t.Errorf("%s: the descriptor accepts %q", s.Key, badSetting)
		}
		if err := build(t, map[string]string{s.Key: badSetting}); err == nil {
			t.Errorf("%s: the descriptor refuses %q but the driver takes it", s.Key, badSetting)
		}
	}
}
