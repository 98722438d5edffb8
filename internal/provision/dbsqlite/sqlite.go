package dbsqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	sqlite "modernc.org/sqlite"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/servicekind"
)

// Kind is the DBCreds.Kind of SQLite databases.
const Kind = string(servicekind.SQLite)

// busyTimeout is how long a statement waits for another connection's lock.
const busyTimeout = 10 * time.Second

// Driver manages SQLite database files in one directory.
type Driver struct {
	dir string
	log *slog.Logger
}

var (
	_ provision.DBDriver  = (*Driver)(nil)
	_ provision.DBFactory = New
)

// New is the provision.DBFactory for sqlite services. The directory is the
// service setting "dir", default <DataDir>/sqlite; admin is ignored.
func New(svc provision.ServiceInfo, _ provision.ServerInfo, _ map[string]string, env provision.EnvInfo, log *slog.Logger) (provision.DBDriver, error) {
	dir := svc.Settings["dir"]
	if dir == "" {
		if env.DataDir == "" {
			return nil, fmt.Errorf("sqlite service %s has no \"dir\" setting and the context has no data_dir: set one of them", svc.ID)
		}
		dir = filepath.Join(env.DataDir, "sqlite")
	}
	return Open(dir, log)
}

// Open returns a driver for the databases in dir, an absolute clean path of
// safe characters (letters, digits, '/', '.', '_', '-'). The directory is
// created by Check and Create when missing. log may be nil.
func Open(dir string, log *slog.Logger) (*Driver, error) {
	if err := domain.ValidatePath("sqlite dir", dir, nil); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Driver{dir: dir, log: log.With("component", "dbsqlite")}, nil
}

// Dir returns the directory holding the database files.
func (d *Driver) Dir() string { return d.dir }

// ValidateName checks a database name: NameFor's "s_" and 20 of [0-9a-z],
// or more generally 1 to 63 characters of [a-z0-9_-] starting with a letter.
func ValidateName(name string) error {
	if name == "" || len(name) > 63 || !(name[0] >= 'a' && name[0] <= 'z') {
		return domain.Invalid("database name", "%q must be 1 to 63 characters starting with a lowercase letter", domain.Clip(name))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return domain.Invalid("database name", "%q may contain only lowercase letters, digits, '_' and '-'", domain.Clip(name))
		}
	}
	return nil
}

// ValidateTable checks a table name for Count: 1 to 64 characters of
// letters, digits and '_', not starting with a digit.
func ValidateTable(table string) error {
	if table == "" || len(table) > 64 || table[0] >= '0' && table[0] <= '9' {
		return domain.Invalid("table", "%q must be 1 to 64 characters, not starting with a digit", domain.Clip(table))
	}
	for i := 0; i < len(table); i++ {
		c := table[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return domain.Invalid("table", "%q may contain only letters, digits and '_'", domain.Clip(table))
		}
	}
	return nil
}

// quoteIdent double-quotes an SQLite identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// Locate returns where the database called name lives.
func (d *Driver) Locate(name string) provision.DBCreds {
	return provision.DBCreds{Name: name, User: name, Kind: Kind, Path: filepath.Join(d.dir, name+".db")}
}

// path validates db and returns its file. A Path in db that is not where
// this driver keeps the database is refused, so a context cannot point the
// driver at an arbitrary file.
func (d *Driver) path(db provision.DBCreds) (string, error) {
	if err := ValidateName(db.Name); err != nil {
		return "", err
	}
	p := filepath.Join(d.dir, db.Name+".db")
	if db.Path != "" && db.Path != p {
		return "", domain.Invalid("database path", "%q is not %s, where this sqlite service keeps database %s", domain.Clip(db.Path), p, db.Name)
	}
	return p, nil
}

// dsn is the modernc URI for a validated path.
func dsn(path string, readOnly bool) string {
	q := fmt.Sprintf("?_pragma=busy_timeout(%d)", busyTimeout.Milliseconds())
	if readOnly {
		q += "&mode=ro"
	}
	return "file:" + path + q
}

func (d *Driver) mkdir() error {
	if err := os.MkdirAll(d.dir, 0o750); err != nil {
		return fmt.Errorf("create sqlite dir: %w", err)
	}
	return nil
}

// Check verifies the directory is writable and the SQLite engine works.
func (d *Driver) Check(ctx context.Context) error {
	if err := d.mkdir(); err != nil {
		return err
	}
	f, err := os.CreateTemp(d.dir, ".check-*")
	if err != nil {
		return fmt.Errorf("sqlite dir %s is not writable by this user: %w", d.dir, err)
	}
	f.Close()
	os.Remove(f.Name())
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		return err
	}
	defer db.Close()
	var v string
	if err := db.QueryRowContext(ctx, "SELECT sqlite_version()").Scan(&v); err != nil {
		return fmt.Errorf("sqlite engine: %w", err)
	}
	d.log.DebugContext(ctx, "sqlite ok", "version", v, "dir", d.dir)
	return nil
}

// Create makes the database file (mode 0640) in WAL mode. An existing
// database is kept as it is, so a retried install does not fail.
func (d *Driver) Create(ctx context.Context, db provision.DBCreds) error {
	p, err := d.path(db)
	if err != nil {
		return err
	}
	if err := d.mkdir(); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("create database file: %w", err)
	}
	f.Close()
	if err := os.Chmod(p, 0o640); err != nil {
		return err
	}
	conn, err := sql.Open("sqlite", dsn(p, false))
	if err != nil {
		return err
	}
	defer conn.Close()
	var mode string
	if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode); err != nil {
		return fmt.Errorf("initialise database %s: %w", db.Name, err)
	}
	d.log.InfoContext(ctx, "created sqlite database", "name", db.Name, "path", p)
	return nil
}

// Drop removes the database file and its -wal, -shm and -journal files.
// A missing database is not an error.
func (d *Driver) Drop(ctx context.Context, db provision.DBCreds) error {
	p, err := d.path(db)
	if err != nil {
		return err
	}
	for _, f := range []string{p, p + "-wal", p + "-shm", p + "-journal"} {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("drop database %s: %w", db.Name, err)
		}
	}
	d.log.InfoContext(ctx, "dropped sqlite database", "name", db.Name)
	return nil
}

// Dump writes a consistent binary copy of the database to w (see the
// package doc).
func (d *Driver) Dump(ctx context.Context, db provision.DBCreds, w io.Writer) error {
	p, err := d.path(db)
	if err != nil {
		return err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("dump database %s: %w", db.Name, notFound(err))
	}
	if n, ok, err := copyAtRest(ctx, p, w); ok || err != nil {
		if err != nil {
			return fmt.Errorf("dump database %s: %w", db.Name, err)
		}
		d.log.InfoContext(ctx, "dumped sqlite database", "name", db.Name, "bytes", n, "file_at_rest", true)
		return nil
	}
	var walSize int64
	if wi, err := os.Stat(p + "-wal"); err == nil {
		walSize = wi.Size()
	}
	if fi.Size()+walSize <= maxSerialize {
		return d.dumpSerialized(ctx, db, p, w)
	}
	tmp, err := tempName(d.dir, "."+db.Name+".dump-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	conn, err := sql.Open("sqlite", dsn(p, false))
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "VACUUM INTO ?", tmp); err != nil {
		return fmt.Errorf("snapshot database %s: %w", db.Name, err)
	}
	f, err := os.Open(tmp)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(w, f)
	if err != nil {
		return fmt.Errorf("write dump of %s: %w", db.Name, err)
	}
	d.log.InfoContext(ctx, "dumped sqlite database", "name", db.Name, "bytes", n)
	return nil
}

// maxSerialize is the largest database (file and WAL) Dump copies through
// memory; a larger one is snapshotted to a temp file with VACUUM INTO.
const maxSerialize = 64 << 20

// dumpSerialized writes a consistent copy of the database's pages, read in
// one read transaction into memory (sqlite3_serialize), to w: no temp
// file and no rebuild, which VACUUM INTO costs (its time and I/O were most
// of a small site's backup).
func (d *Driver) dumpSerialized(ctx context.Context, db provision.DBCreds, p string, w io.Writer) error {
	image, err := serialize(ctx, p)
	if err != nil {
		return fmt.Errorf("snapshot database %s: %w", db.Name, err)
	}
	if _, err := w.Write(image); err != nil {
		return fmt.Errorf("write dump of %s: %w", db.Name, err)
	}
	d.log.InfoContext(ctx, "dumped sqlite database", "name", db.Name, "bytes", len(image))
	return nil
}

// copyAtRest copies the database file at p to w as it is, inside one read
// transaction, when that is a consistent copy: the database is not in WAL
// mode (the read transaction's shared lock keeps every writer from
// committing), or its WAL holds no frames once the transaction has begun
// (the snapshot is then the database file alone, and no checkpoint may
// write into the file while a reader of it alone is open). It reports
// false, having written nothing, when the WAL holds frames (the caller
// then serializes the pages through SQLite). The file is copied by the
// kernel where w is a file; either way SQLite's page-by-page read,
// which was most of a small site's dump, is skipped.
func copyAtRest(ctx context.Context, p string, w io.Writer) (int64, bool, error) {
	pool, err := sql.Open("sqlite", dsn(p, true))
	if err != nil {
		return 0, false, err
	}
	defer pool.Close()
	conn, err := pool.Conn(ctx)
	if err != nil {
		return 0, false, err
	}
	defer conn.Close()
	var mode string
	if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return 0, false, err
	}
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		return 0, false, err
	}
	defer func() { _, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK") }()
	var n int64
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil {
		return 0, false, err // the read transaction starts at its first read
	}
	if strings.EqualFold(mode, "wal") {
		if fi, err := os.Stat(p + "-wal"); err == nil && fi.Size() > 0 {
			return 0, false, nil
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return 0, false, err
		}
	}
	f, err := os.Open(p)
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	n, err = io.Copy(w, f)
	return n, true, err
}

// serialize returns a consistent copy of the database file at p, read in
// one read transaction (sqlite3_serialize).
func serialize(ctx context.Context, p string) ([]byte, error) {
	pool, err := sql.Open("sqlite", dsn(p, true))
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	conn, err := pool.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	type serializer interface{ Serialize() ([]byte, error) }
	var image []byte
	err = conn.Raw(func(dc any) error {
		s, ok := dc.(serializer)
		if !ok {
			return fmt.Errorf("sqlite driver cannot serialize")
		}
		var err error
		image, err = s.Serialize()
		return err
	})
	return image, err
}

// Load replaces the database's contents with a dump made by Dump (see the
// package doc). On any error the database is left as it was.
func (d *Driver) Load(ctx context.Context, db provision.DBCreds, r io.Reader) error {
	p, err := d.path(db)
	if err != nil {
		return err
	}
	if err := d.mkdir(); err != nil {
		return err
	}
	f, err := os.CreateTemp(d.dir, "."+db.Name+".load-*.db")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer removeDB(tmp)
	if err := f.Chmod(0o640); err != nil {
		f.Close()
		return err
	}
	// The check starts as soon as the file holds as many bytes as its
	// header says the database has, while the rest of the stream comes
	// (a restore's dump ends only once the whole archive has verified).
	ca := &checkAhead{ctx: ctx, f: f, path: tmp}
	size, err := io.Copy(ca, ctxReader{ctx, r})
	if err != nil {
		f.Close()
		ca.wait()
		return fmt.Errorf("read dump for %s: %w", db.Name, err)
	}
	if size == 0 {
		f.Close()
		return fmt.Errorf("dump for %s is empty: a dump always holds at least the database header; the database was not changed", db.Name)
	}
	// No fsync: the temp file is renamed into place or read back by the
	// page copy; either way the caller syncs the filesystem before it
	// reports success (see the package doc).
	if err := f.Close(); err != nil {
		ca.wait()
		return err
	}
	if err := ca.result(size); err != nil {
		return fmt.Errorf("dump for %s is not a sound SQLite database (made by a different driver, truncated or damaged?); the database was not changed: %w", db.Name, err)
	}

	if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
		if err := os.Rename(tmp, p); err != nil {
			return fmt.Errorf("load database %s: %w", db.Name, err)
		}
		d.log.InfoContext(ctx, "loaded sqlite database into a new file", "name", db.Name)
		return nil
	}
	holds, err := linkedHolds(d.dir, db.Name, p)
	if err != nil {
		return fmt.Errorf("load database %s: %w", db.Name, err)
	}
	if placed, err := placeOver(ctx, p, tmp); err != nil {
		return fmt.Errorf("load database %s: %w", db.Name, err)
	} else if placed {
		d.log.InfoContext(ctx, "loaded sqlite database", "name", db.Name, "renamed", true)
		return nil
	}
	// The page copy writes into the database's file: a holding name
	// linked to it must get a copy of its own first.
	if err := unlinkHolds(ctx, p, holds); err != nil {
		return fmt.Errorf("load database %s: set the held copy apart: %w", db.Name, err)
	}
	if err := loadInto(ctx, p, tmp); err != nil {
		return fmt.Errorf("load database %s: %w", db.Name, err)
	}
	d.log.InfoContext(ctx, "loaded sqlite database", "name", db.Name)
	return nil
}

// restoreInto copies src's pages over the live database at dst in one
// write transaction, retrying while another connection holds the lock,
// and syncs them to disk (SQLite's commit and checkpoint).
func restoreInto(ctx context.Context, dst, src string) error {
	return copyPages(ctx, dst, func(c pager) (*sqlite.Backup, error) { return c.NewRestore(dsn(src, true)) })
}

// loadInto is restoreInto without syncing (synchronous=OFF on its
// connection: no fsync of the WAL at commit nor of the database at the
// checkpoint when it closes, which were most of a 10 MB load's time).
// Load uses it: its callers sync the database's filesystem before they
// report success (a restore, clone or migrate; see DBDriver.Load), and a
// restore holds the contents it replaced in a synced copy until then
// (SetAside).
func loadInto(ctx context.Context, dst, src string) error {
	return copyPagesDSN(ctx, dst, dsn(dst, false)+"&_pragma=synchronous(OFF)",
		func(c pager) (*sqlite.Backup, error) { return c.NewRestore(dsn(src, true)) })
}

// backupTo copies the live database at src's pages into a new file dst
// (a consistent copy: one read transaction), retrying while another
// connection holds the lock.
func backupTo(ctx context.Context, src, dst string) error {
	return copyPages(ctx, src, func(c pager) (*sqlite.Backup, error) { return c.NewBackup(dsn(dst, false)) })
}

// pager is the backup API of a modernc connection.
type pager interface {
	NewRestore(string) (*sqlite.Backup, error)
	NewBackup(string) (*sqlite.Backup, error)
}

// copyPages opens path and runs the backup that start makes on its
// connection to the end, retrying while another connection holds a lock.
func copyPages(ctx context.Context, path string, start func(pager) (*sqlite.Backup, error)) error {
	return copyPagesDSN(ctx, path, dsn(path, false), start)
}

// copyPagesDSN is copyPages with the connection to path opened with dsn.
func copyPagesDSN(ctx context.Context, path, dsn string, start func(pager) (*sqlite.Backup, error)) error {
	pool, err := sql.Open("sqlite", dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	conn, err := pool.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		rc, ok := dc.(pager)
		if !ok {
			return fmt.Errorf("sqlite driver has no backup API")
		}
		bk, err := start(rc)
		if err != nil {
			return err
		}
		deadline := time.Now().Add(busyTimeout)
		for {
			more, err := bk.Step(-1)
			if err == nil && !more {
				break
			}
			if err != nil && !isBusy(err) {
				bk.Finish()
				return err
			}
			if err != nil && time.Now().After(deadline) {
				bk.Finish()
				return fmt.Errorf("database stayed locked by another connection for %v: stop the site's writers (disable the site) and retry: %w", busyTimeout, err)
			}
			select {
			case <-ctx.Done():
				bk.Finish()
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
		return bk.Finish()
	})
}

func isBusy(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code() & 0xff
		return c == 5 || c == 6 // SQLITE_BUSY, SQLITE_LOCKED
	}
	return false
}

// quickCheck opens path read-only and runs PRAGMA quick_check.
func quickCheck(ctx context.Context, path string) error {
	conn, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		return err
	}
	defer conn.Close()
	var res string
	if err := conn.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&res); err != nil {
		return err
	}
	if res != "ok" {
		return errors.New(domain.Clip(res))
	}
	return nil
}

// SetPassword does nothing: SQLite has no users.
func (d *Driver) SetPassword(context.Context, provision.DBCreds, string) error { return nil }

// Count returns the number of rows in table, read-only.
func (d *Driver) Count(ctx context.Context, db provision.DBCreds, table string) (int64, error) {
	p, err := d.path(db)
	if err != nil {
		return 0, err
	}
	if err := ValidateTable(table); err != nil {
		return 0, err
	}
	if _, err := os.Stat(p); err != nil {
		return 0, fmt.Errorf("count in %s: %w", db.Name, notFound(err))
	}
	conn, err := sql.Open("sqlite", dsn(p, true))
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	var n int64
	err = conn.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE type IN ('table','view') AND name = ?", table).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count in %s: %w", db.Name, err)
	}
	if n == 0 {
		return 0, fmt.Errorf("table %q in database %s: %w", table, db.Name, domain.ErrNotFound)
	}
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM "+quoteIdent(table)).Scan(&n); err != nil {
		return 0, fmt.Errorf("count rows of %s in %s: %w", table, db.Name, err)
	}
	return n, nil
}

func notFound(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("database file does not exist: %w", domain.ErrNotFound)
	}
	return err
}

// tempName returns an unused name in dir (VACUUM INTO wants a file that
// does not exist yet).
func tempName(dir, prefix string) (string, error) {
	f, err := os.CreateTemp(dir, prefix+"*.db")
	if err != nil {
		return "", err
	}
	name := f.Name()
	f.Close()
	if err := os.Remove(name); err != nil {
		return "", err
	}
	return name, nil
}

func removeDB(p string) {
	for _, f := range []string{p, p + "-wal", p + "-shm", p + "-journal"} {
		os.Remove(f)
	}
}

// ctxReader stops a long copy when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// checkAhead writes a dump to its temp file and, once the file holds the
// number of bytes the database header gives (page size × page count,
// when the header's count is valid), runs quickCheck on it in the
// background while the stream goes on. result waits for that check when
// the stream ended at exactly that size, or else checks the file then.
type checkAhead struct {
	ctx     context.Context
	f       *os.File
	path    string
	n, want int64
	head    []byte
	done    chan error // the early check's result; nil until it starts
}

func (c *checkAhead) Write(p []byte) (int, error) {
	n, err := c.f.Write(p)
	c.n += int64(n)
	if len(c.head) < 100 {
		c.head = append(c.head, p[:min(n, 100-len(c.head))]...)
		if len(c.head) == 100 {
			c.want = headerSize(c.head)
		}
	}
	if c.done == nil && c.want > 0 && c.n == c.want && err == nil {
		c.done = make(chan error, 1)
		go func() { c.done <- quickCheck(c.ctx, c.path) }()
	}
	return n, err
}

// wait waits for an early check that started, so the temp file is not
// removed under it.
func (c *checkAhead) wait() {
	if c.done != nil {
		<-c.done
	}
}

// result is the check of the whole file, size bytes.
func (c *checkAhead) result(size int64) error {
	if c.done != nil {
		err := <-c.done
		if size == c.want {
			return err
		}
	}
	return quickCheck(c.ctx, c.path)
}

// headerSize is the size of the database whose first 100 bytes are h:
// page size × the header's page count, or 0 when the count is not valid
// (the change counter at 24 differs from the version-valid-for at 92) or
// h is not an SQLite header.
func headerSize(h []byte) int64 {
	if len(h) < 100 || string(h[:16]) != "SQLite format 3\x00" {
		return 0
	}
	be32 := func(b []byte) uint32 { return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) }
	if be32(h[24:]) != be32(h[92:]) {
		return 0
	}
	page := int64(h[16])<<8 | int64(h[17])
	if page == 1 {
		page = 65536
	}
	return page * int64(be32(h[28:]))
}
