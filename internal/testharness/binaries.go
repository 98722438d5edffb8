package testharness

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// Versions of the HashiCorp agents that ops/build-agents.sh builds. They must
// match the versions pinned in ops/agents/<name>/go.mod.
const (
	ConsulVersion = "1.14.11"
	NomadVersion  = "1.4.3"
	VaultVersion  = "1.13.2"
)

// agentVersions maps an agent binary name to the version cached for it.
var agentVersions = map[string]string{
	"consul": ConsulVersion,
	"nomad":  NomadVersion,
	"vault":  VaultVersion,
}

// ErrBinaryNotFound is returned (wrapped) by BinPath when a binary is in
// neither the agent cache nor PATH.
var ErrBinaryNotFound = errors.New("binary not found")

// agentCache is the directory ops/build-agents.sh builds into.
func agentCache() string {
	if d := os.Getenv("AEGIR_AGENT_CACHE"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".cache", "aegir", "agents")
}

// extraDirs are searched after PATH: Debian puts daemons in sbin, which is not
// on a non-root user's PATH.
var extraDirs = []string{"/usr/local/sbin", "/usr/sbin", "/sbin"}

// BinPath finds an executable. For the HashiCorp agents (consul, nomad,
// vault) it looks first in the agent cache,
// $AEGIR_AGENT_CACHE/<name>-<version>/<name> (default cache
// ~/.cache/aegir/agents), so the pinned version wins over whatever is on
// PATH. Then it searches PATH and the sbin directories. The error wraps
// ErrBinaryNotFound.
func BinPath(name string) (string, error) {
	if v, ok := agentVersions[name]; ok {
		if c := agentCache(); c != "" {
			p := filepath.Join(c, name+"-"+v, name)
			if isExecutable(p) {
				return p, nil
			}
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range extraDirs {
		p := filepath.Join(d, name)
		if isExecutable(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: %w", name, ErrBinaryNotFound)
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// postgresBinDir returns the bin directory of the newest PostgreSQL installed
// the Debian way (/usr/lib/postgresql/<major>/bin), or the directory of
// initdb found on PATH.
func postgresBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) > pgMajor(dirs[j]) })
	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			p = r
		}
		d := filepath.Dir(p)
		if isExecutable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", fmt.Errorf("postgres (initdb): %w", ErrBinaryNotFound)
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// installHint says which script provides a binary.
func installHint(name string) string {
	if _, ok := agentVersions[name]; ok {
		return fmt.Sprintf("run ops/build-agents.sh %s (or ops/install-deps.sh), which builds it into %s", name,
			filepath.Join(agentCache(), name+"-"+agentVersions[name]))
	}
	return "run ops/install-deps.sh as root, which installs it from Debian packages"
}

// requireBinary returns the path of a binary, or ends the test: t.Skip
// normally, t.Fatal when CI=true (a missing service in CI is a broken setup,
// not a reason to pass).
func requireBinary(t testing.TB, name string) string {
	t.Helper()
	p, err := BinPath(name)
	if err == nil {
		return p
	}
	missing(t, name, err)
	return ""
}

func missing(t testing.TB, name string, err error) {
	t.Helper()
	msg := fmt.Sprintf("testharness: %v; %s", err, installHint(name))
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// shortTempDir makes a directory under os.TempDir with a short path (unix
// socket paths are limited to 107 bytes, and t.TempDir contains the test
// name) and removes it when the test ends. Cleanups run last-in first-out,
// so processes started after this call are stopped before it is removed.
func shortTempDir(t testing.TB, prefix string) string {
	t.Helper()
	d, err := os.MkdirTemp("", "aegir-"+prefix+"-")
	if err != nil {
		t.Fatalf("testharness: %v", err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(d); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Logf("testharness: removing %s: %v", d, err)
		}
	})
	return d
}

// sanitize turns a test name into something safe for a path or KV key.
func sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	out := b.String()
	if len(out) > 80 {
		out = out[:80]
	}
	return out
}

// RequireProgram returns the path of a program on the PATH (php, drush,
// zstd, ...), or ends the test: t.Skip normally, t.Fatal when CI=true,
// where ops/install-deps.sh installs everything the tests use.
func RequireProgram(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missing(t, name, err)
	}
	return p
}

// RequireRoot ends the test unless it runs as root, which why needs (site
// users, switching users): t.Skip normally, t.Fatal when CI=true, where the
// suite runs as root as the back end does on a production web server.
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	msg := "testharness: " + why + " needs root; run the suite as root (CI does)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}
