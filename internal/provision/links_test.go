package provision_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
)

// A site holding symlinks out of it (Debian's DokuWiki ships them) backs
// up with a warning naming each link and the count on the backup, verify
// warns about them too, and the backup restores (and verifies) with the
// links put back as links.
func TestSiteWithLinksOutOfItBacksUpAndRestores(t *testing.T) {
	t.Parallel()
	b := setup(t)
	site := b.installed("wiki.example.com", "static1")
	siteDir := filepath.Join(b.platform["static1"].Path, "sites", "wiki.example.com")
	outside := t.TempDir()
	links := map[string]string{
		"lib-tpl":       outside,                 // absolute, like DokuWiki's
		"files/up":      "../../../../somewhere", // climbs out
		"files/inside":  "../public",             // stays inside: no warning
		"public/vendor": "/usr/share/javascript", // absolute, need not exist
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(siteDir, name)); err != nil {
			t.Fatal(err)
		}
	}
	warned := func(t *testing.T, from int, what string) {
		t.Helper()
		log := b.logs.String()[from:]
		for _, name := range []string{"lib-tpl", "files/up", "public/vendor"} {
			if !strings.Contains(log, `"link":"`+name+`"`) {
				t.Errorf("%s did not warn about %s:\n%s", what, name, log)
			}
		}
		if strings.Contains(log, `"link":"files/inside"`) {
			t.Errorf("%s warned about a link inside the site", what)
		}
	}

	from := len(b.logs.String())
	res := b.mustRun(b.ctx(domain.TaskBackup, site, "static1"))
	bk := res.Changes.Backups[0]
	if bk.ExternalLinks != 3 || !strings.Contains(res.Summary, "3 symlinks point outside the site") {
		t.Errorf("backup: %d external links, summary %q", bk.ExternalLinks, res.Summary)
	}
	warned(t, from, "backup")

	from = len(b.logs.String())
	res = b.mustRun(b.ctx(domain.TaskVerify, site, "static1"))
	if !strings.Contains(res.Summary, "3 symlinks point outside the site") {
		t.Errorf("verify summary %q", res.Summary)
	}
	warned(t, from, "verify")

	backup := &provision.BackupInfo{ID: domain.NewID(), Path: bk.Path, SHA256: bk.SHA256, Size: bk.Size}
	vc := b.ctx(domain.TaskVerifyBackup, site, "static1")
	vc.Backup = backup
	b.mustRun(vc)

	for name := range links {
		if err := os.Remove(filepath.Join(siteDir, name)); err != nil {
			t.Fatal(err)
		}
	}
	from = len(b.logs.String())
	rc := b.ctx(domain.TaskRestore, site, "static1")
	rc.Backup = backup
	b.mustRun(rc)
	warned(t, from, "restore")
	for name, target := range links {
		p := filepath.Join(siteDir, name)
		fi, err := os.Lstat(p)
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Fatalf("%s restored as %v, %v; want a symlink", name, fi, err)
		}
		if l, _ := os.Readlink(p); l != target {
			t.Errorf("%s -> %q, want %q", name, l, target)
		}
	}
}
