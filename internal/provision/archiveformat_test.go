package provision_test

import (
	"context"
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/provision/archive"
)

// TestBackupArchiveFormat: a backup is written in the archive format its
// context asks for, and in format 1 when the context names none (it came
// from a server of a release before format 2, whose back ends read format
// 1 only); this back end restores and verifies backups of either format.
func TestBackupArchiveFormat(t *testing.T) {
	t.Parallel()
	b := setup(t)
	site := b.installed("formats.example.com", "static1")
	b.exec(site.ID, "CREATE TABLE hits (n INTEGER)", "INSERT INTO hits VALUES (1), (2), (3)")

	for _, tc := range []struct {
		asked, want int
	}{{0, archive.Format1}, {1, archive.Format1}, {2, archive.Format2}, {99, archive.FormatVersion}} {
		c := b.ctx(domain.TaskBackup, site, "static1")
		c.Env.ArchiveFormat = tc.asked
		bk := b.mustRun(c).Changes.Backups[0]
		m, err := archive.Verify(context.Background(), bk.Path, bk.SHA256, nil)
		if err != nil {
			t.Fatal(err)
		}
		if m.Format != tc.want {
			t.Fatalf("context asked for format %d: the backup is format %d, want %d", tc.asked, m.Format, tc.want)
		}
		info := &provision.BackupInfo{ID: domain.NewID(), Path: bk.Path, SHA256: bk.SHA256, Size: bk.Size}
		vc := b.ctx(domain.TaskVerifyBackup, site, "static1")
		vc.Backup = info
		if res := b.run(vc); res.Status != domain.TaskSucceeded {
			t.Fatalf("verify-backup of a format %d backup: %s: %s", m.Format, res.ErrorCode, res.Explanation)
		}
		b.exec(site.ID, "DELETE FROM hits")
		rc := b.ctx(domain.TaskRestore, site, "static1")
		rc.Backup = info
		b.mustRun(rc)
		if n := b.count(site.ID, "hits"); n != 3 {
			t.Fatalf("restore of a format %d backup: %d rows, want 3", m.Format, n)
		}
	}
}
