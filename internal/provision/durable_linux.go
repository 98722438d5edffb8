package provision

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncFS flushes the filesystems holding paths to disk (syncfs(2) on
// each, once per filesystem): a restore, clone or migrate reports success
// only once its files, and an SQLite database, are on disk. Database
// servers make their own commits durable.
func syncFS(paths ...string) error {
	seen := map[uint64]bool{}
	for _, p := range paths {
		if p == "" {
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &st); err == nil && seen[st.Dev] {
			f.Close()
			continue
		}
		seen[st.Dev] = true
		err = unix.Syncfs(int(f.Fd()))
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
