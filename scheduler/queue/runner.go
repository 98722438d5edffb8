package queue

import (
	"cmp"
	"context"
	"errors"
	"sync"
	"time"
)

// Run runs every queue on its own until ctx ends: one loop per queue that
// runs a pass, then waits the queue's interval (settings are read again
// before each pass, so a change takes effect at the next one). A disabled
// queue is checked again every interval. This is how the queues run on
// `aegir dev`; in `aegir server` with Nomad the aegir-queue-<name> periodic
// jobs start passes too (through POST /api/v1/queues/<name>/run, which
// starts the pass in the background and answers at once; the job then
// follows the pass to its end). The queue's lock keeps the two apart.
func (q *Queues) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, name := range Names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q.loop(ctx, name)
		}()
	}
	wg.Wait()
	return nil
}

func (q *Queues) loop(ctx context.Context, name string) {
	retry := 0 * time.Second // backoff of a pass retried within its interval
	var due time.Time        // when the pass retried was due; zero: none
	for ctx.Err() == nil {
		wait := time.Minute
		s, err := q.Settings(ctx, name)
		if err != nil {
			q.log.Error("read queue settings", "queue", name, "err", err)
		} else {
			wait = s.Interval.D()
			if s.Enabled {
				start := cmp.Or(due, time.Now())
				rep, err := q.RunPass(ctx, name)
				if err != nil && !errors.Is(err, ErrPassRunning) && ctx.Err() == nil {
					q.log.Error("queue pass", "queue", name, "err", err)
				}
				// A pass that could not start, or failed, because the store
				// or Redis did not answer is tried again within its
				// interval, with backoff, instead of waiting a whole one.
				if w, ok := q.retryWithin(err, rep, start, wait, retry); ok && ctx.Err() == nil {
					q.log.Warn("queue pass met an outage; trying again within its interval", "queue", name, "in", w)
					wait, retry, due = w, w, start
				} else {
					retry, due = 0, time.Time{}
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

// retryWithin says whether a pass that ended with err and rep (either may
// be nil), due at start, is tried again before its next interval, and
// after how long: the last wait doubled (from 4 × Poll, at most a
// minute), if that leaves the retry inside the interval.
func (q *Queues) retryWithin(err error, rep *PassReport, start time.Time, interval, last time.Duration) (time.Duration, bool) {
	outage := (err != nil && transient(err)) || (rep != nil && (rep.State == PassFailed || rep.State == PassInterrupted) && rep.Code != "")
	if !outage {
		return 0, false
	}
	w := min(max(2*last, 4*q.cfg.Poll), time.Minute)
	if time.Now().Add(w).After(start.Add(interval)) {
		return 0, false
	}
	return w, true
}
