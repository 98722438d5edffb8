package dashboard

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
)

// TestUIDeleteBackupOfDeletedSite: the dashboard's backup delete of a
// deleted site's backup queues delete-backup-of-deleted-site and takes
// the user to the task (the site's page is gone), which a user of the
// backup's client may follow.
func TestUIDeleteBackupOfDeletedSite(t *testing.T) {
	t.Parallel()
	b := uiSetup(t)
	ctx := context.Background()
	b.enable(b.siteA.ID)
	task, err := b.st.RequestSiteTask(ctx, b.siteA.ID, domain.TaskDelete, nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	bk := &domain.Backup{SiteID: b.siteA.ID, ClientID: b.siteA.ClientID, Domain: b.siteA.Domain, ServerID: b.ids["server"],
		Path: "/var/backups/a.example.com/x.tar.zst", Size: 18, SHA256: "abc", Reason: "pre-delete"}
	b.finish(task, domain.TaskSucceeded, store.AddBackup(bk), store.RemoveSite(b.siteA.ID))

	alice := loggedIn(t, b, "alice")
	alice.get("/")
	res, _ := alice.post("/backups/"+bk.ID+"/delete", url.Values{"confirm": {"a.example.com"}})
	p, _ := b.st.ListTasks(ctx, store.TaskFilter{Type: domain.TaskDeleteBackupOfDeletedSite})
	if p.Total != 1 {
		t.Fatalf("delete-backup-of-deleted-site tasks: %d (answer %d)", p.Total, res.StatusCode)
	}
	if loc := res.Header.Get("Location"); loc != "/tasks/"+p.Items[0].ID {
		t.Fatalf("redirected to %q, want the task", loc)
	}
	if res, body := alice.follow(res); res.StatusCode != 200 || !strings.Contains(body, "Deleting the backup of a.example.com") {
		t.Fatalf("the task page: %d %s", res.StatusCode, body)
	}
}
