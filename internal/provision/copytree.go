package provision

import (
	"context"
	"io"
	"io/fs"
	"os"
	"sync/atomic"

	"github.com/aegirhq/aegir/internal/provision/sitetree"
)

// copyTree copies the directory src to dst (which must not exist), keeping
// permissions and symlinks.
func copyTree(ctx context.Context, src, dst string) error {
	return copyTreeCounting(ctx, src, dst, nil)
}

// copyTreeCounting is copyTree adding the bytes of files copied to n, when
// not nil, as they are copied (for progress lines, progress.go).
//
// src is a tenant's: it is read with sitetree.Walk, which never follows a
// link and checks that each file and directory it opens is the one it
// listed, so a directory swapped for a symlink mid-copy cannot bring
// anything from outside the site into the copy. Links are copied as
// links. dst is written through an os.Root, so nothing is created outside
// it either.
func copyTreeCounting(ctx context.Context, src, dst string, n *atomic.Int64) error {
	fi, err := os.Lstat(src)
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 { // copied as the link it is, as filepath.WalkDir did
		l, err := os.Readlink(src)
		if err != nil {
			return err
		}
		return os.Symlink(l, dst)
	}
	if err := os.Mkdir(dst, fi.Mode().Perm()|0o700); err != nil {
		return err
	}
	root, err := os.OpenRoot(dst)
	if err != nil {
		return err
	}
	defer root.Close()
	return sitetree.Walk(ctx, src, func(e *sitetree.Entry) error {
		switch {
		case e.Mode.IsDir():
			return root.Mkdir(e.Rel, e.Mode.Perm()|0o700)
		case e.Mode&fs.ModeSymlink != 0:
			l, err := e.Readlink()
			if err != nil {
				return err
			}
			return root.Symlink(l, e.Rel)
		case e.Mode.IsRegular():
			return copyFile(e, root, n)
		}
		return nil
	})
}

// copyFile copies the file e to the same name under root, adding the
// bytes copied to n when not nil. It copies 32 MiB at a time so a large
// file's copy shows progress; each io.CopyN of an *os.File still goes
// through copy_file_range.
func copyFile(e *sitetree.Entry, root *os.Root, n *atomic.Int64) error {
	in, err := e.Open()
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := root.OpenFile(e.Rel, os.O_CREATE|os.O_EXCL|os.O_WRONLY, e.Mode.Perm())
	if err != nil {
		return err
	}
	for {
		k, err := io.CopyN(out, in, 32<<20)
		if n != nil {
			n.Add(k)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			_ = out.Close()
			return err
		}
	}
	return out.Close()
}
