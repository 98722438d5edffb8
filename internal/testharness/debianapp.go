package testharness

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// RequireTree skips the test when a Debian package's tree (tree, from
// package pkg) is missing, or fails it under CI=true, where
// ops/install-deps.sh installs it.
func RequireTree(t testing.TB, pkg, tree string) {
	t.Helper()
	if _, err := os.Stat(tree); err == nil {
		return
	}
	msg := "Debian package " + pkg + " is not installed (" + tree + "): run ops/install-deps.sh as root"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// DebianAppPlatform makes dir a platform of a real application the way an
// operator would: the package's tree (such as /usr/share/wordpress)
// copied with its links resolved (hard links where the tree is on the
// same file system: the code is read-only to sites), then the files of
// the test platform overlay (PlatformFixture(overlay): aegir.hcl and its
// glue) laid over it, replacing, never writing into, what is there.
func DebianAppPlatform(t testing.TB, tree, overlay, dir string) {
	t.Helper()
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(tree)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		src := filepath.Join(tree, e.Name())
		if _, err := os.Stat(src); err != nil {
			continue // a dangling link into /etc: the overlay provides it
		}
		if out, err := exec.Command("cp", "-rlL", src, dir).CombinedOutput(); err != nil {
			os.RemoveAll(filepath.Join(dir, e.Name()))
			if out2, err := exec.Command("cp", "-rL", src, dir).CombinedOutput(); err != nil {
				t.Fatalf("testharness: copying %s: %v\n%s%s", src, err, out, out2)
			}
		}
	}
	src := PlatformFixture(overlay)
	err = filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dir, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.Remove(target); err != nil && !os.IsNotExist(err) {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
