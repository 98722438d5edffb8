package dbsqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/provision/dbtest"
	"github.com/aegirhq/aegir/internal/servicekind"
	"github.com/aegirhq/aegir/internal/testharness"
)

type bundle struct {
	d   *Driver
	ctx context.Context
}

func setup(t *testing.T) bundle {
	t.Helper()
	svc := provision.ServiceInfo{ID: "svc", Kind: domain.KindSQLite}
	drv, err := New(svc, provision.ServerInfo{}, nil, provision.EnvInfo{DataDir: t.TempDir()}, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	d := drv.(*Driver)
	if err := d.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	return bundle{d: d, ctx: t.Context()}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// exec runs statements on the database file as a site would.
func exec(t *testing.T, creds provision.DBCreds, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", dsn(creds.Path, false))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func (b bundle) count(t *testing.T, creds provision.DBCreds, table string) int64 {
	t.Helper()
	n, err := b.d.Count(b.ctx, creds, table)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCreateDumpLoadRoundTrip(t *testing.T) {
	t.Parallel()
	b := setup(t)
	creds := b.d.Locate(provision.NameFor("0123456789abcdefghij"))
	if creds.Path != filepath.Join(b.d.Dir(), "s_0123456789abcdefghij.db") || creds.Kind != Kind || creds.User != creds.Name {
		t.Fatalf("Locate = %+v", creds)
	}
	if err := b.d.Create(b.ctx, creds); err != nil {
		t.Fatal(err)
	}
	if err := b.d.Create(b.ctx, creds); err != nil {
		t.Fatalf("second Create = %v, want nil (retried install)", err)
	}
	fi, err := os.Stat(creds.Path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("mode = %v, want 0640", fi.Mode().Perm())
	}
	exec(t, creds, "CREATE TABLE hits (id INTEGER PRIMARY KEY, note TEXT)",
		"INSERT INTO hits (note) VALUES ('one'), ('two'), ('three')")

	var dump bytes.Buffer
	if err := b.d.Dump(b.ctx, creds, &dump); err != nil {
		t.Fatal(err)
	}
	exec(t, creds, "INSERT INTO hits (note) VALUES ('after backup')", "CREATE TABLE extra (x)")
	if n := b.count(t, creds, "hits"); n != 4 {
		t.Fatalf("count before load = %d", n)
	}

	// Load over the live database while a connection is open.
	live, err := sql.Open("sqlite", dsn(creds.Path, false))
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	if err := live.Ping(); err != nil {
		t.Fatal(err)
	}
	if err := b.d.Load(b.ctx, creds, bytes.NewReader(dump.Bytes())); err != nil {
		t.Fatal(err)
	}
	if n := b.count(t, creds, "hits"); n != 3 {
		t.Fatalf("count after load = %d, want 3", n)
	}
	if _, err := b.d.Count(b.ctx, creds, "extra"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("table created after the dump survived the load: %v", err)
	}
	var n int
	if err := live.QueryRow("SELECT count(*) FROM hits").Scan(&n); err != nil || n != 3 {
		t.Fatalf("open connection sees %d rows, %v; want 3", n, err)
	}
	var mode string
	if err := live.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal mode after load = %q, %v; want wal", mode, err)
	}

	// Load into a database that does not exist yet (clone to a new site).
	clone := b.d.Locate(provision.NameFor("clone0000000000000000"[:20]))
	if err := b.d.Load(b.ctx, clone, bytes.NewReader(dump.Bytes())); err != nil {
		t.Fatal(err)
	}
	if n := b.count(t, clone, "hits"); n != 3 {
		t.Fatalf("clone count = %d, want 3", n)
	}

	if err := b.d.SetPassword(b.ctx, creds, "x"); err != nil {
		t.Fatal(err)
	}
	if err := b.d.Drop(b.ctx, creds); err != nil {
		t.Fatal(err)
	}
	if err := b.d.Drop(b.ctx, creds); err != nil {
		t.Fatalf("second Drop = %v", err)
	}
	live.Close()
	entries, _ := os.ReadDir(b.d.Dir())
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), creds.Name) || strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

func TestLoadRefusesGarbage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	creds := b.d.Locate("s_aaaaaaaaaaaaaaaaaaaa")
	if err := b.d.Create(b.ctx, creds); err != nil {
		t.Fatal(err)
	}
	exec(t, creds, "CREATE TABLE t (x)", "INSERT INTO t VALUES (1)")
	var dump bytes.Buffer
	if err := b.d.Dump(b.ctx, creds, &dump); err != nil {
		t.Fatal(err)
	}
	// Whole by its header's size (checked while the stream goes on),
	// but its second page (the table's) overwritten.
	damaged := bytes.Clone(dump.Bytes())
	if headerSize(damaged) != int64(len(damaged)) || len(damaged) < 8192 {
		t.Fatalf("dump of %d bytes, header says %d", len(damaged), headerSize(damaged))
	}
	for i := 4096; i < 8192; i++ {
		damaged[i] = 0xa5
	}
	for name, in := range map[string][]byte{
		"sql text":  []byte("CREATE TABLE evil (x); INSERT INTO evil VALUES (1);"),
		"truncated": dump.Bytes()[:dump.Len()/2],
		"damaged":   damaged,
		"empty":     nil,
	} {
		err := b.d.Load(b.ctx, creds, bytes.NewReader(in))
		if err == nil {
			t.Errorf("%s: Load succeeded", name)
		}
		if n := b.count(t, creds, "t"); n != 1 {
			t.Errorf("%s: database changed by a refused load: %d rows", name, n)
		}
	}
}

func TestBadNamesRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, name := range []string{"", "../etc/passwd", "a/b", "S_UPPER", "1abc", "x;drop", "a b", "s_" + strings.Repeat("a", 70), "a\x00"} {
		creds := provision.DBCreds{Name: name}
		if err := b.d.Create(b.ctx, creds); !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("Create(%q) = %v, want ErrInvalid", name, err)
		}
		if err := b.d.Drop(b.ctx, creds); !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("Drop(%q) = %v, want ErrInvalid", name, err)
		}
	}
	good := b.d.Locate("s_bbbbbbbbbbbbbbbbbbbb")
	if err := b.d.Create(b.ctx, good); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"", `t"; DROP TABLE t; --`, "a b", "1t", "t.x", strings.Repeat("a", 65)} {
		if _, err := b.d.Count(b.ctx, good, table); !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("Count(%q) = %v, want ErrInvalid", table, err)
		}
	}
	// A context that points the driver at another file is refused.
	evil := good
	evil.Path = "/etc/passwd"
	if err := b.d.Drop(b.ctx, evil); !errors.Is(err, domain.ErrInvalid) {
		t.Errorf("Drop with foreign path = %v, want ErrInvalid", err)
	}
	if _, err := Open("relative/dir", nil); err == nil {
		t.Error("Open accepted a relative dir")
	}
	if _, err := b.d.Count(b.ctx, b.d.Locate("s_missing0000000000000"[:22]), "t"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("Count on missing db = %v, want ErrNotFound", err)
	}
}

// TestDumpWithConcurrentWriters dumps while writers commit; every dump must
// load and hold a consistent prefix (rows 1..n with no gaps), and writers
// must not fail.
func TestDumpWithConcurrentWriters(t *testing.T) {
	t.Parallel()
	b := setup(t)
	creds := b.d.Locate("s_cccccccccccccccccccc")
	if err := b.d.Create(b.ctx, creds); err != nil {
		t.Fatal(err)
	}
	exec(t, creds, "CREATE TABLE seq (n INTEGER PRIMARY KEY, pair INTEGER NOT NULL)")

	ctx, cancel := context.WithCancel(b.ctx)
	var wg sync.WaitGroup
	var written atomic.Int64
	writerErr := make(chan error, 4)
	for w := range 4 {
		wg.Go(func() {
			db, err := sql.Open("sqlite", dsn(creds.Path, false))
			if err != nil {
				writerErr <- err
				return
			}
			defer db.Close()
			for i := 0; ctx.Err() == nil && i < 2000; i++ {
				// Two rows per transaction: a dump must never hold one without the other.
				tx, err := db.Begin()
				if err != nil {
					writerErr <- err
					return
				}
				v := int64(w*100000 + i)
				if _, err := tx.Exec("INSERT INTO seq (pair) VALUES (?), (?)", v, v); err != nil {
					tx.Rollback()
					writerErr <- fmt.Errorf("writer %d: %w", w, err)
					return
				}
				if err := tx.Commit(); err != nil {
					writerErr <- fmt.Errorf("writer %d commit: %w", w, err)
					return
				}
				written.Add(2)
			}
		})
	}

	for written.Load() < 10 {
		time.Sleep(time.Millisecond)
	}
	for i := range 5 {
		var dump bytes.Buffer
		if err := b.d.Dump(b.ctx, creds, &dump); err != nil {
			t.Fatal(err)
		}
		target := b.d.Locate(fmt.Sprintf("s_dump%016d", i))
		if err := b.d.Load(b.ctx, target, &dump); err != nil {
			t.Fatal(err)
		}
		db, err := sql.Open("sqlite", dsn(target.Path, true))
		if err != nil {
			t.Fatal(err)
		}
		var odd int
		if err := db.QueryRow("SELECT count(*) FROM (SELECT pair FROM seq GROUP BY pair HAVING count(*) != 2)").Scan(&odd); err != nil {
			t.Fatal(err)
		}
		db.Close()
		if odd != 0 {
			t.Fatalf("dump %d holds %d half-written transactions", i, odd)
		}
	}
	cancel()
	wg.Wait()
	close(writerErr)
	for err := range writerErr {
		t.Fatal(err)
	}
	if written.Load() == 0 {
		t.Fatal("writers wrote nothing")
	}
	t.Logf("%d rows written during 5 dumps", written.Load())
}

func FuzzValidateName(f *testing.F) {
	for _, s := range testharness.HostileInputs {
		f.Add(s)
	}
	for _, s := range []string{"s_0123456789abcdefghij", "../x", "a", "A", "a-b_c", "a\"b", "a.db"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidateName(s) != nil {
			return
		}
		if strings.ContainsAny(s, "/.\\\"'` ;\x00") || filepath.Base(s) != s || len(s) > 63 {
			t.Fatalf("accepted %q", s)
		}
	})
}

// TestConformance runs the dbtest suite: sqlite has no server, no users
// and no passwords, so the harness has no admin password, default port or
// server-down scenario, and a second Create succeeds (a retried install).
func TestConformance(t *testing.T) {
	t.Parallel()
	b := setup(t)
	others := func(t *testing.T, keep func(name string) bool) string {
		entries, err := os.ReadDir(b.d.Dir())
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range entries {
			if keep(e.Name()) {
				out = append(out, e.Name())
			}
		}
		return strings.Join(out, ",")
	}
	dbtest.Run(t, &dbtest.Harness{
		Kind:   servicekind.SQLite,
		Driver: b.d,
		Open: func(t *testing.T, c provision.DBCreds) *sql.DB {
			db, err := sql.Open("sqlite", dsn(c.Path, false))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		},
		Dialect: dbtest.Dialect{
			CreateHits: "CREATE TABLE hits (id INTEGER PRIMARY KEY, path TEXT, body BLOB)",
			InsertHit:  "INSERT INTO hits (path, body) VALUES (?, ?)",
		},
		FromSettings: func(t *testing.T, settings map[string]string) error {
			_, err := New(provision.ServiceInfo{ID: "svc", Kind: domain.KindSQLite, Settings: settings}, provision.ServerInfo{}, nil,
				provision.EnvInfo{DataDir: t.TempDir()}, nil)
			return err
		},
		Census: func(t *testing.T) string {
			return others(t, func(n string) bool { return !strings.HasPrefix(n, dbtest.Prefix) })
		},
		Leftovers: func(t *testing.T, c provision.DBCreds) string {
			return others(t, func(n string) bool { return strings.HasPrefix(n, c.Name) })
		},
	})
}

// A database at rest (no WAL frames) is dumped and set aside as its file;
// one whose WAL holds committed frames (a site's connection still open)
// through SQLite's pages, and both copies hold every committed row.
func TestCopyAtRestOnlyWithoutWALFrames(t *testing.T) {
	t.Parallel()
	b := setup(t)
	creds := b.d.Locate("s_rrrrrrrrrrrrrrrrrrrr")
	if err := b.d.Create(b.ctx, creds); err != nil {
		t.Fatal(err)
	}
	exec(t, creds, "CREATE TABLE t (v TEXT)", "INSERT INTO t VALUES ('a'), ('b')")
	file, err := os.ReadFile(creds.Path)
	if err != nil {
		t.Fatal(err)
	}
	var dump bytes.Buffer
	if n, ok, err := copyAtRest(b.ctx, creds.Path, &dump); err != nil || !ok || n != int64(len(file)) || !bytes.Equal(dump.Bytes(), file) {
		t.Fatalf("copyAtRest of a database at rest = %d, %v, %v; want the file's %d bytes", n, ok, err, len(file))
	}

	site, err := sql.Open("sqlite", dsn(creds.Path, false))
	if err != nil {
		t.Fatal(err)
	}
	defer site.Close()
	if _, err := site.Exec("INSERT INTO t VALUES ('c')"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(creds.Path + "-wal"); err != nil || fi.Size() == 0 {
		t.Fatalf("expected WAL frames from the open connection: %v", err)
	}
	dump.Reset()
	if _, ok, err := copyAtRest(b.ctx, creds.Path, &dump); err != nil || ok || dump.Len() != 0 {
		t.Fatalf("copyAtRest with WAL frames = %v, %v (%d bytes written); want a refusal", ok, err, dump.Len())
	}
	if err := b.d.Dump(b.ctx, creds, &dump); err != nil {
		t.Fatal(err)
	}
	other := b.d.Locate("s_rrrrrrrrrrrrrrrrrrrs")
	if err := b.d.Load(b.ctx, other, &dump); err != nil {
		t.Fatal(err)
	}
	if n := b.count(t, other, "t"); n != 3 {
		t.Fatalf("dump with WAL frames holds %d rows, want 3", n)
	}
	if err := b.d.SetAside(b.ctx, creds, "k1"); err != nil {
		t.Fatal(err)
	}
	if err := b.d.Load(b.ctx, creds, bytes.NewReader(file)); err != nil {
		t.Fatal(err)
	}
	if n := b.count(t, creds, "t"); n != 2 {
		t.Fatalf("after load: %d rows, want 2", n)
	}
	if err := b.d.PutBack(b.ctx, creds, "k1"); err != nil {
		t.Fatal(err)
	}
	if n := b.count(t, creds, "t"); n != 3 {
		t.Fatalf("after put back: %d rows, want 3", n)
	}
}

// SetAside holds a WAL database as a second link of its file; with no
// connection open, Load and PutBack rename files into place instead of
// copying pages (the old file's WAL checkpointed into it first, never
// applied to the new), and each step leaves a sound database holding
// what it should. A PutBack without a Load only drops the link.
func TestPlacedByRenameWhenNoConnectionIsOpen(t *testing.T) {
	t.Parallel()
	b := setup(t)
	src := b.d.Locate("s_pppppppppppppppppppp")
	if err := b.d.Create(b.ctx, src); err != nil {
		t.Fatal(err)
	}
	exec(t, src, "CREATE TABLE t (v TEXT)", "INSERT INTO t VALUES ('a'), ('b')")
	var dump bytes.Buffer
	if err := b.d.Dump(b.ctx, src, &dump); err != nil {
		t.Fatal(err)
	}
	// A database whose WAL holds a committed row no checkpoint has
	// copied (as a killed site process leaves it): the files copied
	// while a connection is open.
	site, err := sql.Open("sqlite", dsn(src.Path, false))
	if err != nil {
		t.Fatal(err)
	}
	defer site.Close()
	if _, err := site.Exec("PRAGMA wal_autocheckpoint=0; INSERT INTO t VALUES ('c')"); err != nil {
		t.Fatal(err)
	}
	creds := b.d.Locate("s_qqqqqqqqqqqqqqqqqqqq")
	for _, suffix := range []string{"", "-wal"} {
		data, err := os.ReadFile(src.Path + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if suffix == "-wal" && len(data) == 0 {
			t.Fatal("expected WAL frames")
		}
		if err := os.WriteFile(creds.Path+suffix, data, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	inode := func(p string) uint64 {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	first := inode(creds.Path)
	_, hold, _ := b.d.asidePath(creds, "k2")

	// Set aside and put back with nothing loaded in between.
	if err := b.d.SetAside(b.ctx, creds, "k1"); err != nil {
		t.Fatal(err)
	}
	if err := b.d.PutBack(b.ctx, creds, "k1"); err != nil {
		t.Fatal(err)
	}
	if inode(creds.Path) != first || b.count(t, creds, "t") != 3 {
		t.Fatal("SetAside then PutBack changed the database")
	}
	if m, _ := filepath.Glob(filepath.Join(b.d.Dir(), ".*aside*")); len(m) != 0 {
		t.Fatalf("left after PutBack: %v", m)
	}

	if err := b.d.SetAside(b.ctx, creds, "k2"); err != nil {
		t.Fatal(err)
	}
	if inode(hold) != first || inode(creds.Path) != first {
		t.Fatal("want the held name to be a link of the database's file, the database in place")
	}
	if err := b.d.Load(b.ctx, creds, bytes.NewReader(dump.Bytes())); err != nil {
		t.Fatal(err)
	}
	if inode(creds.Path) == first || inode(hold) != first {
		t.Error("Load over a database no one has open copied pages; want the file renamed into place")
	}
	if n := b.count(t, creds, "t"); n != 2 {
		t.Fatalf("after load: %d rows, want 2", n)
	}
	exec(t, creds, "INSERT INTO t VALUES ('d')") // leaves no WAL frames once closed
	second := inode(creds.Path)
	if err := b.d.Load(b.ctx, creds, bytes.NewReader(dump.Bytes())); err != nil {
		t.Fatal(err)
	}
	if inode(creds.Path) == second {
		t.Error("a second Load copied pages; want the file renamed into place")
	}
	if n := b.count(t, creds, "t"); n != 2 {
		t.Fatalf("after a second load: %d rows, want 2", n)
	}

	if err := b.d.PutBack(b.ctx, creds, "k2"); err != nil {
		t.Fatal(err)
	}
	if inode(creds.Path) != first {
		t.Error("PutBack over a database no one has open copied pages; want the held file renamed back")
	}
	if _, err := os.Stat(hold); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("held file after PutBack: %v", err)
	}
	if n := b.count(t, creds, "t"); n != 3 {
		t.Fatalf("after put back: %d rows, want 3 (the WAL's row included)", n)
	}
	if err := quickCheck(b.ctx, creds.Path); err != nil {
		t.Fatal(err)
	}
	exec(t, creds, "INSERT INTO t VALUES ('e')")
	if n := b.count(t, creds, "t"); n != 4 {
		t.Fatalf("after a write: %d rows, want 4", n)
	}
}

// A held link of a database a connection keeps open gets a copy of its
// own before Load copies pages into the database's file.
func TestLinkedHoldCopiedBeforePageCopy(t *testing.T) {
	t.Parallel()
	b := setup(t)
	creds := b.d.Locate("s_llllllllllllllllllll")
	if err := b.d.Create(b.ctx, creds); err != nil {
		t.Fatal(err)
	}
	exec(t, creds, "CREATE TABLE t (v TEXT)", "INSERT INTO t VALUES ('a')")
	var dump bytes.Buffer
	if err := b.d.Dump(b.ctx, creds, &dump); err != nil {
		t.Fatal(err)
	}
	exec(t, creds, "INSERT INTO t VALUES ('b')")
	site, err := sql.Open("sqlite", dsn(creds.Path, false))
	if err != nil {
		t.Fatal(err)
	}
	defer site.Close()
	if err := b.d.SetAside(b.ctx, creds, "k3"); err != nil {
		t.Fatal(err)
	}
	if _, err := site.Exec("INSERT INTO t VALUES ('c')"); err != nil { // after SetAside, before Load: kept too
		t.Fatal(err)
	}
	fi, _ := os.Stat(creds.Path)
	if err := b.d.Load(b.ctx, creds, bytes.NewReader(dump.Bytes())); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(creds.Path)
	if !os.SameFile(fi, after) {
		t.Fatal("Load renamed over a database a connection has open")
	}
	var n int
	if err := site.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil || n != 1 {
		t.Fatalf("the open connection sees %d rows, %v; want 1", n, err)
	}
	_, hold, _ := b.d.asidePath(creds, "k3")
	if hi, err := os.Stat(hold); err != nil || os.SameFile(hi, after) {
		t.Fatalf("held copy: %v; want a file of its own", err)
	}
	if err := b.d.PutBack(b.ctx, creds, "k3"); err != nil {
		t.Fatal(err)
	}
	if err := site.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil || n != 3 {
		t.Fatalf("after put back the open connection sees %d rows, %v; want 3", n, err)
	}
}
