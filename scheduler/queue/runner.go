package queue

import (
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
	for ctx.Err() == nil {
		wait := time.Minute
		s, err := q.Settings(ctx, name)
		if err != nil {
			q.log.Error("read queue settings", "queue", name, "err", err)
		} else {
			wait = s.Interval.D()
			if s.Enabled {
				if _, err := q.RunPass(ctx, name); err != nil && !errors.Is(err, ErrPassRunning) && ctx.Err() == nil {
					q.log.Error("queue pass", "queue", name, "err", err)
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}
