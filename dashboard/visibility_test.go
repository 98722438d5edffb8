package dashboard

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/dashboard/api"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/logbus"
	"github.com/aegirhq/aegir/internal/store"
)

// TestClientUsersSeeOnlyWhatTheyNeed (issue 14 item 7): a client user's
// answers leave out where platforms live, servers' addresses and
// services' settings; an admin's include them. The fixture's platform is
// at /srv/platforms/p1 on web1 (127.0.0.1), whose services are nginx and
// mariadb.
func TestClientUsersSeeOnlyWhatTheyNeed(t *testing.T) {
	t.Parallel()
	hidden := []string{"/srv/platforms", `"path"`, "127.0.0.1", `"address"`, `"settings"`}
	runScenarios(t, []scenario{
		{
			name: "client user: platform list without paths", method: "GET", url: "/api/v1/platforms", token: "alice",
			wantStatus: 200, wantContains: []string{`"name":"p1"`, `"type":"php"`, `"web_server_id":"{server}"`}, notContains: hidden,
		},
		{
			name: "client user: platform without its path", method: "GET", url: "/api/v1/platforms/{platform}", token: "alice",
			wantStatus: 200, wantContains: []string{`"name":"p1"`}, notContains: hidden,
		},
		{
			name: "client user: sites without paths or addresses", method: "GET", url: "/api/v1/sites", token: "alice",
			wantStatus: 200, wantContains: []string{`"domain":"a.example.com"`}, notContains: hidden,
		},
		{
			name: "client user: site without paths or addresses", method: "GET", url: "/api/v1/sites/{siteA}", token: "alice",
			wantStatus: 200, wantContains: []string{`"domain":"a.example.com"`}, notContains: hidden,
		},
		{
			name: "client user: no server list", method: "GET", url: "/api/v1/servers", token: "alice",
			wantStatus: 403, wantCode: api.CodeForbidden, notContains: hidden,
		},
		{
			name: "client user: no server", method: "GET", url: "/api/v1/servers/{server}", token: "alice",
			wantStatus: 404, wantCode: api.CodeNotFound, notContains: hidden,
		},
		{
			name: "client user: no services", method: "GET", url: "/api/v1/services?server_id={server}", token: "alice",
			wantStatus: 403, wantCode: api.CodeForbidden, notContains: hidden,
		},
		{
			name: "admin: platform list with paths", method: "GET", url: "/api/v1/platforms", token: "admin",
			wantStatus: 200, wantContains: []string{`"path":"/srv/platforms/p1"`},
		},
		{
			name: "admin: platform with its path", method: "GET", url: "/api/v1/platforms/{platform}", token: "admin",
			wantStatus: 200, wantContains: []string{`"path":"/srv/platforms/p1"`},
		},
		{
			name: "admin: server with its address", method: "GET", url: "/api/v1/servers/{server}", token: "admin",
			wantStatus: 200, wantContains: []string{`"address":"127.0.0.1"`},
		},
		{
			name: "admin: services with their settings", method: "GET", url: "/api/v1/services?server_id={server}", token: "admin",
			before: func(b *bundle) {
				id, v := b.service("http")
				if res, body := b.do("PUT", "/api/v1/services/"+id, "admin", `{"settings":{"pid_file":"/run/nginx.pid"},"version":`+v+`}`, nil); res.StatusCode != 200 {
					b.t.Fatalf("set nginx's settings: %d %s", res.StatusCode, body)
				}
			},
			wantStatus: 200, wantContains: []string{`"settings":{"pid_file":"/run/nginx.pid"}`},
		},
	})
}

// TestClientUsersSeeNoBackupPaths (issue 14 item 7): where a backup's
// archive lies on the server is left out of a client user's answers
// (API and the site's dashboard page), yet they download it; an admin
// sees the path.
func TestClientUsersSeeNoBackupPaths(t *testing.T) {
	t.Parallel()
	b := uiSetup(t)
	b.enable(b.siteA.ID)
	dir := filepath.Join(t.TempDir(), "backups-hidden")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(dir, "a.tar.zst")
	if err := os.WriteFile(archive, []byte("zstd archive bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	bk := &domain.Backup{SiteID: b.siteA.ID, ClientID: b.siteA.ClientID, Domain: b.siteA.Domain, Path: archive, Size: 18, SHA256: "abc", Reason: "manual"}
	task, err := b.st.RequestSiteTask(t.Context(), b.siteA.ID, domain.TaskBackup, nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	b.finish(task, domain.TaskSucceeded, store.AddBackup(bk))
	b.ids["backup"] = bk.ID
	for _, u := range []string{"/api/v1/backups/{backup}", "/api/v1/backups", "/api/v1/sites/{siteA}/backups"} {
		res, body := b.do("GET", u, "alice", "", nil)
		if res.StatusCode != 200 || !strings.Contains(string(body), bk.ID) || strings.Contains(string(body), "backups-hidden") || strings.Contains(string(body), `"path"`) {
			t.Errorf("alice GET %s: %d %s", u, res.StatusCode, body)
		}
		res, body = b.do("GET", u, "admin", "", nil)
		if res.StatusCode != 200 || !strings.Contains(string(body), `"path":"`+archive+`"`) {
			t.Errorf("admin GET %s: %d %s", u, res.StatusCode, body)
		}
	}
	if res, body := b.do("GET", "/api/v1/backups/{backup}/download", "alice", "", nil); res.StatusCode != 200 || string(body) != "zstd archive bytes" {
		t.Errorf("alice's download: %d %q", res.StatusCode, body)
	}
	w := loggedIn(t, b, "alice")
	_, page := w.get(b.expand("/sites/{siteA}"))
	if !strings.Contains(page, "/backups/"+bk.ID+"/download") || strings.Contains(page, "backups-hidden") {
		t.Errorf("alice's site page: backup listed %v, path shown %v", strings.Contains(page, bk.ID), strings.Contains(page, "backups-hidden"))
	}
	if res, body := w.get(b.expand("/backups/{backup}/download")); res.StatusCode != 200 || body != "zstd archive bytes" {
		t.Errorf("alice's download from the dashboard: %d", res.StatusCode)
	}
}

// TestClientUsersTaskLogsRedacted (issue 14 item 7): a task's log lines,
// as JSON and as a stream, hide paths and server addresses from a client
// user; an admin reads them as written.
func TestClientUsersTaskLogsRedacted(t *testing.T) {
	t.Parallel()
	b := setup(t)
	task := b.taskOf(b.siteA.ID, domain.TaskInstall)
	b.ids["task"] = task.ID
	b.logs.taskID, b.logs.ended = task.ID, true
	b.logs.lines = append(b.logs.lines, logbus.Line{ID: "1-0", Level: "info", Msg: "backup written path=/var/lib/aegir/backups/a.example.com/x.tar.zst on web1 at 127.0.0.1"})
	for _, u := range []string{"/api/v1/tasks/{task}/log", "/api/v1/tasks/{task}/log?follow=1"} {
		_, body := b.do("GET", u, "alice", "", nil)
		if strings.Contains(string(body), "/var/lib/aegir") || strings.Contains(string(body), "127.0.0.1") || !strings.Contains(string(body), "backup written path=(path hidden) on web1 at (address hidden)") {
			t.Errorf("alice's %s: %s", u, body)
		}
		_, body = b.do("GET", u, "admin", "", nil)
		if !strings.Contains(string(body), "/var/lib/aegir/backups/a.example.com/x.tar.zst on web1 at 127.0.0.1") {
			t.Errorf("the admin's %s: %s", u, body)
		}
	}
}

// TestClientUsersTaskPageRedacted: the dashboard's task page, which
// renders the log itself, hides paths and addresses from a client user.
func TestClientUsersTaskPageRedacted(t *testing.T) {
	t.Parallel()
	b := uiSetup(t)
	task := b.taskOf(b.siteA.ID, domain.TaskInstall)
	b.logs.taskID, b.logs.ended = task.ID, true
	b.logs.lines = append(b.logs.lines, logbus.Line{ID: "1-0", Level: "info", Msg: "backup written path=/var/lib/aegir/backups/x.tar.zst at 127.0.0.1"})
	_, page := loggedIn(t, b, "alice").get("/tasks/" + task.ID)
	if strings.Contains(page, "/var/lib/aegir") || strings.Contains(page, "127.0.0.1") || !strings.Contains(page, "path=(path hidden) at (address hidden)") {
		t.Errorf("alice's task page shows the path or address")
	}
	_, page = loggedIn(t, b, "admin").get("/tasks/" + task.ID)
	if !strings.Contains(page, "/var/lib/aegir/backups/x.tar.zst at 127.0.0.1") {
		t.Errorf("the admin's task page lacks the log line")
	}
}
