package dispatch

import (
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
)

// DispatcherStatus is what a Dispatcher reports about itself, for the
// operator's status view (GET /api/v1/status).
type DispatcherStatus struct {
	// Running is how many tasks this dispatcher runs now, of MaxParallel.
	Running, MaxParallel int
	// Queued is how many tasks the last pass (LastPass) left queued:
	// their target busy, or MaxParallel reached.
	Queued int
	// LastPass is when the dispatcher last read the queue; zero when it
	// never did (it runs only in the leading aegir process).
	LastPass time.Time
	// Err is why the last read of the queue failed (Queued and LastPass
	// are then from the last read that worked); nil when it worked.
	Err error
	// Janitor is what the back ends' janitors reported (the leftovers of
	// dead tasks they removed before a task), since this dispatcher ran.
	Janitor JanitorStatus
}

// JanitorStatus adds up the janitor reports of the results this
// dispatcher received (provision.Result.Janitor), and keeps the last one.
type JanitorStatus struct {
	// Removed and Bytes add up every report's.
	Removed int
	Bytes   int64
	// Last is the last report, LastTask the task whose result carried it
	// (its log names each leftover), LastAt when it arrived; zero when no
	// janitor has reported anything yet.
	Last     provision.JanitorReport
	LastTask string
	LastAt   time.Time
}

// passStatus keeps what the last pass saw, and the janitors' reports;
// guarded by Dispatcher.mu.
type passStatus struct {
	at     time.Time
	queued int
	err    error
	jan    JanitorStatus
}

// janitorSeen records the janitor report a task's result carries.
func (d *Dispatcher) janitorSeen(taskID string, res *provision.Result) {
	if res == nil || res.Janitor == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	j := &d.last.jan
	j.Removed += res.Janitor.Removed
	j.Bytes += res.Janitor.Bytes
	j.Last, j.LastTask, j.LastAt = *res.Janitor, taskID, time.Now()
}

// Status reports the dispatcher's load and its last look at the queue.
// It is cheap: no store request.
func (d *Dispatcher) Status() DispatcherStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	return DispatcherStatus{Running: len(d.running), MaxParallel: d.cfg.MaxParallel,
		Queued: d.last.queued, LastPass: d.last.at, Err: d.last.err, Janitor: d.last.jan}
}

// passSeen records what a pass read from the queue, counting as queued
// what it left queued; a failed read keeps the last counts. The caller
// holds d.mu.
func (d *Dispatcher) passSeen(tasks []domain.Task, err error) {
	if err != nil {
		d.last.err = err
		return
	}
	d.last = passStatus{at: time.Now(), jan: d.last.jan}
	for _, t := range tasks {
		if t.Status == domain.TaskQueued && d.running[t.ID] == nil {
			d.last.queued++
		}
	}
}
