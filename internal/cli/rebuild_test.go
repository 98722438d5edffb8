package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
)

// Rebuild restores every installed site from its newest backup and reports
// each: restored, failed with the task's words, or skipped.
func TestRebuild(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	sites := []domain.Site{
		{ID: "s1", Domain: "ok.example.com", Status: domain.SiteEnabled},
		{ID: "s2", Domain: "broken.example.com", Status: domain.SiteDisabled},
		{ID: "s3", Domain: "nobackup.example.com", Status: domain.SiteEnabled},
		{ID: "s4", Domain: "pending.example.com", Status: domain.SitePending},
	}
	f.on("GET", "/sites", 200, list(sites...))
	f.on("GET", "/sites/s1/backups", 200, list(domain.Backup{ID: "b1", SiteID: "s1", CreatedAt: time.Now()}))
	f.on("GET", "/sites/s2/backups", 200, list(domain.Backup{ID: "b2", SiteID: "s2", CreatedAt: time.Now()}))
	f.on("GET", "/sites/s3/backups", 200, list[domain.Backup]())
	for _, s := range []struct{ site, task string }{{"s1", "t1"}, {"s2", "t2"}} {
		f.on("POST", "/sites/"+s.site+"/tasks", 202, domain.Task{ID: s.task, Type: domain.TaskRestore, Status: domain.TaskQueued})
	}
	f.on("GET", "/tasks/t1", 200, domain.Task{ID: "t1", Type: domain.TaskRestore, Status: domain.TaskSucceeded})
	f.on("GET", "/tasks/t2", 200, domain.Task{ID: "t2", Type: domain.TaskRestore, Status: domain.TaskFailed, ErrorCode: "backup_corrupt", Explanation: "The archive does not verify"})

	env := map[string]string{"AEGIR_ADDR": f.srv.URL, "AEGIR_TOKEN": testToken}
	var stdout, stderr bytes.Buffer
	code := Rebuild(context.Background(), []string{"-json"}, func(k string) string { return env[k] }, &stdout, &stderr)
	if code != ExitFailed {
		t.Fatalf("exit %d, want %d (a site was not restored)\n%s\n%s", code, ExitFailed, stdout.String(), stderr.String())
	}
	var got []RebuildReport
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	want := []RebuildReport{
		{Site: "ok.example.com", Backup: "b1", Task: "t1", Outcome: "restored"},
		{Site: "broken.example.com", Backup: "b2", Task: "t2", Outcome: "failed", Explanation: "failed: The archive does not verify (backup_corrupt)"},
		{Site: "nobackup.example.com", Outcome: "skipped", Explanation: "no backup"},
		{Site: "pending.example.com", Outcome: "skipped", Explanation: "the site is pending, not installed"},
	}
	if len(got) != len(want) {
		t.Fatalf("report = %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("report[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	for site, backup := range map[string]string{"s1": "b1", "s2": "b2"} {
		body := f.only("POST", "/sites/"+site+"/tasks").Body
		if !strings.Contains(body, `"type":"restore"`) || !strings.Contains(body, `"backup_id":"`+backup+`"`) {
			t.Errorf("restore of %s: %s", site, body)
		}
	}
	if n := len(f.writes()); n != 2 {
		t.Errorf("writes = %v, want the two restores", f.writes())
	}

	// Every site restored: exit 0, a table.
	f2 := newFakeAPI(t)
	f2.on("GET", "/sites", 200, list(sites[0]))
	f2.on("GET", "/sites/s1/backups", 200, list(domain.Backup{ID: "b1", SiteID: "s1"}))
	f2.on("POST", "/sites/s1/tasks", 202, domain.Task{ID: "t1", Status: domain.TaskQueued})
	f2.on("GET", "/tasks/t1", 200, domain.Task{ID: "t1", Status: domain.TaskSucceeded})
	env["AEGIR_ADDR"] = f2.srv.URL
	stdout.Reset()
	if code := Rebuild(context.Background(), nil, func(k string) string { return env[k] }, &stdout, &stderr); code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "SITE") || !strings.Contains(stdout.String(), "ok.example.com  restored") {
		t.Errorf("table:\n%s", stdout.String())
	}
}
