package provision

import (
	"io/fs"
	"syscall"
	"time"
)

// changedBefore reports whether fi's inode changed before t (its ctime,
// which a rename sets), for the janitor to tell how long ago a directory
// was renamed.
func changedBefore(fi fs.FileInfo, t time.Time) bool {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return time.Unix(st.Ctim.Unix()).Before(t)
	}
	return fi.ModTime().Before(t)
}
