package dbsqlite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/aegirhq/aegir/internal/provision"
)

var _ provision.DBSetAside = (*Driver)(nil)

// asidePath is the file db's contents are held in for key:
// .<name>.aside-<key>.db beside the database (see provision.ValidAsideKey).
func (d *Driver) asidePath(db provision.DBCreds, key string) (live, hold string, err error) {
	live, err = d.path(db)
	if err != nil {
		return "", "", err
	}
	if err := provision.ValidAsideKey(key); err != nil {
		return "", "", err
	}
	return live, filepath.Join(d.dir, "."+db.Name+".aside-"+key+".db"), nil
}

// SetAside keeps the database's contents under the holding name. A
// database in WAL mode (as Create makes them) gets the holding name as a
// second link to its file (linkAside), the directory synced: nothing is
// copied, and the site keeps using its database until Load replaces it
// (Load then leaves the file, whole, to the holding name alone). Else a
// consistent copy is taken in one read transaction, so the site's
// connections may stay open, and synced to disk before Load may replace
// the database: the file as it is when at rest (copyAtRest), else its
// pages through memory up to maxSerialize, else with SQLite's backup
// API. Either way the database is left as it is, for Load to replace. An
// existing holding file (left by a killed run of the same task) is
// refused: it may be the only copy.
func (d *Driver) SetAside(ctx context.Context, db provision.DBCreds, key string) error {
	live, hold, err := d.asidePath(db, key)
	if err != nil {
		return err
	}
	if _, err := os.Stat(live); err != nil {
		return fmt.Errorf("set aside database %s: %w", db.Name, notFound(err))
	}
	if _, err := os.Lstat(hold); !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("set aside database %s: %s exists (left by an earlier run?): %w", db.Name, hold, fs.ErrExist)
	}
	if linked, err := linkAside(live, hold); err != nil {
		return fmt.Errorf("set aside database %s: %w", db.Name, err)
	} else if linked {
		d.log.InfoContext(ctx, "sqlite database set aside", "name", db.Name, "held_as", hold, "linked", true)
		return nil
	}
	if err := copyAside(ctx, live, hold); err != nil {
		removeDB(hold)
		return fmt.Errorf("set aside database %s: %w", db.Name, err)
	}
	d.log.InfoContext(ctx, "sqlite database set aside", "name", db.Name, "held_as", hold)
	return nil
}

// PutBack removes the holding name when it is still a link of the
// database (Load never replaced it); else it renames the holding file
// back into place when the database is missing, or over it when it can
// be taken exclusively (placeOver), and syncs the directory; else it
// copies the held pages over the database in one write transaction,
// syncs them, and removes the holding file.
func (d *Driver) PutBack(ctx context.Context, db provision.DBCreds, key string) error {
	live, hold, err := d.asidePath(db, key)
	if err != nil {
		return err
	}
	hi, err := os.Stat(hold)
	if err != nil {
		return fmt.Errorf("put back database %s: %w", db.Name, err)
	}
	if li, err := os.Stat(live); err == nil && os.SameFile(li, hi) {
		// Still a link of the database (linkAside): Load never replaced it.
		if err := os.Remove(hold); err != nil {
			return fmt.Errorf("put back database %s: %w", db.Name, err)
		}
		return nil
	}
	placed := false
	if _, err := os.Stat(live); errors.Is(err, fs.ErrNotExist) {
		if err := os.Rename(hold, live); err != nil {
			return fmt.Errorf("put back database %s: %w", db.Name, err)
		}
		placed = true
	} else if placed, err = placeOver(ctx, live, hold); err != nil {
		return fmt.Errorf("put back database %s: %w", db.Name, err)
	}
	if placed {
		if err := syncDir(d.dir); err != nil {
			return fmt.Errorf("put back database %s: %w", db.Name, err)
		}
		d.log.InfoContext(ctx, "sqlite database put back", "name", db.Name, "renamed", true)
		return nil
	}
	if err := restoreInto(ctx, live, hold); err != nil {
		return fmt.Errorf("put back database %s: %w", db.Name, err)
	}
	removeDB(hold)
	d.log.InfoContext(ctx, "sqlite database put back", "name", db.Name)
	return nil
}

// DropAside removes the holding file.
func (d *Driver) DropAside(_ context.Context, db provision.DBCreds, key string) error {
	_, hold, err := d.asidePath(db, key)
	if err != nil {
		return err
	}
	removeDB(hold)
	return nil
}

// copyAside writes a consistent copy of live to the new file hold and
// syncs it: the file as it is when it is at rest (copyAtRest), else its
// pages read through SQLite.
func copyAside(ctx context.Context, live, hold string) error {
	fi, err := os.Stat(live)
	if err != nil {
		return err
	}
	var walSize int64
	if wi, err := os.Stat(live + "-wal"); err == nil {
		walSize = wi.Size()
	}
	f, err := os.OpenFile(hold, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	_, ok, err := copyAtRest(ctx, live, f)
	switch {
	case err != nil || ok:
	case fi.Size()+walSize > maxSerialize:
		f.Close()
		if err := os.Remove(hold); err != nil {
			return err
		}
		return backupTo(ctx, live, hold)
	default:
		var image []byte
		if image, err = serialize(ctx, live); err == nil {
			_, err = f.Write(image)
		}
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
