package nomadexec

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/nomad/api"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/jobspecs"
	"github.com/aegirhq/aegir/scheduler/runner"
)

// A dispatched job outlives the aegir process that dispatched it: it keeps
// running on its node, and its back end leaves its result in Redis. After
// a restart the dispatcher finds the job of each running task (FindRunner,
// when the old process stopped before recording it) and follows it again
// (Attach), so the task ends with the back end's real result.

// CanReattach is true: a dispatched job outlives the aegir process that
// dispatched it, so a stopping dispatcher hands its tasks over and the
// next one follows their jobs again.
func (e *Executor) CanReattach() bool { return true }

// FindRunner returns the runner handle of the job dispatched for task —
// the child of any aegir-task job whose idempotency token and task_id meta
// are the task's id — or "" when Nomad has none (never dispatched, or
// purged since). Nomad filters the jobs itself (a go-bexpr filter on the
// job list), so this is one request however many children there are.
func (e *Executor) FindRunner(ctx context.Context, task domain.Task) (string, error) {
	if !domain.ValidID(task.ID) {
		// The id goes into a filter expression: only ids of NewID's shape.
		return "", fmt.Errorf("task id %q is not an aegir id; cannot look up its dispatched job", domain.Clip(task.ID))
	}
	q := &api.QueryOptions{
		Prefix: jobspecs.Task + "-",
		// The token first: the parent jobs have no task_id meta, and a
		// filter naming a missing key fails the whole request.
		Filter: fmt.Sprintf("DispatchIdempotencyToken == %q and Meta.%s == %q", task.ID, metaTaskID, task.ID),
	}
	stubs, _, err := e.api.Jobs().List(q.WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("look up the dispatched job of task %s in Nomad: %w", task.ID, err)
	}
	var found *api.JobListStub
	for _, j := range stubs {
		if !strings.HasPrefix(j.ParentID, jobspecs.Task+"-") {
			continue
		}
		// One per aegir-task job at most (the token); the newest if the
		// task's server was renamed in between.
		if found == nil || j.SubmitTime > found.SubmitTime {
			found = j
		}
	}
	if found == nil {
		return "", nil
	}
	return nomadRunnerPrefix + found.ID, nil
}

// Attach follows the dispatched job named by runner again, as Start's run
// would. A job that ended already gives a run whose Wait returns at once
// with its result; a job Nomad no longer has gives the result its back
// end left in Redis, or a "gone" NomadRunError. A runner that is not a
// Nomad dispatch wraps ErrForeignRunner. An adopted run takes an in-flight
// slot if one is free, and runs without one otherwise: the job is in Nomad
// already.
func (e *Executor) Attach(ctx context.Context, task domain.Task, handle string) (runner.Run, error) {
	jobID, ok := strings.CutPrefix(handle, nomadRunnerPrefix)
	if !ok || jobID == "" {
		return nil, fmt.Errorf("runner %q of task %s is not a Nomad dispatched job: %w", handle, task.ID, runner.ErrForeignRunner)
	}
	r := &nomadRun{
		e: e, taskID: task.ID, jobID: jobID, adopted: true,
		cancelCh: make(chan struct{}), done: make(chan struct{}), detachCh: make(chan struct{}),
	}
	job, _, err := e.api.Jobs().Info(jobID, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil && !isNotFound(err) {
		return nil, fmt.Errorf("read dispatched job %s of task %s: %w", jobID, task.ID, err)
	}
	if job != nil {
		if got := job.Meta[metaTaskID]; got != task.ID {
			return nil, fmt.Errorf("the dispatched job %s recorded for task %s runs task %q: %w", jobID, task.ID, got, runner.ErrForeignRunner)
		}
		r.server, r.node = job.Meta[metaServer], nodeOf(job)
	}
	select {
	case e.slots <- struct{}{}:
		r.slot = true
	default:
	}
	e.log.Info("following a job an earlier aegir process dispatched", "task", task.ID, "job", jobID, "node", r.node)
	go r.follow()
	return r, nil
}

// nodeOf is the node name a dispatched job is constrained to.
func nodeOf(job *api.Job) string {
	for _, c := range job.Constraints {
		if c != nil && c.LTarget == "${node.unique.name}" && (c.Operand == "" || c.Operand == "=" || c.Operand == "==") {
			return c.RTarget
		}
	}
	return ""
}
