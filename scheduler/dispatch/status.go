package dispatch

import (
	"time"

	"github.com/aegirhq/aegir/internal/domain"
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
}

// passStatus keeps what the last pass saw; guarded by Dispatcher.mu.
type passStatus struct {
	at     time.Time
	queued int
	err    error
}

// Status reports the dispatcher's load and its last look at the queue.
// It is cheap: no store request.
func (d *Dispatcher) Status() DispatcherStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	return DispatcherStatus{Running: len(d.running), MaxParallel: d.cfg.MaxParallel,
		Queued: d.last.queued, LastPass: d.last.at, Err: d.last.err}
}

// passSeen records what a pass read from the queue, counting as queued
// what it left queued; a failed read keeps the last counts. The caller
// holds d.mu.
func (d *Dispatcher) passSeen(tasks []domain.Task, err error) {
	if err != nil {
		d.last.err = err
		return
	}
	d.last = passStatus{at: time.Now()}
	for _, t := range tasks {
		if t.Status == domain.TaskQueued && d.running[t.ID] == nil {
			d.last.queued++
		}
	}
}
