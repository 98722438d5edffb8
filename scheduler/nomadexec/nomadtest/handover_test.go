package nomadtest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/locks"
	"github.com/aegirhq/aegir/scheduler/dispatch"
	"github.com/aegirhq/aegir/scheduler/nomadexec"
)

// slowBackend is the real aegir back end started a few seconds late, so a
// task is still running when the test stops its dispatcher.
func slowBackend(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "slow-aegir")
	script := "#!/bin/sh\nsleep 3\nexec " + aegirBin + " \"$@\"\n"
	must(t, os.WriteFile(p, []byte(script), 0o755))
	return p
}

// An aegir process that stops (a restart, an upgrade) while a task runs
// on Nomad leaves its job running; the next process's dispatcher follows
// it and the task ends with the back end's real result. The job is
// dispatched once.
func testHandOverOnShutdown(t *testing.T, c *cluster) {
	b := setup(t, c, options{nodes: []string{"aegir-a"}, binary: slowBackend(t), noVerify: true})
	task := b.verifyTask(t, "aegir-a")

	ctx1, stop1 := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- b.d.Run(ctx1) }()
	running := b.waitTask(t, task.ID, time.Minute, func(x *domain.Task) bool { return x.Status == domain.TaskRunning && x.Runner != "" })
	stop1()
	select {
	case err := <-stopped:
		must(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("the first dispatcher did not stop")
	}
	got, err := b.st.GetTask(context.Background(), task.ID)
	must(t, err)
	if got.Status != domain.TaskRunning {
		t.Fatalf("after the first dispatcher stopped the task is %s (%s): want running", got.Status, got.Explanation)
	}
	job, _, err := c.api.Jobs().Info(jobOf(running.Runner), nil)
	must(t, err)
	if job.Stop != nil && *job.Stop {
		t.Fatalf("the first dispatcher stopped job %s on its way out", *job.ID)
	}

	exec, err := nomadexec.New(b.ncfg)
	must(t, err)
	next, err := dispatch.New(dispatch.Config{
		Store: b.st, Executor: exec, Bus: b.bus, Locker: locks.NewMemory(), Logger: testLogger(t),
		MaxParallel: 16, TaskTimeout: 5 * time.Minute, Env: b.env,
	})
	must(t, err)
	ctx2, stop2 := context.WithCancel(context.Background())
	done2 := make(chan error, 1)
	go func() { done2 <- next.Run(ctx2) }()
	t.Cleanup(func() { stop2(); <-done2 })

	done := b.waitDone(t, task.ID)
	if done.Status != domain.TaskSucceeded || done.Runner != running.Runner {
		t.Fatalf("task %s with runner %q (first %q): %s", done.Status, done.Runner, running.Runner, done.Explanation)
	}
	srv, err := b.st.GetServer(context.Background(), b.servers["aegir-a"].ID)
	must(t, err)
	if srv.Status != domain.ServerReady {
		t.Errorf("server is %s: the followed task's result was not applied", srv.Status)
	}
	children, _, err := c.api.Jobs().List(&api.QueryOptions{Prefix: nomadexec.TaskJobID(b.servers["aegir-a"].Name) + "/"})
	must(t, err)
	mine := 0
	for _, child := range children {
		j, _, err := c.api.Jobs().Info(child.ID, nil)
		must(t, err)
		if j.Meta["task_id"] == task.ID {
			mine++
		}
	}
	if mine != 1 {
		t.Errorf("%d dispatched jobs for the task, want 1", mine)
	}
}

// aegir configured for a Nomad namespace nobody created: the first task
// fails at once, saying which namespace and how to make it, instead of
// blaming the aegir binary.
func testMissingNamespace(t *testing.T, c *cluster) {
	b := setup(t, c, options{nodes: []string{"aegir-a"}, noVerify: true, nomad: func(nc *nomadexec.Config) { nc.Namespace = "nobody-made-this" }})
	task := b.verifyTask(t, "aegir-a")
	b.start(t)
	done := b.waitDone(t, task.ID)
	if done.Status != domain.TaskFailed || done.ErrorCode != "nomad_namespace" ||
		!strings.Contains(done.Explanation, `"nobody-made-this"`) || !strings.Contains(done.FixHint, "setup-acl.sh") {
		t.Fatalf("task %s %s: %s (%s)", done.Status, done.ErrorCode, done.Explanation, done.FixHint)
	}
}
