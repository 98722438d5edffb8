package dispatch

import (
	"context"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/scheduler/runner"
)

// Executor runs the back end (`aegir provision run`) for one task
// somewhere: a local child process (localexec) or a Nomad dispatch
// (nomadexec). The executors implement it; the dispatcher declares it.
type Executor interface {
	// Start launches the back end for task with the encoded context pctx
	// (at most provision.MaxContextSize bytes; an executor whose transport
	// takes less may store it elsewhere and pass a reference). It returns
	// once the back end is running, not when it ends. The back end's log
	// lines go to the log bus as they happen.
	Start(ctx context.Context, task domain.Task, pctx []byte) (runner.Run, error)
	// Alive reports whether the runner named by a handle from runner.Run.Runner
	// still exists. The dispatcher asks at startup, and for running tasks
	// it does not own, so a task whose runner is gone does not stay
	// running. An error means "cannot tell now", not "gone".
	Alive(ctx context.Context, runner string) (bool, error)

	// CanReattach reports whether the executor's runners outlive the aegir
	// process that started them: a dispatched Nomad job keeps running on
	// its node and leaves its result behind; a local back end dies with
	// aegir. When it does, a stopping dispatcher hands its running tasks
	// over (Detach) instead of stopping them, and Recover and reap follow
	// such a runner again (FindRunner, Attach) instead of failing its task
	// as "runner gone". It is a method of every executor, not an optional
	// interface, so that a wrapper (queue.Queues.Observe) cannot hide it.
	CanReattach() bool
	// FindRunner returns the handle of the runner an earlier process
	// started for task without recording it (it stopped in between), or
	// "" when there is none (always, when the executor cannot reattach).
	FindRunner(ctx context.Context, task domain.Task) (string, error)
	// Attach follows the runner named by handle again. A runner that has
	// ended already gives a Run whose Wait says how. An error wrapping
	// runner.ErrForeignRunner means the handle is not this executor's (or
	// the executor cannot reattach); any other error means "cannot tell
	// now".
	Attach(ctx context.Context, task domain.Task, handle string) (runner.Run, error)
}
