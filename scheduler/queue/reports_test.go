package queue

import (
	"context"
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/scheduler/dispatch"
	"github.com/aegirhq/aegir/scheduler/runner"
)

// FakeNomad is an executor whose runners outlive aegir: it finds the
// runner "nomad:found" for every task and follows any runner again as a
// run that has ended with a cron report.
type FakeNomad struct{ dispatch.Executor } // Start and Alive are never called

func (FakeNomad) CanReattach() bool { return true }
func (FakeNomad) FindRunner(ctx context.Context, task domain.Task) (string, error) {
	return "nomad:found", nil
}
func (FakeNomad) Attach(ctx context.Context, task domain.Task, handle string) (runner.Run, error) {
	return endedRun{handle: handle, res: &provision.Result{Version: 1, TaskID: task.ID, Status: domain.TaskSucceeded,
		Report: &provision.QueueReport{Output: "cron ran", Seconds: 1.5}}}, nil
}

type endedRun struct {
	handle string
	res    *provision.Result
}

func (r endedRun) Runner() string                   { return r.handle }
func (r endedRun) Wait() (*provision.Result, error) { return r.res, nil }
func (r endedRun) Cancel()                          {}
func (r endedRun) Detach()                          {}

// TestObserveKeepsReattach: the wrapper the server puts around its
// executor says what the executor says about following runners again,
// finds them through it, and records the report of a cron run it follows
// again after a restart as of one it started.
func TestObserveKeepsReattach(t *testing.T) {
	t.Parallel()
	b := setupByHand(t, 1)
	ctx := context.Background()
	exec := b.q.Observe(FakeNomad{})
	if !exec.CanReattach() {
		t.Fatal("Observe hides that the executor's runners outlive aegir")
	}
	task := domain.Task{ID: domain.NewID(), Type: domain.TaskCron, TargetKind: domain.TargetSite, TargetID: b.sites[0].ID}
	if h, err := exec.FindRunner(ctx, task); h != "nomad:found" || err != nil {
		t.Fatalf("FindRunner = %q, %v", h, err)
	}
	run, err := exec.Attach(ctx, task, "nomad:found")
	must(t, err)
	if _, err := run.Wait(); err != nil {
		t.Fatal(err)
	}
	outs, err := b.q.CronOutputs(ctx, b.sites[0].ID)
	must(t, err)
	if len(outs) != 1 || outs[0].Output != "cron ran" || outs[0].TaskID != task.ID {
		t.Fatalf("cron outputs after a followed-again run: %+v", outs)
	}
}
