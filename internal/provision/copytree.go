package provision

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
)

// copyTree copies the directory src to dst (which must not exist), keeping
// permissions and symlinks.
func copyTree(ctx context.Context, src, dst string) error {
	return copyTreeCounting(ctx, src, dst, nil)
}

// copyTreeCounting is copyTree adding the bytes of files copied to n, when
// not nil, as they are copied (for progress lines, progress.go).
func copyTreeCounting(ctx context.Context, src, dst string, n *atomic.Int64) error {
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case info.IsDir():
			return os.Mkdir(target, info.Mode().Perm()|0o700)
		case info.Mode()&os.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, target)
		case info.Mode().IsRegular():
			return copyFile(p, target, info.Mode().Perm(), n)
		}
		return nil
	})
}

// copyFile copies src to dst, adding the bytes copied to n when not nil.
// It copies 32 MiB at a time so a large file's copy shows progress; each
// io.CopyN of an *os.File still goes through copy_file_range.
func copyFile(src, dst string, mode os.FileMode, n *atomic.Int64) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
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
