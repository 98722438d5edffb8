package provision_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/secrets"
)

const homeMarker = "aegir-static-fixture-home"

// TestStaticLifecycle runs every site task on the static platform through
// the Runner: install → answers on domain and alias → backup → change
// content → restore → original content and data → disable (503) → enable →
// clone → migrate → delete → nothing of either site left on disk.
func TestStaticLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t)
	site := b.newSite("shop.example.com", "www.shop.example.com")

	// install
	res := b.mustRun(b.ctx(domain.TaskInstall, site, "static1"))
	if res.Changes.SiteStatus != domain.SiteEnabled {
		t.Fatalf("install proposed %q", res.Changes.SiteStatus)
	}
	site.Status = domain.SiteEnabled
	for _, host := range []string{"shop.example.com", "www.shop.example.com"} {
		if code, body := b.get(host, "/"); code != 200 || !strings.Contains(body, homeMarker) {
			t.Fatalf("%s answered %d %q", host, code, body)
		}
	}
	siteDir := filepath.Join(b.platform["static1"].Path, "sites", "shop.example.com")
	b.exec(site.ID, "CREATE TABLE hits (n INTEGER)", "INSERT INTO hits VALUES (1), (2), (3)")

	// backup
	res = b.mustRun(b.ctx(domain.TaskBackup, site, "static1"))
	if len(res.Changes.Backups) != 1 || res.Changes.Backups[0].Reason != "manual" {
		t.Fatalf("backups = %+v", res.Changes.Backups)
	}
	bk := res.Changes.Backups[0]
	if fi, err := os.Stat(bk.Path); err != nil || fi.Size() != bk.Size {
		t.Fatalf("archive %s: %v", bk.Path, err)
	}

	// change content and data
	if err := os.WriteFile(filepath.Join(siteDir, "public", "index.html"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(siteDir, "files", "upload.txt"), []byte("new upload"), 0o644); err != nil {
		t.Fatal(err)
	}
	b.exec(site.ID, "DELETE FROM hits")
	if _, body := b.get("shop.example.com", "/"); body != "changed" {
		t.Fatalf("content not changed: %q", body)
	}

	// restore
	rc := b.ctx(domain.TaskRestore, site, "static1")
	rc.Backup = &provision.BackupInfo{ID: domain.NewID(), Path: bk.Path, SHA256: bk.SHA256, Size: bk.Size}
	if res = b.run(rc); res.Status != domain.TaskSucceeded { // not mustRun: it would remove the replaced files
		t.Fatalf("restore: %s: %s", res.ErrorCode, res.Explanation)
	}
	// The live database was set aside, not backed up: no safety backup,
	// and its held copy is gone once the restore succeeded.
	if len(res.Changes.Backups) != 0 {
		t.Fatalf("restore recorded backups: %+v", res.Changes.Backups)
	}
	if held := glob(t, filepath.Join(filepath.Dir(b.sqlitePath(site.ID)), ".*.aside-*")); len(held) != 0 {
		t.Fatalf("the database's held copy is left: %v", held)
	}
	if _, body := b.get("shop.example.com", "/"); !strings.Contains(body, homeMarker) {
		t.Fatalf("restore did not bring the content back: %q", body)
	}
	if _, err := os.Stat(filepath.Join(siteDir, "files", "upload.txt")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a file added after the backup survived the restore: %v", err)
	}
	if n := b.count(site.ID, "hits"); n != 3 {
		t.Fatalf("restored database has %d rows, want 3", n)
	}
	// The directory it replaced is left for remove-replaced-files, which
	// the result asks for; that task removes it, and a second run finds
	// nothing to do.
	replaced := filepath.Join(filepath.Dir(siteDir), ".aegir-replaced-"+rc.Task.ID)
	if !res.Changes.ReplacedFiles {
		t.Fatal("the restore did not propose ReplacedFiles")
	}
	if b, err := os.ReadFile(filepath.Join(replaced, "public", "index.html")); err != nil || string(b) != "changed" {
		t.Fatalf("the replaced directory does not hold the replaced files: %q, %v", b, err)
	}
	if old := glob(t, filepath.Join(filepath.Dir(siteDir), ".aegir-old-*")); len(old) != 0 {
		t.Fatalf("the old directory is left under its restore-time name: %v", old)
	}
	xc := b.ctx(domain.TaskRemoveReplacedFiles, site, "static1")
	xc.Task.Args = map[string]string{"task_id": rc.Task.ID}
	if res := b.mustRun(xc); !strings.Contains(res.Summary, "removed the files restore "+rc.Task.ID+" replaced") {
		t.Fatalf("remove-replaced-files: %q", res.Summary)
	}
	if exists(replaced) {
		t.Fatal("remove-replaced-files left the directory")
	}
	xc.Task.ID = domain.NewID()
	if res := b.mustRun(xc); !strings.Contains(res.Summary, "nothing to remove") {
		t.Fatalf("remove-replaced-files again: %q", res.Summary)
	}
	if _, body := b.get("shop.example.com", "/"); !strings.Contains(body, homeMarker) {
		t.Fatalf("the site lost its content to remove-replaced-files: %q", body)
	}

	// disable, enable
	res = b.mustRun(b.ctx(domain.TaskDisable, site, "static1"))
	if res.Changes.SiteStatus != domain.SiteDisabled {
		t.Fatalf("disable proposed %q", res.Changes.SiteStatus)
	}
	site.Status = domain.SiteDisabled
	if code, _ := b.get("shop.example.com", "/"); code != 503 {
		t.Fatalf("disabled site answered %d", code)
	}
	res = b.mustRun(b.ctx(domain.TaskEnable, site, "static1"))
	if res.Changes.SiteStatus != domain.SiteEnabled {
		t.Fatalf("enable proposed %q", res.Changes.SiteStatus)
	}
	site.Status = domain.SiteEnabled
	if code, _ := b.get("shop.example.com", "/"); code != 200 {
		t.Fatalf("enabled site answered %d", code)
	}

	// verify
	b.mustRun(b.ctx(domain.TaskVerify, site, "static1"))

	// clone to another platform
	cc := b.ctx(domain.TaskClone, site, "static1")
	b.target(cc, "copy.example.com", "static2")
	res = b.mustRun(cc)
	if len(res.Changes.NewSites) != 1 || res.Changes.NewSites[0].Status != domain.SiteEnabled || res.Changes.NewSites[0].ID != cc.Target.SiteID {
		t.Fatalf("clone proposed %+v", res.Changes.NewSites)
	}
	clone := &provision.SiteInfo{ID: cc.Target.SiteID, Domain: "copy.example.com", Status: domain.SiteEnabled}
	if _, body := b.get("copy.example.com", "/"); !strings.Contains(body, homeMarker) {
		t.Fatalf("clone answered %q", body)
	}
	if n := b.count(clone.ID, "hits"); n != 3 {
		t.Fatalf("clone database has %d rows, want 3", n)
	}

	// migrate the original to static2 under a new domain
	mc := b.ctx(domain.TaskMigrate, site, "static1")
	b.target(mc, "shop2.example.com", "static2")
	res = b.mustRun(mc)
	mv := res.Changes.Move
	if mv == nil || mv.Domain != "shop2.example.com" || mv.PlatformID != b.platform["static2"].ID {
		t.Fatalf("migrate proposed %+v", mv)
	}
	if _, body := b.get("shop2.example.com", "/"); !strings.Contains(body, homeMarker) {
		t.Fatalf("migrated site answered %q", body)
	}
	// The builtin server drops the old route on its next reload (≤100ms).
	if code := b.eventually("shop.example.com", 404); code != 404 {
		t.Fatalf("old domain still answers %d", code)
	}
	if _, err := os.Stat(siteDir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("old site dir left: %v", err)
	}
	if n := b.count(site.ID, "hits"); n != 3 {
		t.Fatalf("migrated database has %d rows", n)
	}
	site.Domain, site.Aliases = "shop2.example.com", nil

	// delete both
	for _, s := range []*provision.SiteInfo{site, clone} {
		res = b.mustRun(b.ctx(domain.TaskDelete, s, "static2"))
		if !res.Changes.RemoveSite || len(res.Changes.Backups) != 1 || res.Changes.Backups[0].Reason != "pre-delete" {
			t.Fatalf("delete proposed %+v", res.Changes)
		}
	}
	b.assertNothingLeft(site.ID, clone.ID)
}

// assertNothingLeft walks the platforms and the data dir: no site dir, no
// database file, no route, no stored password; only backups remain.
func (b *bundle) assertNothingLeft(siteIDs ...string) {
	t := b.t
	t.Helper()
	for _, p := range b.platform {
		entries, _ := os.ReadDir(filepath.Join(p.Path, "sites"))
		for _, e := range entries {
			if e.Name() == "default" || e.Name() == "all" {
				continue // Drupal's own
			}
			t.Errorf("left in %s/sites: %s", p.Path, e.Name())
		}
	}
	_ = filepath.WalkDir(b.dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(b.dataDir, path)
		switch {
		case strings.HasPrefix(rel, "backups/"), strings.HasPrefix(rel, "secrets/"):
		default:
			t.Errorf("left in the data dir: %s", rel)
		}
		return nil
	})
	st, err := secrets.OpenFile(filepath.Join(b.dataDir, "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range siteIDs {
		if _, err := st.Get(context.Background(), secrets.SiteDBRef(id)); !errors.Is(err, secrets.ErrNotFound) {
			t.Errorf("password of %s left: %v", id, err)
		}
	}
}

// eventually polls host until it answers want or 3 s pass, and returns the
// last status.
func (b *bundle) eventually(host string, want int) int {
	b.t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		code, _ := b.get(host, "/")
		if code == want || time.Now().After(deadline) {
			return code
		}
		time.Sleep(20 * time.Millisecond)
	}
}
