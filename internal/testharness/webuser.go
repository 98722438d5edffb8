package testharness

import (
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
)

// WebUser is the user and group nginx's workers and php-fpm's pool run as
// when tests run as root, as Debian's packages run them: never root, so
// tests see what an operator's web server sees. The masters run as root,
// as systemd starts them.
const WebUser = "www-data"

// webUser returns the user and group for workers: WebUser when it exists,
// else nobody/nogroup; "" when the test does not run as root (the
// workers then run as the test's user).
func webUser(t testing.TB) (string, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return "", ""
	}
	if _, err := user.Lookup(WebUser); err == nil {
		return WebUser, WebUser
	}
	if _, err := user.Lookup("nobody"); err == nil {
		if _, err := user.LookupGroup("nogroup"); err == nil {
			return "nobody", "nogroup"
		}
		return "nobody", "nobody"
	}
	t.Fatalf("testharness: neither %s nor nobody exists to run web workers as", WebUser)
	return "", ""
}

// WebReachable lets the web workers (WebUser) reach dir: every directory
// from the temp dir down to dir that others cannot enter gets o+x, and dir
// itself o+rx. Tests call it for docroots and platforms they create under
// t.TempDir or os.MkdirTemp, whose directories are 0700. Nothing outside
// os.TempDir is changed.
func WebReachable(t testing.TB, dir string) {
	t.Helper()
	tmp := filepath.Clean(os.TempDir())
	dir = filepath.Clean(dir)
	if dir != tmp && !strings.HasPrefix(dir, tmp+string(filepath.Separator)) {
		return
	}
	for d, first := dir, true; d != tmp && d != "/" && d != "."; d, first = filepath.Dir(d), false {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatalf("testharness: %v", err)
		}
		want := fi.Mode().Perm() | 0o001
		if first {
			want |= 0o005
		}
		if want != fi.Mode().Perm() {
			if err := os.Chmod(d, want); err != nil {
				t.Fatalf("testharness: %v", err)
			}
		}
	}
}
