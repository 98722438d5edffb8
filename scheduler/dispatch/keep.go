package dispatch

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"

	"github.com/aegirhq/aegir/internal/atomicfile"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
)

// A result the store did not take is kept in memory for the reap
// (storeretry.go). When the dispatcher stops with such results still
// unrecorded (the store is away for longer than the stop waits), they are
// written to Config.KeepDir, one file per task, and the next start's
// Recover records them before it deals with runners that are gone: the
// task ends with its real result, not runner_gone. The file holds the
// ending's words and the back end's result, from which the changes are
// made again against the records as they are then (check-and-set as
// always). Nomad back ends need none of this: their result stays in Redis
// for the next dispatcher to read.

// keptFile is one kept ending on disk.
type keptFile struct {
	TaskID      string            `json:"task_id"`
	Status      domain.TaskStatus `json:"status"`
	Code        string            `json:"code,omitempty"`
	Explanation string            `json:"explanation,omitempty"`
	Hint        string            `json:"hint,omitempty"`
	Summary     string            `json:"summary,omitempty"`
	Result      *provision.Result `json:"result,omitempty"`
}

func (d *Dispatcher) keptPath(taskID string) string {
	return filepath.Join(d.cfg.KeepDir, taskID+".json")
}

// writeKept writes the ending of taskID to KeepDir; it reports whether it
// did.
func (d *Dispatcher) writeKept(taskID string, e ending) bool {
	if d.cfg.KeepDir == "" || !domain.ValidID(taskID) {
		return false
	}
	b, err := json.Marshal(keptFile{TaskID: taskID, Status: e.status, Code: e.code, Explanation: e.explanation,
		Hint: e.hint, Summary: e.summary, Result: e.res})
	if err == nil {
		if err = os.MkdirAll(d.cfg.KeepDir, 0o700); err == nil {
			err = atomicfile.Write(d.keptPath(taskID), b, 0o600)
		}
	}
	if err != nil {
		d.log.Error("cannot keep a task result the store did not take; the task fails runner_gone at the next start", "task", taskID, "err", err)
		return false
	}
	return true
}

// readKept reads the kept ending of task t, with its changes made again
// from the result; ok is false when there is none.
func (d *Dispatcher) readKept(t domain.Task) (e ending, ok bool) {
	if d.cfg.KeepDir == "" || !domain.ValidID(t.ID) {
		return ending{}, false
	}
	b, err := os.ReadFile(d.keptPath(t.ID))
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			d.log.Warn("read a kept task result", "task", t.ID, "err", err)
		}
		return ending{}, false
	}
	var k keptFile
	if err := json.Unmarshal(b, &k); err != nil || k.TaskID != t.ID {
		d.log.Warn("a kept task result is unreadable; ignoring it", "task", t.ID, "err", err)
		return ending{}, false
	}
	e = ending{status: k.Status, code: k.Code, explanation: k.Explanation, hint: k.Hint, summary: k.Summary, res: k.Result}
	if k.Result != nil {
		changes, err := ResultChanges(t, k.Result)
		if err != nil {
			return notApplied(e, err), true
		}
		e.changes = changes
	}
	return e, true
}

// dropKept removes the kept file of a task whose ending is recorded.
func (d *Dispatcher) dropKept(taskID string) {
	if d.cfg.KeepDir == "" || !domain.ValidID(taskID) {
		return
	}
	if err := os.Remove(d.keptPath(taskID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		d.log.Warn("remove a recorded task result", "task", taskID, "err", err)
	}
}
