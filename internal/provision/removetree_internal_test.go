package provision

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// removeTree removes every file and directory under dir, and dir, never
// what a symlink in it points to; a missing dir is not an error.
func TestRemoveTree(t *testing.T) {
	root := t.TempDir()
	outside := filepath.Join(root, "outside")
	if err := os.MkdirAll(filepath.Join(outside, "keep"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "keep", "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "site")
	for i := range 30 {
		d := filepath.Join(dir, "files", fmt.Sprint(i%7), "deep", fmt.Sprint(i%3))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%d", i)), []byte("data"), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "settings.php"), []byte("<?php"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{filepath.Join(dir, "link"), filepath.Join(dir, "files", "link")} {
		if err := os.Symlink(outside, l); err != nil {
			t.Fatal(err)
		}
	}
	if err := removeTree(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(dir); !os.IsNotExist(err) {
		t.Fatalf("%s still there: %v", dir, err)
	}
	if _, err := os.Stat(filepath.Join(outside, "keep", "f")); err != nil {
		t.Fatalf("a symlink's target was removed: %v", err)
	}
	if err := removeTree(dir); err != nil {
		t.Fatalf("missing dir: %v", err)
	}
}
