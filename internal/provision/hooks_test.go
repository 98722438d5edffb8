package provision_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
)

// hookScript records each run as "<hook> <domain> <GREETING> <arg>" in
// $HOOK_LOG, with whether the database variables were set, and fails when
// $HOOK_LOG.fail-<hook> exists. It is run as argv (bin/hook.sh ...), never
// through a shell string: the shell here is the script's interpreter.
const hookScript = `#!/bin/sh
set -u
db=nodb
[ -n "${AEGIR_DB_NAME:-}" ] && db=db
printf '%s %s %s %s %s\n' "$1" "$AEGIR_SITE_DOMAIN" "${GREETING:-}" "$db" "${2:-}" >> "$HOOK_LOG"
if [ -e "$HOOK_LOG.fail-$1" ]; then echo "hook $1 told to fail" >&2; exit 7; fi
`

// metaArg is a hook argument full of shell metacharacters: as argv it is
// one harmless word.
const metaArg = `a;b $(touch pwned) | c && 'd' "e" >f`

// hooksPlatform writes a php platform served by the builtin web server
// (a static index page) whose manifest declares every lifecycle hook, an
// env block and an expect check; extra is added to the manifest. Hooks log
// to log, or to a new file when it is "".
func (b *bundle) hooksPlatform(name, index, extra, log string) (string, string) {
	b.t.Helper()
	dir := filepath.Join(b.t.TempDir(), name)
	if log == "" {
		log = filepath.Join(b.t.TempDir(), "hooks.log")
	}
	for _, d := range []string{"public", "bin"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			b.t.Fatal(err)
		}
	}
	hooks := ""
	for _, h := range []string{"post-restore", "post-clone", "post-migrate", "verify", "pre-delete"} {
		hooks += "  " + h + ` = ["bin/hook.sh", "` + h + `", "` + strings.ReplaceAll(metaArg, `"`, `\"`) + "\"]\n"
	}
	hcl := "docroot = \"public\"\nhooks {\n" + hooks + "}\nenv {\n  GREETING = \"hello\"\n  HOOK_LOG = \"" + log + "\"\n}\n" + extra
	for f, c := range map[string]string{"aegir.hcl": hcl, "public/index.html": index, "bin/hook.sh": hookScript} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(c), 0o755); err != nil {
			b.t.Fatal(err)
		}
	}
	b.platform[name] = &provision.PlatformInfo{ID: domain.NewID(), Name: name, Path: dir, Type: domain.PlatformPHP}
	return dir, log
}

func readLog(t *testing.T, log string) string {
	t.Helper()
	b, err := os.ReadFile(log)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return string(b)
}

// TestLifecycleHooks runs every lifecycle hook at its point on the builtin
// web server and sqlite: post-restore, verify, post-clone (as the clone),
// post-migrate (at the new place), pre-delete; each with the manifest's
// env and the site's database variables, its argument passed verbatim.
func TestLifecycleHooks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, log := b.hooksPlatform("hooks1", "hooks platform home", "expect {\n  text = \"platform home\"\n}\n", "")
	b.hooksPlatform("hooks2", "hooks platform home", "", log)
	site := b.installed("hooks.example.com", "hooks1")
	if got := readLog(t, log); got != "" {
		t.Fatalf("install ran lifecycle hooks: %q", got)
	}
	res := b.mustRun(b.ctx(domain.TaskBackup, site, "hooks1"))
	bk := res.Changes.Backups[0]
	rc := b.ctx(domain.TaskRestore, site, "hooks1")
	rc.Backup = &provision.BackupInfo{ID: domain.NewID(), Path: bk.Path, SHA256: bk.SHA256, Size: bk.Size}
	b.mustRun(rc)
	b.mustRun(b.ctx(domain.TaskVerify, site, "hooks1"))
	cc := b.ctx(domain.TaskClone, site, "hooks1")
	b.target(cc, "copy.example.com", "hooks1")
	b.mustRun(cc)
	clone := &provision.SiteInfo{ID: cc.Target.SiteID, Domain: "copy.example.com", Status: domain.SiteEnabled}
	mc := b.ctx(domain.TaskMigrate, site, "hooks1")
	b.target(mc, "moved.example.com", "hooks2")
	b.mustRun(mc)
	site.Domain = "moved.example.com"
	b.mustRun(b.ctx(domain.TaskDelete, site, "hooks2"))
	b.mustRun(b.ctx(domain.TaskDelete, clone, "hooks1"))

	want := []string{
		"post-restore hooks.example.com hello db " + metaArg,
		"verify hooks.example.com hello db " + metaArg,
		"post-clone copy.example.com hello db " + metaArg,
		"post-migrate moved.example.com hello db " + metaArg,
		"pre-delete moved.example.com hello db " + metaArg,
		"pre-delete copy.example.com hello db " + metaArg,
	}
	if got := readLog(t, log); got != strings.Join(want, "\n")+"\n" {
		t.Fatalf("hook runs:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	if _, err := os.Stat(filepath.Join(b.platform["hooks1"].Path, "pwned")); err == nil {
		t.Fatal("a hook argument was run by a shell")
	}
	b.assertNothingLeft(site.ID, clone.ID)
}

// TestFailingHooks: each failing hook fails its task with hook_failed and
// leaves things as they were before the task.
func TestFailingHooks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	dir, log := b.hooksPlatform("hooks1", "hooks platform home", "", "")
	b.hooksPlatform("hooks2", "hooks platform home", "", log)
	site := b.installed("hooks.example.com", "hooks1")
	siteDir := filepath.Join(dir, "sites", site.Domain)
	b.exec(site.ID, "CREATE TABLE t (n INTEGER)", "INSERT INTO t VALUES (1)")
	res := b.mustRun(b.ctx(domain.TaskBackup, site, "hooks1"))
	bk := res.Changes.Backups[0]
	b.exec(site.ID, "INSERT INTO t VALUES (2)")
	if err := os.WriteFile(filepath.Join(siteDir, "files", "after-backup.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	fail := func(hook string) func() {
		f := log + ".fail-" + hook
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		return func() { os.Remove(f) }
	}
	expectFailure := func(res provision.Result, hook string) {
		t.Helper()
		wantFailure(t, res, provision.CodeHookFailed)
		if !strings.Contains(res.Explanation, hook) {
			t.Fatalf("%s failure does not name the hook: %s", hook, res.Explanation)
		}
	}
	siteIntact := func(what string) {
		t.Helper()
		if _, err := os.Stat(filepath.Join(siteDir, "files", "after-backup.txt")); err != nil {
			t.Fatalf("after a failed %s the site's files changed: %v", what, err)
		}
		if n := b.count(site.ID, "t"); n != 2 {
			t.Fatalf("after a failed %s the site's database has %d rows", what, n)
		}
		if code, body := b.get(site.Domain, "/"); code != 200 || body != "hooks platform home" {
			t.Fatalf("after a failed %s the site answers %d %q", what, code, body)
		}
	}

	t.Run("post-restore", func(t *testing.T) {
		defer fail("post-restore")()
		rc := b.ctx(domain.TaskRestore, site, "hooks1")
		rc.Backup = &provision.BackupInfo{ID: domain.NewID(), Path: bk.Path, SHA256: bk.SHA256, Size: bk.Size}
		expectFailure(b.run(rc), "post-restore")
		siteIntact("restore")
	})
	t.Run("post-clone", func(t *testing.T) {
		defer fail("post-clone")()
		cc := b.ctx(domain.TaskClone, site, "hooks1")
		b.target(cc, "copy.example.com", "hooks2")
		expectFailure(b.run(cc), "post-clone")
		if _, err := os.Stat(filepath.Join(b.platform["hooks2"].Path, "sites", "copy.example.com")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("a failed clone left its directory: %v", err)
		}
		if _, err := os.Stat(b.sqlitePath(cc.Target.SiteID)); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("a failed clone left its database: %v", err)
		}
		siteIntact("clone")
	})
	t.Run("post-migrate", func(t *testing.T) {
		defer fail("post-migrate")()
		mc := b.ctx(domain.TaskMigrate, site, "hooks1")
		b.target(mc, "moved.example.com", "hooks2")
		expectFailure(b.run(mc), "post-migrate")
		if _, err := os.Stat(filepath.Join(b.platform["hooks2"].Path, "sites", "moved.example.com")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("a failed migrate left the new directory: %v", err)
		}
		siteIntact("migrate")
	})
	t.Run("verify", func(t *testing.T) {
		defer fail("verify")()
		expectFailure(b.run(b.ctx(domain.TaskVerify, site, "hooks1")), "verify")
		siteIntact("verify")
	})
	t.Run("pre-delete", func(t *testing.T) {
		defer fail("pre-delete")()
		res := b.run(b.ctx(domain.TaskDelete, site, "hooks1"))
		expectFailure(res, "pre-delete")
		if len(res.Changes.Backups) != 0 || res.Changes.RemoveSite {
			t.Fatalf("a delete stopped by its hook proposed %+v", res.Changes)
		}
		siteIntact("delete")
	})
	for _, h := range []string{"post-restore hooks.example.com", "post-clone copy.example.com", "post-migrate moved.example.com", "verify hooks.example.com", "pre-delete hooks.example.com"} {
		if !strings.Contains(readLog(t, log), h+" hello db") {
			t.Errorf("the %s hook did not run", h)
		}
	}
}

// TestHookProgramOutsidePlatform: a hook program inside the platform that
// is a link to a program outside it is refused before it runs, and the
// task changes nothing.
func TestHookProgramOutsidePlatform(t *testing.T) {
	t.Parallel()
	b := setup(t)
	dir, log := b.hooksPlatform("hooks1", "hooks platform home", "", "")
	site := b.installed("hooks.example.com", "hooks1")
	outside := filepath.Join(t.TempDir(), "tool.sh")
	if err := os.WriteFile(outside, []byte(hookScript), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "bin", "hook.sh")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "bin", "hook.sh")); err != nil {
		t.Fatal(err)
	}
	res := b.run(b.ctx(domain.TaskDelete, site, "hooks1"))
	wantFailure(t, res, provision.CodeHookFailed)
	if !strings.Contains(res.Explanation, "outside the platform") {
		t.Fatalf("explanation: %s", res.Explanation)
	}
	if got := readLog(t, log); got != "" {
		t.Fatalf("the outside program ran: %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "sites", site.Domain)); err != nil {
		t.Fatalf("a refused pre-delete hook still deleted the site: %v", err)
	}
}

// TestNoDatabase: a platform with database = false installs, backs up,
// restores, clones, migrates and deletes sites without touching a
// database, and its hooks get no database variables.
func TestNoDatabase(t *testing.T) {
	t.Parallel()
	b := setup(t)
	dir, log := b.hooksPlatform("nodb1", "hooks platform home", "database = false\n", "")
	b.hooksPlatform("nodb2", "hooks platform home", "database = false\n", log)
	site := b.installed("nodb.example.com", "nodb1")
	if _, err := os.Stat(b.sqlitePath(site.ID)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a site without a database got one: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "sites", site.Domain, "settings.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a site without a database got database settings: %v", err)
	}
	res := b.mustRun(b.ctx(domain.TaskBackup, site, "nodb1"))
	bk := res.Changes.Backups[0]
	rc := b.ctx(domain.TaskRestore, site, "nodb1")
	rc.Backup = &provision.BackupInfo{ID: domain.NewID(), Path: bk.Path, SHA256: bk.SHA256, Size: bk.Size}
	b.mustRun(rc)
	b.mustRun(b.ctx(domain.TaskVerify, site, "nodb1"))
	cc := b.ctx(domain.TaskClone, site, "nodb1")
	b.target(cc, "copy.example.com", "nodb1")
	b.mustRun(cc)
	clone := &provision.SiteInfo{ID: cc.Target.SiteID, Domain: "copy.example.com", Status: domain.SiteEnabled}
	mc := b.ctx(domain.TaskMigrate, site, "nodb1")
	b.target(mc, "moved.example.com", "nodb2")
	b.mustRun(mc)
	site.Domain = "moved.example.com"
	for _, s := range []*provision.SiteInfo{site, clone} {
		if code, body := b.get(s.Domain, "/"); code != 200 || body != "hooks platform home" {
			t.Fatalf("%s answers %d %q", s.Domain, code, body)
		}
	}
	b.mustRun(b.ctx(domain.TaskDelete, site, "nodb2"))
	b.mustRun(b.ctx(domain.TaskDelete, clone, "nodb1"))
	got := readLog(t, log)
	if strings.Contains(got, " db ") || strings.Count(got, " nodb ") != 6 {
		t.Fatalf("hooks of a site without a database:\n%s", got)
	}
	b.assertNothingLeft(site.ID, clone.ID)

	// A site cannot move to a platform with a database.
	other := b.newSite("other.example.com")
	b.mustRun(b.ctx(domain.TaskInstall, other, "nodb1"))
	other.Status = domain.SiteEnabled
	b.hooksPlatform("withdb", "hooks platform home", "", "")
	mc = b.ctx(domain.TaskMigrate, other, "nodb1")
	b.target(mc, "other.example.com", "withdb")
	res = b.run(mc)
	wantFailure(t, res, provision.CodePlatformType)
	if !strings.Contains(res.Explanation, "without") {
		t.Fatalf("explanation: %s", res.Explanation)
	}
}

// TestExpectMismatch: an application error page served with 200 fails the
// install with site_wrong_answer and the start of the page, and the
// install is rolled back.
func TestExpectMismatch(t *testing.T) {
	t.Parallel()
	b := setup(t)
	dir, _ := b.hooksPlatform("broken", "Fatal error: the application could not start", "expect {\n  path = \"/\"\n  text = \"Welcome\"\n}\n", "")
	site := b.newSite("broken.example.com")
	res := b.run(b.ctx(domain.TaskInstall, site, "broken"))
	wantFailure(t, res, provision.CodeSiteWrongAnswer)
	if !strings.Contains(res.Explanation, "Welcome") || !strings.Contains(res.Explanation, "Fatal error: the application could not start") {
		t.Fatalf("explanation lacks the expected text or the answer: %s", res.Explanation)
	}
	if _, err := os.Stat(filepath.Join(dir, "sites", site.Domain)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the failed install left its directory: %v", err)
	}
	b.assertNothingLeft(site.ID)

	// The same page with the text passes.
	if err := os.WriteFile(filepath.Join(dir, "public", "index.html"), []byte("Welcome to the app"), 0o644); err != nil {
		t.Fatal(err)
	}
	b.mustRun(b.ctx(domain.TaskInstall, b.newSite("ok.example.com"), "broken"))
}
