package provision_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/builtinweb"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
)

// TestVerifyBackup restores a static site's backup into a throwaway site
// (builtin web, sqlite), which must answer and match its manifest, and
// leaves nothing of it behind; a tampered archive and a missing archive
// fail with what is wrong, also leaving nothing behind.
func TestVerifyBackup(t *testing.T) {
	t.Parallel()
	b := setup(t)
	site := b.installed("shop.example.com", "static1")
	b.exec(site.ID, "CREATE TABLE hits (n INTEGER)", "INSERT INTO hits VALUES (1), (2), (3)")
	res := b.mustRun(b.ctx(domain.TaskBackup, site, "static1"))
	bk := res.Changes.Backups[0]
	backup := &provision.BackupInfo{ID: domain.NewID(), Path: bk.Path, SHA256: bk.SHA256, Size: bk.Size}

	verify := func() (*provision.Context, provision.Result) {
		c := b.ctx(domain.TaskVerifyBackup, site, "static1")
		bc := *backup
		c.Backup = &bc
		return c, b.run(c)
	}
	nothingLeft := func(t *testing.T, c *provision.Context) {
		t.Helper()
		ents, _ := os.ReadDir(filepath.Join(b.platform["static1"].Path, "sites"))
		for _, e := range ents {
			if e.Name() != "shop.example.com" {
				t.Errorf("left in the sites dir: %s", e.Name())
			}
		}
		if _, err := os.Stat(b.sqlitePath(c.Task.ID)); !os.IsNotExist(err) {
			t.Errorf("throwaway database left: %v", err)
		}
		routes, _ := os.ReadDir(builtinweb.RoutesDir(b.dataDir))
		for _, r := range routes {
			if strings.Contains(r.Name(), "verify-") {
				t.Errorf("throwaway route left: %s", r.Name())
			}
		}
		if code, _ := b.get(provision.VerifyDomain(c.Task.ID), "/"); code != 404 {
			t.Errorf("the throwaway domain still answers %d", code)
		}
	}

	t.Run("restores", func(t *testing.T) {
		c, res := verify()
		if res.Status != domain.TaskSucceeded {
			t.Fatalf("%s: %s (%s)", res.ErrorCode, res.Explanation, res.FixHint)
		}
		if res.Report == nil || res.Report.Figures["files"] < 1 || res.Report.Figures["db_dump_bytes"] <= 0 {
			t.Fatalf("report %+v", res.Report)
		}
		if !strings.Contains(res.Summary, "restores") || len(res.Changes.Backups) != 0 || res.Changes.SiteStatus != "" || len(res.Changes.NewSites) != 0 {
			t.Fatalf("summary %q changes %+v", res.Summary, res.Changes)
		}
		if !strings.Contains(b.logs.String(), provision.VerifyDomain(c.Task.ID)) {
			t.Fatal("the log does not name the throwaway site")
		}
		nothingLeft(t, c)
		if code, _ := b.get("shop.example.com", "/"); code != 200 {
			t.Fatalf("the live site answers %d", code)
		}
		if n := b.count(site.ID, "hits"); n != 3 {
			t.Fatalf("the live site's data changed: %d rows", n)
		}
	})

	t.Run("tampered archive", func(t *testing.T) {
		bad := filepath.Join(filepath.Dir(bk.Path), "tampered.tar.zst")
		raw, err := os.ReadFile(bk.Path)
		if err != nil {
			t.Fatal(err)
		}
		raw[len(raw)/2] ^= 0xff
		if err := os.WriteFile(bad, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		c := b.ctx(domain.TaskVerifyBackup, site, "static1")
		c.Backup = &provision.BackupInfo{ID: domain.NewID(), Path: bad, SHA256: bk.SHA256, Size: bk.Size}
		res := b.run(c)
		if res.Status != domain.TaskFailed || res.ErrorCode != provision.CodeBackupCorrupt {
			t.Fatalf("tampered archive: %s %s: %s", res.Status, res.ErrorCode, res.Explanation)
		}
		nothingLeft(t, c)
	})

	t.Run("missing archive", func(t *testing.T) {
		c := b.ctx(domain.TaskVerifyBackup, site, "static1")
		c.Backup = &provision.BackupInfo{ID: domain.NewID(), Path: filepath.Join(filepath.Dir(bk.Path), "gone.tar.zst"), SHA256: bk.SHA256}
		res := b.run(c)
		if res.Status != domain.TaskFailed || res.Explanation == "" || res.FixHint == "" {
			t.Fatalf("missing archive: %+v", res)
		}
		nothingLeft(t, c)
	})

	t.Run("needs a backup", func(t *testing.T) {
		c := b.ctx(domain.TaskVerifyBackup, site, "static1")
		res := b.run(c)
		if res.Status != domain.TaskFailed || res.ErrorCode != provision.CodeContextInvalid {
			t.Fatalf("no backup: %s %s", res.Status, res.ErrorCode)
		}
	})
}

func TestVerifyDomainIsValid(t *testing.T) {
	t.Parallel()
	id := domain.NewID()
	d := provision.VerifyDomain(id)
	n, err := domain.NormalizeDomain(d)
	if err != nil || n != d {
		t.Fatalf("NormalizeDomain(%q) = %q, %v", d, n, err)
	}
}
