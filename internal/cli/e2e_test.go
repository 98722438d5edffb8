package cli

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/logbus"
)

// TestEndToEnd drives the real API (dashboard on a bbolt store, in this
// process, on 127.0.0.1) through Run's commands: create a client, a server,
// a platform and a site, list their queued tasks, then follow a task's log
// over SSE to its outcome.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, st, logs := realAPIBus(t)

	b.run("client", "create", "acme", "-title", "Acme Inc.").want(t, ExitOK)
	r := b.run("server", "create", "local", "-address", "127.0.0.1", "-http", "builtin", "-db", "sqlite").want(t, ExitOK)
	contains(t, "stdout", r.stdout, "Server local created", "(verify-server on server local) queued")
	r = b.run("platform", "create", "static1", "-path", "/srv/platforms/static1", "-server", "local", "-type", "static").want(t, ExitOK)
	contains(t, "stdout", r.stdout, "Platform static1 created", "(verify-platform on platform static1) queued")
	r = b.run("site", "create", "Example.COM", "-platform", "static1", "-db-server", "local", "-client", "acme", "-alias", "www.example.com").want(t, ExitOK)
	contains(t, "stdout", r.stdout, "Site example.com created", "(install on site example.com) queued")

	// The second site with the same name is refused, and changes nothing.
	// Without -client it is acme's, the only client, so what refuses it
	// is the name, not a missing owner.
	r = b.run("site", "create", "www.example.com", "-platform", "static1", "-db-server", "local").want(t, ExitFailed)
	contains(t, "stderr", r.stderr, "(duplicate)")

	r = b.run("site", "list").want(t, ExitOK)
	contains(t, "stdout", r.stdout, "example.com", "pending", "static1", "acme", "www.example.com")
	r = b.run("server", "show", "local").want(t, ExitOK)
	contains(t, "stdout", r.stdout, "builtin", "sqlite")

	r = b.run("task", "list", "-json").want(t, ExitOK)
	var tasks struct {
		Items []domain.Task `json:"items"`
		Total int           `json:"total"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &tasks); err != nil {
		t.Fatal(err)
	}
	types := map[domain.TaskType]domain.TaskStatus{}
	for _, x := range tasks.Items {
		types[x.Type] = x.Status
	}
	for _, typ := range []domain.TaskType{domain.TaskVerifyServer, domain.TaskVerifyPlatform, domain.TaskInstall} {
		if types[typ] != domain.TaskQueued {
			t.Errorf("%s task: %q, want queued; tasks %v", typ, types[typ], types)
		}
	}
	if tasks.Total != 3 {
		t.Errorf("%d tasks, want 3", tasks.Total)
	}
	r = b.run("task", "list", "-target", "example.com").want(t, ExitOK)
	contains(t, "stdout", r.stdout, "install", "site example.com", "queued")

	// Destructive commands refuse without -yes and change nothing.
	b.run("site", "delete", "example.com").want(t, ExitUsage)

	// Run the install task by hand as the back end would, then follow its
	// log: lines over SSE, and the exit code from its outcome.
	var install *domain.Task
	for i := range tasks.Items {
		if tasks.Items[i].Type == domain.TaskInstall {
			install = &tasks.Items[i]
		}
	}
	if err := st.StartTask(ctx, install, "test", 0); err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{"creating database", "writing vhost"} {
		if _, err := logs.Append(ctx, install.ID, logbus.Line{Time: time.Now(), Level: "info", Msg: msg}); err != nil {
			t.Fatal(err)
		}
	}
	if err := logs.End(ctx, install.ID); err != nil {
		t.Fatal(err)
	}
	if err := st.FinishTask(ctx, install, domain.TaskSucceeded); err != nil {
		t.Fatal(err)
	}
	r = b.run("task", "logs", "-f", install.ID).want(t, ExitOK)
	contains(t, "stdout", r.stdout, "info  creating database\n", "info  writing vhost\n")
	contains(t, "stderr", r.stderr, "(install) succeeded")
}
