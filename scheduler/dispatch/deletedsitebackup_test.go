package dispatch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/store"
)

// TestDeletedSiteBackup: a backup of a deleted site is deleted by
// delete-backup-of-deleted-site, a task on the server holding the archive:
// the store queues it carrying the backup's client, the context carries
// the backup and the server (nothing else), the real back end removes the
// archive, and the result removes the record. Refused: the task while the
// site exists (request and context), a backup on another server, a
// missing backup, a result removing another backup.
func TestDeletedSiteBackup(t *testing.T) {
	t.Parallel()
	b := setup(t, fakeOK)
	ctx := context.Background()
	backupDir := filepath.Join(t.TempDir(), "backups")
	env := provision.EnvInfo{DataDir: t.TempDir(), BackupDir: backupDir, SecretsBackend: "file"}

	// finish runs a site task as its back end would have, with changes.
	finish := func(siteID string, typ domain.TaskType, changes func(*domain.Task) []store.Change) *domain.Task {
		t.Helper()
		task, err := b.st.RequestSiteTask(ctx, siteID, typ, nil, "test")
		must(t, err)
		must(t, b.st.StartTask(ctx, task, "test", 0))
		must(t, b.st.FinishTask(ctx, task, domain.TaskSucceeded, changes(task)...))
		return task
	}
	// backup records a backup of site whose archive is a real file.
	backup := func(site *domain.Site, typ domain.TaskType, reason string, more ...store.Change) *domain.Backup {
		t.Helper()
		bk := &domain.Backup{ID: domain.NewID(), SiteID: site.ID, ClientID: site.ClientID, Domain: site.Domain, ServerID: b.server.ID,
			Size: 5, SHA256: strings.Repeat("0", 64), Reason: reason}
		bk.Path = filepath.Join(backupDir, site.Domain, bk.ID+".tar.zst")
		must(t, os.MkdirAll(filepath.Dir(bk.Path), 0o755))
		must(t, os.WriteFile(bk.Path, []byte("dummy"), 0o600))
		finish(site.ID, typ, func(task *domain.Task) []store.Change {
			bk.TaskID = task.ID
			return append([]store.Change{store.AddBackup(bk)}, more...)
		})
		return bk
	}
	gone, _ := b.newSite(t)
	live, _ := b.newSite(t)
	b.settle(t)
	older := backup(gone, domain.TaskBackup, "manual")
	final := backup(gone, domain.TaskDelete, "pre-delete", store.RemoveSite(gone.ID))
	liveBackup := backup(live, domain.TaskBackup, "manual")
	if _, err := b.st.GetSite(ctx, gone.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("the deleted site: %v", err)
	}

	// Refused at the request: the site exists, the backup does not, a
	// task type that is not on a deleted site's backup.
	if _, err := b.st.RequestDeletedSiteBackupTask(ctx, liveBackup.ID, domain.TaskDeleteBackupOfDeletedSite, "test"); !errors.Is(err, domain.ErrConflict) ||
		!strings.Contains(err.Error(), live.Domain) {
		t.Errorf("a live site's backup: %v", err)
	}
	if _, err := b.st.RequestDeletedSiteBackupTask(ctx, domain.NewID(), domain.TaskDeleteBackupOfDeletedSite, "test"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("a missing backup: %v", err)
	}
	if _, err := b.st.RequestDeletedSiteBackupTask(ctx, older.ID, domain.TaskVerifyServer, "test"); !errors.Is(err, domain.ErrInvalid) {
		t.Errorf("verify-server through a backup: %v", err)
	}
	// The server task endpoint's way (no arguments) is refused, saying how.
	if _, err := b.st.RequestServerTask(ctx, b.server.ID, domain.TaskDeleteBackupOfDeletedSite, "test"); !errors.Is(err, domain.ErrInvalid) ||
		!strings.Contains(err.Error(), "aegir backup delete") {
		t.Errorf("delete-backup-of-deleted-site without a backup: %v", err)
	}

	for _, bk := range []*domain.Backup{older, final} {
		task, err := b.st.RequestDeletedSiteBackupTask(ctx, bk.ID, domain.TaskDeleteBackupOfDeletedSite, "alice")
		must(t, err)
		if task.TargetKind != domain.TargetServer || task.TargetID != b.server.ID || task.TargetName != b.server.Name ||
			task.ClientID != gone.ClientID || task.Args["backup_id"] != bk.ID || task.RequestedBy != "alice" {
			t.Fatalf("queued %+v", task)
		}
		pc, err := BuildContext(ctx, b.st, *task, env)
		must(t, err)
		if pc.Server == nil || pc.Server.ID != b.server.ID || pc.Backup == nil || pc.Backup.ID != bk.ID || pc.Backup.Path != bk.Path ||
			pc.Site != nil || pc.Services != nil || pc.Secrets != nil {
			t.Fatalf("context: server %+v backup %+v site %+v services %+v secrets %v", pc.Server, pc.Backup, pc.Site, pc.Services, pc.Secrets)
		}
		res := runBackEnd(t, pc)
		if res.Status != domain.TaskSucceeded || len(res.Changes.RemoveBackups) != 1 || res.Changes.RemoveBackups[0] != bk.ID {
			t.Fatalf("back end: %+v", res)
		}
		if _, err := os.Stat(bk.Path); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the archive is still there: %v", err)
		}
		// A result removing another backup is refused: a server task
		// removes only the one it was queued for.
		wrong := *res
		wrong.Changes.RemoveBackups = []string{liveBackup.ID}
		if _, err := ResultChanges(*task, &wrong); err == nil || !strings.Contains(err.Error(), liveBackup.ID) {
			t.Errorf("a result removing another backup: %v", err)
		}
		changes, err := ResultChanges(*task, res)
		must(t, err)
		must(t, b.st.StartTask(ctx, task, "test", 0))
		must(t, b.st.FinishTask(ctx, task, domain.TaskSucceeded, changes...))
		if _, err := b.st.GetBackup(ctx, bk.ID); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("the record is still there: %v", err)
		}
	}
	if left, _ := b.st.ListBackups(ctx, gone.ID, nil); len(left) != 0 {
		t.Errorf("the deleted site still has backups: %+v", left)
	}
	if _, err := b.st.GetBackup(ctx, liveBackup.ID); err != nil {
		t.Errorf("the live site's backup: %v", err)
	}
	if _, err := os.Stat(liveBackup.Path); err != nil {
		t.Errorf("the live site's archive: %v", err)
	}

	// The context refuses what changed since the task was queued.
	task := func(serverID, backupID string) domain.Task {
		return domain.Task{ID: domain.NewID(), Type: domain.TaskDeleteBackupOfDeletedSite, TargetKind: domain.TargetServer,
			TargetID: serverID, Args: map[string]string{"backup_id": backupID}}
	}
	other := &domain.Server{Name: "other", Address: "127.0.0.2"}
	_, err := b.st.CreateServer(ctx, other, nil, "test")
	must(t, err)
	for _, tc := range []struct {
		name string
		task domain.Task
		code string
	}{
		{"the site exists (again)", task(b.server.ID, liveBackup.ID), "site_exists"},
		{"the archive is on another server", task(other.ID, liveBackup.ID), "bad_backup"},
		{"the backup is gone", task(b.server.ID, older.ID), "missing_record"},
	} {
		_, err := BuildContext(ctx, b.st, tc.task, env)
		var ce *ContextError
		if !errors.As(err, &ce) || ce.Code != tc.code || ce.FixHint == "" {
			t.Errorf("%s: %v (%+v)", tc.name, err, ce)
		}
	}
}

// runBackEnd runs the real back end (aegir provision run) in this process
// on pc and returns its result.
func runBackEnd(t *testing.T, pc *provision.Context) *provision.Result {
	t.Helper()
	enc, err := EncodeContext(pc)
	must(t, err)
	var stdout, stderr bytes.Buffer
	if code := provision.Main(context.Background(), []string{"run", "--context", "-"}, bytes.NewReader(enc), &stdout, &stderr, provision.Deps{}); code != 0 {
		t.Fatalf("back end exit %d: %s", code, stderr.String())
	}
	var res provision.Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("back end result %q: %v", stdout.String(), err)
	}
	return &res
}
