package sitetree

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func mkTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"a", "a/b", "c"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range map[string]string{"a/b/f": "deep", "c/g": "ccc", "top": "t"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/etc", filepath.Join(dir, "l")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestWalkListsWithoutFollowing(t *testing.T) {
	t.Parallel()
	dir := mkTree(t)
	var got []string
	err := Walk(context.Background(), dir, func(e *Entry) error {
		s := e.Rel
		switch {
		case e.Mode.IsDir():
			s += "/"
		case e.Mode&fs.ModeSymlink != 0:
			l, err := e.Readlink()
			if err != nil {
				return err
			}
			s += " -> " + l
		case e.Mode.IsRegular():
			f, err := e.Open()
			if err != nil {
				return err
			}
			b, err := io.ReadAll(f)
			f.Close()
			if err != nil {
				return err
			}
			s += " " + string(b)
			if e.Mode.Perm() != 0o640 || e.Size != int64(len(b)) {
				t.Errorf("%s: mode %v size %d", e.Rel, e.Mode, e.Size)
			}
		}
		got = append(got, s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a/", "a/b/", "a/b/f deep", "c/", "c/g ccc", "l -> /etc", "top t"}
	if !slices.Equal(got, want) {
		t.Errorf("walk = %q, want %q", got, want)
	}
}

func TestSkipDir(t *testing.T) {
	t.Parallel()
	dir := mkTree(t)
	var got []string
	err := Walk(context.Background(), dir, func(e *Entry) error {
		got = append(got, e.Rel)
		if e.Rel == "a" {
			return fs.SkipDir
		}
		return nil
	})
	if err != nil || !slices.Equal(got, []string{"a", "c", "c/g", "l", "top"}) {
		t.Errorf("walk = %q, %v", got, err)
	}
}

// swap replaces dir/name with a symlink to target.
func swap(t *testing.T, dir, name, target string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.Rename(p, p+".moved"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

// A directory or file listed, then swapped for a link before it is opened,
// is refused with ErrChanged and nothing is read through the link.
func TestSwappedEntryIsRefused(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "f"), []byte("OUTSIDE"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "g"), []byte("OUTSIDE"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, target string }{
		{"a", outside},                         // directory -> link to a directory
		{"top", filepath.Join(outside, "f")},   // file -> link to a file
		{"c", filepath.Join(t.TempDir(), "x")}, // directory -> link to nothing
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := mkTree(t)
			var read []string
			err := Walk(context.Background(), dir, func(e *Entry) error {
				if e.Rel == c.name {
					swap(t, dir, c.name, c.target)
				}
				read = append(read, e.Rel)
				if e.Mode.IsRegular() {
					f, err := e.Open()
					if err != nil {
						return err
					}
					defer f.Close()
					if b, _ := io.ReadAll(f); string(b) == "OUTSIDE" {
						t.Errorf("read %s through a link", e.Rel)
					}
				}
				return nil
			})
			var ce *ChangedError
			if !errors.Is(err, ErrChanged) || !errors.As(err, &ce) || ce.Path != filepath.Join(dir, c.name) {
				t.Fatalf("walk = %v, want ErrChanged for %s", err, c.name)
			}
			for _, r := range read {
				if filepath.Dir(r) == c.name {
					t.Errorf("walked into %s through the link", r)
				}
			}
		})
	}
}

// A file replaced by another file (same name, another inode) between the
// listing and the open is refused too.
func TestReplacedFileIsRefused(t *testing.T) {
	t.Parallel()
	dir := mkTree(t)
	err := Walk(context.Background(), dir, func(e *Entry) error {
		if e.Rel != "top" {
			return nil
		}
		p := filepath.Join(dir, "top")
		if err := os.WriteFile(p+".new", []byte("other"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(p+".new", p); err != nil {
			t.Fatal(err)
		}
		f, err := e.Open()
		if err == nil {
			f.Close()
		}
		return err
	})
	if !errors.Is(err, ErrChanged) {
		t.Fatalf("walk = %v, want ErrChanged", err)
	}
}

func TestTopLinkIsRefused(t *testing.T) {
	t.Parallel()
	l := filepath.Join(t.TempDir(), "l")
	if err := os.Symlink(t.TempDir(), l); err != nil {
		t.Fatal(err)
	}
	if err := Walk(context.Background(), l, func(*Entry) error { return nil }); err == nil {
		t.Fatal("walked a link")
	}
}
