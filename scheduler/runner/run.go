// Package runner is the contract of one started back end: the Run an
// executor returns for a task, whoever declares the executor.
package runner

import (
	"errors"

	"github.com/aegirhq/aegir/internal/provision"
)

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
	// Detach stops following the runner without stopping it: Wait
	// returns (with an error) soon after, and the runner goes on for
	// another dispatcher to follow. The dispatcher detaches the runs of an
	// executor whose runners outlive aegir (CanReattach) when it stops.
	// Safe to call more than once and after the end.
	Detach()
}

// ErrForeignRunner is an executor's Attach saying "this runner handle is
// not mine" (or "I follow no runner again": the local executor): the
// dispatcher falls back to asking Alive.
var ErrForeignRunner = errors.New("not a runner this executor can follow")

// Failure is a sentinel error an executor's Start wraps to say how the
// task fails: its error code and the fix hint an operator reads. The
// dispatcher finds it with errors.As; a Start error without one fails
// the task with code runner_start.
type Failure struct {
	// Msg is the error text.
	Msg string
	// Code is the task's error code, e.g. "nomad_permission".
	Code string
	// Hint tells the operator what to do before retrying the task.
	Hint string
}

func (f *Failure) Error() string { return f.Msg }
