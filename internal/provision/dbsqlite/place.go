package dbsqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// exclusiveWait is how long exclusive waits for the site's connections to
// let go of a database before the caller falls back to a page copy.
const exclusiveWait = 200 * time.Millisecond

// exclusive opens the WAL-mode database at p with locking_mode=EXCLUSIVE
// and takes its exclusive lock, which SQLite grants only while no other
// connection has the database open (in WAL mode every open connection
// holds a shared lock on the file for as long as it is open), then
// checkpoints the WAL into the file and truncates it: the file alone is
// then the whole database, and no other connection may open it until
// the returned close is called. A connection in exclusive mode keeps its
// WAL index in its own memory, never in the -shm file. It reports false,
// having changed nothing, when the database is not in WAL mode (a
// connection of a rollback-journal database holds no lock while idle, so
// it cannot be seen) or another connection keeps it open.
func exclusive(ctx context.Context, p string) (closeFn func(), ok bool, err error) {
	if wal, err := walHeader(p); err != nil || !wal {
		return nil, false, err
	}
	pool, err := sql.Open("sqlite", "file:"+p+fmt.Sprintf("?_pragma=locking_mode(EXCLUSIVE)&_pragma=busy_timeout(%d)", exclusiveWait.Milliseconds()))
	if err != nil {
		return nil, false, err
	}
	pool.SetMaxOpenConns(1)
	conn, err := pool.Conn(ctx)
	if err != nil {
		pool.Close()
		return nil, false, err
	}
	closeFn = func() { conn.Close(); pool.Close() }
	// The first read takes the lock (a checkpoint alone would not report
	// that it could not).
	var n, busy, log, done int
	err = conn.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n)
	if err == nil {
		err = conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &log, &done)
	}
	if err != nil {
		closeFn()
		if isBusy(err) {
			return nil, false, nil
		}
		return nil, false, err
	}
	if busy != 0 || log < 0 { // log is -1 when the connection is not in WAL mode
		closeFn()
		return nil, false, nil
	}
	if fi, err := os.Stat(p + "-wal"); err == nil && fi.Size() > 0 {
		closeFn()
		return nil, false, fmt.Errorf("%s-wal still holds %d bytes after a checkpoint", filepath.Base(p), fi.Size())
	}
	return closeFn, true, nil
}

// walHeader reports whether the database file at p is in WAL mode (its
// header's file format version bytes, 18 and 19, are 2).
func walHeader(p string) (bool, error) {
	f, err := os.Open(p)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var h [20]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return false, nil // empty or shorter than a header: not a WAL database
		}
		return false, err
	}
	return string(h[:16]) == "SQLite format 3\x00" && h[18] == 2 && h[19] == 2, nil
}

// placeOver renames the file src over the live database at dst when dst
// can be taken exclusively (exclusive), with dst's mode and owner: a file
// placement instead of a page copy through SQLite. The rename is atomic
// for every later connection (old file or new), and none is open: the
// exclusive lock is held across it. The old file's -wal is empty
// (truncated by the checkpoint) and its -shm is used by no one, so the
// next connection starts a fresh WAL index for the new file; closing the
// exclusive connection neither checkpoints nor deletes the -wal once the
// file it opened has moved (SQLite checks the path's inode). It reports
// false, with nothing changed, when dst cannot be taken exclusively or
// src cannot be given dst's owner; the caller then copies pages. Nothing
// is synced: see the callers.
func placeOver(ctx context.Context, dst, src string) (bool, error) {
	release, ok, err := exclusive(ctx, dst)
	if err != nil || !ok {
		return false, err
	}
	defer release()
	if err := sameOwner(dst, src); err != nil {
		return false, nil
	}
	if err := os.Rename(src, dst); err != nil {
		return false, err
	}
	return true, nil
}

// sameOwner gives src the mode, owner and group of dst.
func sameOwner(dst, src string) error {
	fi, err := os.Stat(dst)
	if err != nil {
		return err
	}
	if err := os.Chmod(src, fi.Mode().Perm()); err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	si, err := os.Stat(src)
	if err != nil {
		return err
	}
	if ss, ok := si.Sys().(*syscall.Stat_t); ok && ss.Uid == st.Uid && ss.Gid == st.Gid {
		return nil
	}
	return os.Chown(src, int(st.Uid), int(st.Gid))
}

// linkAside makes hold a second name (a hard link) of the WAL-mode
// database file at live and syncs the directory, at no cost in copying:
// the database stays where it is, the site keeps using it, and Load then
// either renames the backup's file over it (placeOver), which leaves the
// file, whole, to hold alone, or first gives hold a copy of its own
// (unlinkHolds). It reports false, with nothing changed, when the
// database is not in WAL mode or the link cannot be made.
func linkAside(live, hold string) (bool, error) {
	if wal, err := walHeader(live); err != nil || !wal {
		return false, err
	}
	if err := os.Link(live, hold); err != nil {
		return false, nil
	}
	if err := syncDir(filepath.Dir(live)); err != nil {
		_ = os.Remove(hold)
		return false, err
	}
	return true, nil
}

// linkedHolds returns the holding files of the database name in dir that
// are links of the file at live (linkAside).
func linkedHolds(dir, name, live string) ([]string, error) {
	fi, err := os.Stat(live)
	if err != nil {
		return nil, err
	}
	holds, err := filepath.Glob(filepath.Join(dir, "."+name+".aside-*.db"))
	if err != nil {
		return nil, err
	}
	var linked []string
	for _, h := range holds {
		if hi, err := os.Stat(h); err == nil && os.SameFile(fi, hi) {
			linked = append(linked, h)
		}
	}
	return linked, nil
}

// unlinkHolds gives each of holds, links of the live database at live,
// a consistent copy of its own (copyAside to a temp name, synced, then
// renamed over the link), before Load copies pages into the file they
// share.
func unlinkHolds(ctx context.Context, live string, holds []string) error {
	for _, h := range holds {
		tmp := h + ".copy"
		removeDB(tmp)
		if err := copyAside(ctx, live, tmp); err != nil {
			removeDB(tmp)
			return err
		}
		if err := os.Rename(tmp, h); err != nil {
			removeDB(tmp)
			return err
		}
	}
	if len(holds) > 0 {
		return syncDir(filepath.Dir(live))
	}
	return nil
}

// syncDir fsyncs a directory: a rename in it is on disk afterwards.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
