// Package atomicfile replaces files so that a reader sees either the old
// content or the new, never half of it: vhosts nginx reloads, route files
// the builtin web server reads, site settings, the secrets file.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write replaces path with data and mode: a temporary file beside it
// (named ".<base>.tmp-*", which "*.conf" or "*.json" includes do not
// match) is written, synced, given its mode and renamed over path, and the
// directory is synced so the rename survives a crash. On error the
// temporary file is removed and path is unchanged.
func Write(path string, data []byte, mode os.FileMode) error {
	return WriteOwned(path, data, mode, -1, -1)
}

// WriteOwned is Write giving the file the owner uid and group gid before
// it is renamed over path, so no reader ever sees it with another owner
// (-1 leaves either as the creating process's).
func WriteOwned(path string, data []byte, mode os.FileMode, uid, gid int) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if uid != -1 || gid != -1 {
		if err := f.Chown(uid, gid); err != nil {
			return err
		}
	}
	if err := f.Chmod(mode); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
