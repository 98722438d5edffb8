package app_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/provision/archive"
)

// TestBackupArchiveFormatSetting drives the built `aegir dev` and CLI: a
// backup is written in archive format 2 by default and in format 1 with
// AEGIR_BACKUP_ARCHIVE_FORMAT=1 (for back ends of older releases, README
// "Upgrades"), and either restores the site's content.
func TestBackupArchiveFormatSetting(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env    []string
		format int
	}{{nil, archive.Format2}, {[]string{"AEGIR_BACKUP_ARCHIVE_FORMAT=1"}, archive.Format1}} {
		t.Run(fmt.Sprintf("format%d", tc.format), func(t *testing.T) {
			t.Parallel()
			d := startDevEnv(t, tc.env)
			d.waitPlatformsReady()
			const site = "formats.example.test"
			d.mustCLI(0, "site", "create", site, "-platform", "example", "-db-server", "local", "-client", "default", "-wait")
			index := filepath.Join(d.dataDir, "platforms", "example", "sites", site, "public", "index.html")
			if err := os.WriteFile(index, []byte("kept in the backup\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			d.mustCLI(0, "site", "backup", site, "-wait")
			bs := d.backups()
			if len(bs) != 1 {
				t.Fatalf("backups: %+v", bs)
			}
			m, err := archive.Verify(context.Background(), bs[0].Path, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			if m.Format != tc.format {
				t.Fatalf("the backup is archive format %d, want %d", m.Format, tc.format)
			}
			if err := os.WriteFile(index, []byte("changed after it\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			d.mustCLI(0, "site", "restore", site, "-backup", bs[0].ID, "-yes", "-wait")
			if code, body := d.get(site, "/"); code != 200 || !strings.Contains(body, "kept in the backup") {
				t.Fatalf("after the restore of a format %d backup the site answers %d %q", tc.format, code, body)
			}
		})
	}
}
