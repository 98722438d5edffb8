//go:build !linux

package provision

import (
	"io/fs"
	"time"
)

// changedBefore reports whether fi changed before t: its modification
// time where aegir does not read a ctime.
func changedBefore(fi fs.FileInfo, t time.Time) bool { return fi.ModTime().Before(t) }
