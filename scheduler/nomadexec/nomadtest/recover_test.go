package nomadtest

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/nomad/api"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/scheduler/dispatch"
	"github.com/aegirhq/aegir/scheduler/nomadexec"
	"github.com/aegirhq/aegir/scheduler/runner"
)

// crashedProcess is the Nomad executor of an aegir process that dispatched
// tasks and then died: a second executor on the same cluster, so the
// bundle's dispatcher shares nothing with it but Nomad, Redis and the store.
func (b *bundle) crashedProcess(t testing.TB) *nomadexec.Executor {
	t.Helper()
	e, err := nomadexec.New(b.ncfg)
	must(t, err)
	return e
}

// startOn does what the dispatcher does before it records the runner:
// moves the task to running, then dispatches its back end through e.
func (b *bundle) startOn(t testing.TB, e *nomadexec.Executor, task *domain.Task) runner.Run {
	t.Helper()
	ctx := context.Background()
	pc, err := dispatch.BuildContext(ctx, b.st, *task, b.env)
	must(t, err)
	pctx, err := dispatch.EncodeContext(pc)
	must(t, err)
	must(t, b.st.StartTask(ctx, task, "", 0))
	run, err := e.Start(ctx, *task, pctx)
	must(t, err)
	return run
}

// verifyTask is the queued verify-server task of the server on node.
func (b *bundle) verifyTask(t testing.TB, node string) *domain.Task {
	t.Helper()
	tasks, _, err := b.st.ActiveTasks(context.Background())
	must(t, err)
	for _, x := range tasks {
		if x.Type == domain.TaskVerifyServer && x.TargetID == b.servers[node].ID {
			return &x
		}
	}
	t.Fatalf("no verify-server task for the server on %s", node)
	return nil
}

func jobOf(runner string) string { return strings.TrimPrefix(runner, "nomad:") }

// A dispatcher that crashed after dispatching and before recording the
// runner: on restart Recover finds each dispatched job by its task id,
// records it and follows it, and the task ends with the back end's real
// result, not "runner gone" — whether the job still ran at the restart
// (aegir-a, most likely) or had ended while no aegir followed it
// (aegir-b). Nothing is dispatched twice.
func testRecoverUnrecordedDispatch(t *testing.T, c *cluster) {
	ctx := context.Background()
	b := setup(t, c, options{noVerify: true})
	crashed := b.crashedProcess(t)
	running, ended := b.verifyTask(t, "aegir-a"), b.verifyTask(t, "aegir-b")
	runEnded := b.startOn(t, crashed, ended)
	runRunning := b.startOn(t, crashed, running)
	waitAllocDone(t, c, jobOf(runEnded.Runner()))
	if a := c.allocOfMaybe(runRunning.Runner()); a != nil {
		t.Logf("the aegir-a job was %s at the restart", a.ClientStatus)
	} else {
		t.Logf("the aegir-a job was not placed yet at the restart")
	}

	must(t, b.d.Recover(ctx))
	for node, x := range map[string]struct {
		task *domain.Task
		run  runner.Run
	}{"aegir-a": {running, runRunning}, "aegir-b": {ended, runEnded}} {
		done := b.waitDone(t, x.task.ID)
		if done.Status != domain.TaskSucceeded || done.Runner != x.run.Runner() || done.Summary == "" {
			t.Errorf("%s: task %s runner %q (dispatched %s): %q %s", node, done.Status, done.Runner, x.run.Runner(), done.Summary, done.Explanation)
		}
		srv, err := b.st.GetServer(ctx, b.servers[node].ID)
		must(t, err)
		if srv.Status != domain.ServerReady {
			t.Errorf("%s: server is %s after its verify task: the result was not applied", node, srv.Status)
		}
		children, _, err := c.api.Jobs().List(&api.QueryOptions{Prefix: nomadexec.TaskJobID(b.servers[node].Name) + "/"})
		must(t, err)
		if len(children) != 1 {
			t.Errorf("%s: %d dispatched jobs for one task, want 1", node, len(children))
		}
	}
}

// After a restart: a task whose recorded job was purged ends with the
// result its back end left in Redis; one whose job Nomad no longer has at
// all (garbage-collected with its allocations) and that left no result
// fails saying so — never stuck running; a task started but never
// dispatched fails saying Nomad has no job for it.
func testRecoverPurgedOrNeverDispatched(t *testing.T, c *cluster) {
	ctx := context.Background()
	b := setup(t, c, options{nodes: []string{"aegir-a"}, noVerify: true})
	srv := b.servers["aegir-a"]
	purged := b.verifyTask(t, "aegir-a")
	run := b.startOn(t, b.crashedProcess(t), purged)
	must(t, b.st.SetTaskRunner(ctx, purged, run.Runner()))
	_, _ = run.Wait()
	if _, _, err := c.api.Jobs().Deregister(jobOf(run.Runner()), true, nil); err != nil {
		t.Fatalf("purge %s: %v", run.Runner(), err)
	}

	var collected *domain.Task
	tasks, _, err := b.st.ActiveTasks(ctx)
	must(t, err)
	for _, x := range tasks {
		if x.Type == domain.TaskVerifyPlatform {
			collected = &x
		}
	}
	must(t, b.st.StartTask(ctx, collected, "", 0))
	gcJob := nomadexec.TaskJobID(srv.Name) + "/dispatch-" + collected.ID + "-1-0c0c0c0c"
	must(t, b.st.SetTaskRunner(ctx, collected, "nomad:"+gcJob))

	never, err := b.st.CreateServer(ctx, &domain.Server{Name: "t-never-" + srv.Name, Address: "127.0.0.1", NomadNode: "aegir-a"}, nil, "test")
	must(t, err)
	must(t, b.st.StartTask(ctx, never, "", 0)) // and the process died before dispatching

	must(t, b.d.Recover(ctx))
	if done := b.waitDone(t, purged.ID); done.Status != domain.TaskSucceeded || done.Summary == "" {
		t.Errorf("purged job: task %s %q: %s", done.Status, done.Summary, done.Explanation)
	}
	done := b.waitDone(t, collected.ID)
	t.Logf("collected job: %s: %s", done.Status, done.Explanation)
	if done.Status != domain.TaskFailed || !strings.Contains(done.Explanation, "is no longer in Nomad") || !strings.Contains(done.Explanation, gcJob) {
		t.Errorf("collected job: task %s: %s", done.Status, done.Explanation)
	}
	done = b.waitDone(t, never.ID)
	t.Logf("never dispatched: %s: %s", done.Status, done.Explanation)
	if done.Status != domain.TaskFailed || done.ErrorCode != "runner_gone" || !strings.Contains(done.Explanation, "Nomad has no job dispatched for the task") {
		t.Errorf("never dispatched: task %s %s: %s", done.Status, done.ErrorCode, done.Explanation)
	}
	children, _, err := c.api.Jobs().List(&api.QueryOptions{Prefix: nomadexec.TaskJobID("t-never-"+srv.Name) + "/"})
	must(t, err)
	if len(children) != 0 {
		t.Errorf("recovery dispatched %d jobs for a task that was never dispatched", len(children))
	}
}
