package dbtest

import (
	"bytes"
	"context"
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

// testSetAside checks provision.DBSetAside as restore uses it: the live
// database set aside, a dump loaded in its place, then either put back
// (the old rows, writable by the site) or the held copy dropped (the
// load stays). A holding place that exists is never overwritten.
func testSetAside(t *testing.T, h *Harness) {
	ctx := context.Background()
	d := h.Driver
	sa := d.(provision.DBSetAside)
	c := Creds(d, 0, "pw-aside-"+strings.Repeat("z", 20))
	if err := d.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := d.Drop(ctx, c); err != nil {
			t.Error(err)
		}
	}()
	site := h.Open(t, c)
	Exec(t, site, h.Dialect.CreateHits)
	for i := range 20 {
		Exec(t, site, h.Dialect.InsertHit, fmt.Sprintf("/p%d", i), binary(i))
	}
	site.Close()
	var dump bytes.Buffer
	if err := d.Dump(ctx, c, &dump); err != nil {
		t.Fatal(err)
	}
	Exec(t, h.Open(t, c), h.Dialect.InsertHit, "/more", binary(1))
	count := func(want int64) {
		t.Helper()
		if got, err := d.Count(ctx, c, "hits"); err != nil || got != want {
			t.Fatalf("count = %d, %v; want %d", got, err, want)
		}
	}
	for _, k := range []string{"", "A1", "x-y", "x'y", "a b", strings.Repeat("a", 25)} {
		if err := sa.SetAside(ctx, c, k); !errors.Is(err, domain.ErrInvalid) {
			t.Fatalf("SetAside with key %q = %v, want ErrInvalid", k, err)
		}
	}
	const key = "0aside0000000000key0"

	// Set aside, load, put back: the old rows, and the site writes them.
	if err := sa.SetAside(ctx, c, key); err != nil {
		t.Fatal(err)
	}
	if err := d.Load(ctx, c, bytes.NewReader(dump.Bytes())); err != nil {
		t.Fatal(err)
	}
	count(20)
	if err := sa.SetAside(ctx, c, key); err == nil {
		t.Fatal("SetAside over an existing holding place succeeded")
	}
	count(20)
	if err := sa.PutBack(ctx, c, key); err != nil {
		t.Fatal(err)
	}
	count(21)
	Exec(t, h.Open(t, c), h.Dialect.InsertHit, "/after-put-back", binary(2))
	count(22)

	// Set aside, load, drop the held copy: the load stays, and the
	// holding place is free again.
	for range 2 {
		if err := sa.SetAside(ctx, c, key); err != nil {
			t.Fatal(err)
		}
		if err := d.Load(ctx, c, bytes.NewReader(dump.Bytes())); err != nil {
			t.Fatal(err)
		}
		if err := sa.DropAside(ctx, c, key); err != nil {
			t.Fatal(err)
		}
		count(20)
	}
	if err := sa.DropAside(ctx, c, key); err != nil {
		t.Fatalf("second DropAside: %v", err)
	}
	Exec(t, h.Open(t, c), h.Dialect.InsertHit, "/after-drop", binary(3))
	count(21)
}
