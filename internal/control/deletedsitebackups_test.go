package control

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
)

// TestDeleteBackupsOfDeletedSite: Backups.Delete of a deleted site's
// backup (its final one, an older one) queues
// delete-backup-of-deleted-site on the server holding the archive,
// carrying the backup's client: an admin and a user of that client may,
// the client's users see the task, another client's user gets not found
// (as for any of that client's backups), and an unknown backup is not
// found. A live site's backup still goes through delete-backup on the
// site.
func TestDeleteBackupsOfDeletedSite(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.enable(t, b.siteA)
	b.enable(t, b.siteB)
	backup := func(site *domain.Site, typ domain.TaskType, reason string, more ...store.Change) *domain.Backup {
		t.Helper()
		task, err := b.st.RequestSiteTask(ctx, site.ID, typ, nil, "test")
		if err != nil {
			t.Fatal(err)
		}
		bk := &domain.Backup{ID: domain.NewID(), SiteID: site.ID, ClientID: site.ClientID, Domain: site.Domain,
			TaskID: task.ID, ServerID: b.server.ID, Path: "/var/backups/" + site.Domain + "/x.tar.zst", Size: 10, Reason: reason}
		b.finish(t, task, domain.TaskSucceeded, append([]store.Change{store.AddBackup(bk)}, more...)...)
		return bk
	}
	older := backup(b.siteA, domain.TaskBackup, "manual")
	final := backup(b.siteA, domain.TaskDelete, "pre-delete", store.RemoveSite(b.siteA.ID))
	liveB := backup(b.siteB, domain.TaskBackup, "manual")

	// alice (acme) still sees her deleted site's backups; bob does not.
	if bs, err := b.ctl.Backups.List(ctx, b.alice, ""); err != nil || len(bs) != 2 {
		t.Fatalf("alice's backups: %v %v", bs, err)
	}
	for _, id := range []string{older.ID, final.ID, domain.NewID(), "../../etc"} {
		if _, err := b.ctl.Backups.Delete(ctx, b.bob, id); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("bob deleting backup %s: %v", id, err)
		}
	}
	if _, err := b.ctl.Backups.Delete(ctx, b.admin, domain.NewID()); !errors.Is(err, domain.ErrNotFound) || !strings.Contains(err.Error(), "backup") {
		t.Errorf("an unknown backup: %v", err)
	}
	if p, _ := b.st.ListTasks(ctx, store.TaskFilter{Type: domain.TaskDeleteBackupOfDeletedSite}); p.Total != 0 {
		t.Fatalf("refusals queued %d tasks", p.Total)
	}

	for _, tc := range []struct {
		who Actor
		bk  *domain.Backup
	}{{b.alice, older}, {b.admin, final}} {
		task, err := b.ctl.Backups.Delete(ctx, tc.who, tc.bk.ID)
		if err != nil {
			t.Fatalf("%s deleting %s: %v", tc.who.Name(), tc.bk.Reason, err)
		}
		if task.Type != domain.TaskDeleteBackupOfDeletedSite || task.TargetKind != domain.TargetServer || task.TargetID != b.server.ID ||
			task.ClientID != tc.bk.ClientID || task.Args["backup_id"] != tc.bk.ID || task.RequestedBy != tc.who.Name() {
			t.Errorf("%s deleting %s queued %+v", tc.who.Name(), tc.bk.Reason, task)
		}
		// The client's users follow it; another client's do not see it.
		if _, err := b.ctl.Tasks.Get(ctx, b.alice, task.ID); err != nil {
			t.Errorf("alice following the task: %v", err)
		}
		if _, err := b.ctl.Tasks.Get(ctx, b.bob, task.ID); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("bob seeing alice's task: %v", err)
		}
	}
	if p, _ := b.ctl.Tasks.List(ctx, b.alice, store.TaskFilter{Type: domain.TaskDeleteBackupOfDeletedSite}); p.Total != 2 {
		t.Errorf("alice's task list holds %d of the 2 tasks", p.Total)
	}

	// A live site's backup: delete-backup on the site, as before.
	task, err := b.ctl.Backups.Delete(ctx, b.bob, liveB.ID)
	if err != nil || task.Type != domain.TaskDeleteBackup || task.TargetKind != domain.TargetSite || task.TargetID != b.siteB.ID {
		t.Fatalf("bob deleting his live site's backup: %+v %v", task, err)
	}

	// The server's task endpoint does not take it (no arguments there).
	if _, err := b.ctl.Servers.Task(ctx, b.admin, b.server.ID, apiv1.TaskRequest{Type: string(domain.TaskDeleteBackupOfDeletedSite)}); !errors.Is(err, domain.ErrInvalid) {
		t.Errorf("through the server's tasks: %v", err)
	}
}
