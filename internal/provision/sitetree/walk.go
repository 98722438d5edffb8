package sitetree

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// ErrChanged means an entry of the walked tree was not, when opened, what
// its directory listed (a directory or file swapped for a symlink or for
// another entry). Nothing was read through it.
var ErrChanged = errors.New("the site's files changed while they were read")

// ChangedError names the entry that changed.
type ChangedError struct {
	Path   string // the entry's full path
	Reason string
}

func (e *ChangedError) Error() string {
	return fmt.Sprintf("%s changed while it was read (%s); run the task again", e.Path, e.Reason)
}

func (e *ChangedError) Unwrap() error { return ErrChanged }

// Entry is one entry of a walked tree, as its directory listed it. Open
// and Readlink may be called only during the callback that received it.
type Entry struct {
	// Rel is the entry's path relative to the walked directory, with
	// slashes.
	Rel string
	// Mode holds the entry's type and permission bits, from lstat.
	Mode fs.FileMode
	// Size is the size lstat reported (the target's length for a link).
	Size int64
	// ModTime is the entry's modification time.
	ModTime time.Time

	top      string
	parent   int // descriptor of the entry's directory
	name     string
	dev, ino uint64
}

// Path is the entry's full path, for messages.
func (e *Entry) Path() string { return filepath.Join(e.top, filepath.FromSlash(e.Rel)) }

// Open opens the entry, which must have been listed as a regular file,
// for reading. It fails with ErrChanged when the name no longer holds the
// file that was listed (it is now a link, a directory, a FIFO or another
// file).
func (e *Entry) Open() (*os.File, error) {
	if !e.Mode.IsRegular() {
		return nil, fmt.Errorf("open %s: not a regular file", e.Path())
	}
	// O_NONBLOCK: a FIFO swapped in must not block the open.
	fd, err := openat(e.parent, e.name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC)
	if err != nil {
		return nil, e.openErr(err)
	}
	if err := e.same(fd, unix.S_IFREG); err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), e.Path()), nil
}

// Readlink returns the target of the entry, which must have been listed as
// a symlink. The target is never opened.
func (e *Entry) Readlink() (string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Readlinkat(e.parent, e.name, buf)
		if err == unix.EINVAL {
			return "", &ChangedError{Path: e.Path(), Reason: "it is no longer a symlink"}
		}
		if err != nil {
			return "", &fs.PathError{Op: "readlink", Path: e.Path(), Err: err}
		}
		if n < len(buf) {
			return string(buf[:n]), nil
		}
		buf = make([]byte, 2*len(buf))
	}
}

func (e *Entry) openErr(err error) error {
	switch err {
	case unix.ELOOP, unix.ENOTDIR, unix.ENXIO:
		return &ChangedError{Path: e.Path(), Reason: "it is no longer what was listed"}
	}
	return &fs.PathError{Op: "open", Path: e.Path(), Err: err}
}

// same checks that fd is the entry listed: same device and inode, of type
// typ (unix.S_IFREG or unix.S_IFDIR).
func (e *Entry) same(fd int, typ uint32) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &fs.PathError{Op: "fstat", Path: e.Path(), Err: err}
	}
	if uint32(st.Mode)&unix.S_IFMT != typ || uint64(st.Dev) != e.dev || uint64(st.Ino) != e.ino {
		return &ChangedError{Path: e.Path(), Reason: "another file was opened than the one listed"}
	}
	return nil
}

// Walk calls fn for every entry under dir (not dir itself), directories
// before what they hold, each directory's names in lexical order. fn may
// return fs.SkipDir for a directory not to enter it. Symlinks are passed
// as links and never followed; what is opened is checked against what was
// listed (see the package doc). Walk stops at the first error, from fn,
// from the file system or wrapping ErrChanged, or when ctx ends.
func Walk(ctx context.Context, dir string, fn func(*Entry) error) error {
	fd, err := openPath(dir)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return walkDir(ctx, dir, fd, "", fn)
}

func openPath(dir string) (int, error) {
	for {
		fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, &fs.PathError{Op: "open", Path: dir, Err: err}
		}
		return fd, nil
	}
}

func openat(dirfd int, name string, flags int) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, flags, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// walkDir visits the entries of the directory open as fd, whose path
// relative to top is rel ("" for top itself).
func walkDir(ctx context.Context, top string, fd int, rel string, fn func(*Entry) error) error {
	names, err := readNames(fd, filepath.Join(top, filepath.FromSlash(rel)))
	if err != nil {
		return err
	}
	slices.Sort(names)
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		e := &Entry{Rel: path.Join(rel, name), top: top, parent: fd, name: name}
		var st unix.Stat_t
		if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &fs.PathError{Op: "lstat", Path: e.Path(), Err: err}
		}
		e.dev, e.ino = uint64(st.Dev), uint64(st.Ino)
		e.Size = int64(st.Size)
		e.ModTime = time.Unix(int64(st.Mtim.Sec), int64(st.Mtim.Nsec))
		e.Mode = fileMode(uint32(st.Mode))
		err := fn(e)
		if e.Mode.IsDir() {
			if err == fs.SkipDir {
				continue
			}
			if err != nil {
				return err
			}
			if err := e.descend(ctx, fn); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// descend opens the directory e without following a link and walks it.
func (e *Entry) descend(ctx context.Context, fn func(*Entry) error) error {
	fd, err := openat(e.parent, e.name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC)
	if err != nil {
		return e.openErr(err)
	}
	defer unix.Close(fd)
	if err := e.same(fd, unix.S_IFDIR); err != nil {
		return err
	}
	return walkDir(ctx, e.top, fd, e.Rel, fn)
}

// readNames lists the directory open as fd, without closing fd.
func readNames(fd int, name string) ([]string, error) {
	dup, err := unix.Dup(fd)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	unix.CloseOnExec(dup)
	f := os.NewFile(uintptr(dup), name)
	defer f.Close()
	return f.Readdirnames(-1)
}

// fileMode converts st_mode to an fs.FileMode.
func fileMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFDIR:
		mode |= fs.ModeDir
	case unix.S_IFLNK:
		mode |= fs.ModeSymlink
	case unix.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		mode |= fs.ModeSocket
	case unix.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		mode |= fs.ModeDevice
	case unix.S_IFREG:
	default:
		mode |= fs.ModeIrregular
	}
	if m&unix.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}
