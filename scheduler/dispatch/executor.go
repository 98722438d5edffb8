package dispatch

import (
	"context"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/scheduler/runner"
)

// Executor runs the back end (`aegir provision run`) for one task
// somewhere: a local child process (LocalExecutor) or a Nomad dispatch.
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
}
