package provision

import (
	"bytes"
	"context"
	"errors"
	"github.com/aegirhq/aegir/internal/testharness"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision/platform"
)

// TestHookRunsAsSiteUser: a site location that carries a credential runs
// its hooks as that user and group (SysProcAttr.Credential); without one,
// as aegir. Needs root to switch users.
func TestHookRunsAsSiteUser(t *testing.T) {
	t.Parallel()
	testharness.RequireRoot(t, "switching to another user")
	dir, err := os.MkdirTemp("", "aegir-hookuser-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if err := os.WriteFile(out, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(out, 0o666); err != nil {
		t.Fatal(err)
	}
	hcl := "docroot = \"public\"\nhooks {\n  verify = [\"sh\", \"-c\", \"id -u >> " + out + "; id -g >> " + out + "\"]\n}\n"
	if err := os.MkdirAll(filepath.Join(dir, "public"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, platform.ManifestFile), []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := platform.Open(dir, domain.PlatformPHP)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	j := &job{log: NewLogger(&buf, NewRedactor(), slog.LevelInfo)}
	loc := siteLoc{ID: "s1", Domain: "user.example.com", Plat: p, Dir: filepath.Join(dir, "sites", "user.example.com")}
	if err := j.runSiteHook(context.Background(), platform.HookVerify, loc, DBCreds{}); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	loc.Cred = &syscall.Credential{Uid: 65534, Gid: 65534}
	if err := j.runSiteHook(context.Background(), platform.HookVerify, loc, DBCreds{}); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	got, _ := os.ReadFile(out)
	if string(got) != "0\n0\n65534\n65534\n" {
		t.Fatalf("hook ids: %q, want root's then the site's", got)
	}

	// A failing hook (the site's user cannot write out) is a
	// hook_failed failure naming it.
	if err := os.Chmod(out, 0o444); err != nil {
		t.Fatal(err)
	}
	err = j.runSiteHook(context.Background(), platform.HookVerify, loc, DBCreds{})
	var f *Failure
	if !errors.As(err, &f) || f.Code != CodeHookFailed || !strings.Contains(f.Explanation, "verify") {
		t.Fatalf("failing hook: %v", err)
	}
}
