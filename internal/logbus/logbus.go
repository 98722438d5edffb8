package logbus

import (
	"context"
	"errors"
	"time"
)

// Line is one log line of a task.
type Line struct {
	// ID orders lines within a task; readers resume after it. In-process
	// ids are "<n>-0"; Redis stream ids are "<ms>-<seq>". Compare with
	// Less, never as strings.
	ID    string    `json:"id"`
	Time  time.Time `json:"time"`
	Level string    `json:"level"` // info, warn, error, debug
	Msg   string    `json:"msg"`
}

// Bus carries task logs from the back end to everyone following them.
type Bus interface {
	// Append adds a line to the task's log and returns its id.
	Append(ctx context.Context, taskID string, l Line) (string, error)
	// End marks the task's log complete: followers stop after the last line.
	End(ctx context.Context, taskID string) error
	// Read returns up to max lines after afterID ("" or "0": from the
	// start), waiting up to wait for at least one when there are none yet.
	// done is true when the log has ended and every line has been returned.
	Read(ctx context.Context, taskID, afterID string, max int, wait time.Duration) (lines []Line, done bool, err error)
	// Delete removes the live log (after it has been archived).
	Delete(ctx context.Context, taskID string) error
}

// ErrNoLog means the bus has no log for the task: it never started, or it
// was archived and deleted.
var ErrNoLog = errors.New("no live log for this task")
