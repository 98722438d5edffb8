package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
)

// goneServerBackupPath is where the archive of the backup goneServerBackup
// records lay: an admin may see it, a client user never.
const goneServerBackupPath = "/var/lib/aegir/backups/a.example.com/gone.tar.zst"

// goneServerBackup deletes site A, keeping its final backup on a second
// server, web2, then deletes web2 (it died): {gone} is a backup nothing
// can run on any more.
func goneServerBackup(b *bundle) {
	b.t.Helper()
	ctx := context.Background()
	must := func(err error) {
		b.t.Helper()
		if err != nil {
			b.t.Fatal(err)
		}
	}
	web2 := &domain.Server{Name: "web2", Address: "10.0.0.2"}
	_, err := b.st.CreateServer(ctx, web2, nil, "setup")
	must(err)
	b.enable(b.siteA.ID)
	task, err := b.st.RequestSiteTask(ctx, b.siteA.ID, domain.TaskDelete, nil, "test")
	must(err)
	bk := &domain.Backup{SiteID: b.siteA.ID, ClientID: b.siteA.ClientID, Domain: b.siteA.Domain, ServerID: web2.ID,
		Path: goneServerBackupPath, Size: 18, SHA256: "abc", Reason: "pre-delete"}
	b.finish(task, domain.TaskSucceeded, store.AddBackup(bk), store.RemoveSite(b.siteA.ID))
	srv, err := b.st.GetServer(ctx, web2.ID)
	must(err)
	must(b.st.DeleteServer(ctx, web2.ID, srv.Version))
	b.ids["gone"], b.ids["web2"] = bk.ID, web2.ID
}

// TestDeleteBackupOfGoneServer: DELETE /api/v1/backups/{id} of a deleted
// site's backup whose server was deleted too answers 202 with a task, as
// always, but one already succeeded: the record is gone, the task (on the
// gone server, carrying the backup's client) says the archive could not
// be removed and, to an admin only, where it is; the request is in the
// audit log. Another client's user gets 404 and nothing changes.
func TestDeleteBackupOfGoneServer(t *testing.T) {
	t.Parallel()
	removed := func(who string) func(t *testing.T, b *bundle, body []byte) {
		return func(t *testing.T, b *bundle, body []byte) {
			ctx := context.Background()
			var task domain.Task
			decodeJSON(t, body, &task)
			if task.Type != domain.TaskDeleteBackupOfDeletedSite || task.Status != domain.TaskSucceeded ||
				task.TargetKind != domain.TargetServer || task.TargetID != b.ids["web2"] || task.TargetName != "web2" ||
				task.ClientID != b.ids["clientA"] || task.RequestedBy != who {
				t.Errorf("task = %+v", task)
			}
			if _, err := b.st.GetBackup(ctx, b.ids["gone"]); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("the backup after its delete: %v", err)
			}
			if p, _ := b.st.ListTasks(ctx, store.TaskFilter{Status: domain.TaskQueued, Type: domain.TaskDeleteBackupOfDeletedSite}); p.Total != 0 {
				t.Errorf("%d tasks queued for a server that is gone", p.Total)
			}
			// Its client's user follows it, the path hidden; another
			// client's user does not see it.
			res, got := b.do("GET", "/api/v1/tasks/"+task.ID, "alice", "", nil)
			if res.StatusCode != 200 || !strings.Contains(string(got), "no longer exists") || strings.Contains(string(got), "/var/lib/aegir") {
				t.Errorf("alice following the task: %d %s", res.StatusCode, got)
			}
			if res, _ := b.do("GET", "/api/v1/tasks/"+task.ID, "bob", "", nil); res.StatusCode != 404 {
				t.Errorf("bob reading alice's task: %d", res.StatusCode)
			}
			audit, err := b.st.ListAudit(ctx, store.AuditFilter{ObjectID: b.ids["gone"], Action: "request_task"})
			if err != nil || audit.Total != 1 || audit.Items[0].UserName != who ||
				audit.Items[0].Fields["type"] != string(domain.TaskDeleteBackupOfDeletedSite) {
				raw, _ := json.Marshal(audit)
				t.Errorf("audit entries of the delete: %s %v", raw, err)
			}
		}
	}
	runScenarios(t, []scenario{
		{
			name: "a user of the backup's client", method: "DELETE", url: "/api/v1/backups/{gone}", token: "alice",
			before: goneServerBackup, wantStatus: 202,
			wantContains: []string{`"status":"succeeded"`, "The server web2 that held this archive no longer exists", "a.example.com"},
			notContains:  []string{"/var/lib/aegir"},
			after:        removed("alice"),
		},
		{
			name: "an admin sees where the archive is", method: "DELETE", url: "/api/v1/backups/{gone}", token: "admin",
			before: goneServerBackup, wantStatus: 202,
			wantContains: []string{`"status":"succeeded"`, "no longer exists", goneServerBackupPath},
			after:        removed("admin"),
		},
		{
			name: "another client's user", method: "DELETE", url: "/api/v1/backups/{gone}", token: "bob",
			before: goneServerBackup, wantStatus: 404, wantCode: "not_found", unchanged: true,
		},
	})
}

// TestUIDeleteBackupOfGoneServer: the dashboard's backup delete of a
// backup whose site and server are gone removes the record and takes the
// user to the finished task, which says so without the archive's path.
func TestUIDeleteBackupOfGoneServer(t *testing.T) {
	t.Parallel()
	b := uiSetup(t)
	goneServerBackup(b)
	alice := loggedIn(t, b, "alice")
	alice.get("/")
	res, _ := alice.post("/backups/"+b.ids["gone"]+"/delete", url.Values{"confirm": {"a.example.com"}})
	p, _ := b.st.ListTasks(context.Background(), store.TaskFilter{Type: domain.TaskDeleteBackupOfDeletedSite})
	if p.Total != 1 || p.Items[0].Status != domain.TaskSucceeded {
		t.Fatalf("delete-backup-of-deleted-site tasks: %+v (answer %d)", p.Items, res.StatusCode)
	}
	if loc := res.Header.Get("Location"); loc != "/tasks/"+p.Items[0].ID {
		t.Fatalf("redirected to %q, want the task", loc)
	}
	res, body := alice.follow(res)
	if res.StatusCode != 200 || !strings.Contains(body, "Removed the record of the backup of a.example.com") ||
		!strings.Contains(body, "The server web2 that held this archive no longer exists") || strings.Contains(body, "/var/lib/aegir") {
		t.Fatalf("the task page: %d %s", res.StatusCode, body)
	}
	if _, err := b.st.GetBackup(context.Background(), b.ids["gone"]); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("the backup after its delete: %v", err)
	}
}
