package scheduler

import (
	"context"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
)

// Executor runs the back end (`aegir provision run`) for one task
// somewhere: a local child process (LocalExecutor) or a Nomad dispatch.
type Executor interface {
	// Start launches the back end for task with the encoded context pctx
	// (at most provision.MaxContextSize bytes; an executor whose transport
	// takes less may store it elsewhere and pass a reference). It returns
	// once the back end is running, not when it ends. The back end's log
	// lines go to the log bus as they happen.
	Start(ctx context.Context, task domain.Task, pctx []byte) (Run, error)
	// Alive reports whether the runner named by a handle from Run.Runner
	// still exists. The dispatcher asks at startup, and for running tasks
	// it does not own, so a task whose runner is gone does not stay
	// running. An error means "cannot tell now", not "gone".
	Alive(ctx context.Context, runner string) (bool, error)
}

// Run is one started back end.
type Run interface {
	// Runner is the handle stored on the task ("local:<host>:<pid>:<start>",
	// a Nomad dispatch id) so that Alive can find the runner again after a
	// restart of the dispatcher.
	Runner() string
	// Wait blocks until the back end ends and returns its result. It
	// returns an error, whose text explains what happened for an operator,
	// when the back end produced no usable result: it crashed, was killed
	// or printed something that is not a result. Safe to call more than
	// once; every call returns the same.
	Wait() (*provision.Result, error)
	// Cancel asks the back end to stop (SIGTERM, then SIGKILL after a grace
	// period, for the whole process group). It returns at once; Wait says
	// how it ended. Safe to call more than once and after the end.
	Cancel()
}
