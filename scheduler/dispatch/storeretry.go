package dispatch

import (
	"context"
	"errors"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/locks"
	"github.com/aegirhq/aegir/internal/store"
)

// A store outage (a Consul restart, a leader election) must not strand a
// task. Two writes matter:
//
//   - The start (StartTask). Consul may answer an error for a write it
//     applied ("raft apply failed: leadership lost"). settleStart reads the
//     task again: started with this dispatcher's fencing token, it runs;
//     still queued, it is tried again at the next pass.
//   - The result (finish). finishRetrying retries a write that failed on
//     something other than a conflict, with backoff, for up to
//     Config.StoreRetry, holding the target's lock, so the task ends with
//     its real result once the store is back.

// transient reports whether a store error may go away on its own: not a
// conflict (check-and-set, stale fence), an illegal transition or a
// missing record, which a retry cannot fix.
func transient(err error) bool {
	return err != nil && !errors.Is(err, domain.ErrConflict) && !errors.Is(err, domain.ErrIllegalTransition) &&
		!errors.Is(err, domain.ErrNotFound) && !errors.Is(err, store.ErrKeyNotFound) && !errors.Is(err, context.Canceled)
}

// backoff returns the wait before retry n (1, 2, ...): RetryInterval
// doubling, at most 30s.
func (d *Dispatcher) backoff(n int) time.Duration {
	w := d.cfg.RetryInterval
	for i := 1; i < n && w < 30*time.Second; i++ {
		w *= 2
	}
	return min(w, 30*time.Second)
}

// settleStart decides, after StartTask failed with a transient error,
// whether the start was applied anyway. It reads the task again, with
// backoff, for up to StoreRetry. started is true when the task is running
// under lease's fencing token with no runner yet: task is then the stored
// task, and the caller starts its back end.
func (d *Dispatcher) settleStart(ctx context.Context, task *domain.Task, lease locks.Lease, startErr error) (started bool) {
	deadline := time.Now().Add(d.cfg.StoreRetry)
	for n := 1; ; n++ {
		cur, err := d.st.GetTask(ctx, task.ID)
		if err == nil {
			if cur.Status == domain.TaskRunning && cur.Fence == lease.Fence() && cur.Runner == "" {
				d.log.Info("the store answered an error for a task's start it applied; running the task", "task", task.ID, "err", startErr)
				*task = *cur
				return true
			}
			return false
		}
		if !transient(err) || time.Now().After(deadline) {
			d.log.Error("cannot tell whether a task started; the next pass or reap deals with it", "task", task.ID, "err", err)
			return false
		}
		select {
		case <-time.After(d.backoff(n)):
		case <-ctx.Done():
			return false
		}
	}
}

// finishRetrying is finish, retried with backoff for up to StoreRetry
// while the store fails for a reason a retry may fix.
func (d *Dispatcher) finishRetrying(ctx context.Context, taskID string, e ending) (ending, error) {
	deadline := time.Now().Add(d.cfg.StoreRetry)
	for n := 1; ; n++ {
		attempt, cancel := context.WithTimeout(ctx, 30*time.Second)
		final, err := d.finish(attempt, taskID, e)
		cancel()
		if err == nil || !transient(err) || ctx.Err() != nil || time.Now().After(deadline) {
			return final, err
		}
		if n == 1 {
			d.note(taskID, "warn", "the store did not take the task's result ("+err.Error()+"); retrying until it does")
		}
		d.log.Warn("record task result; retrying", "task", taskID, "attempt", n, "err", err)
		select {
		case <-time.After(d.backoff(n)):
		case <-ctx.Done():
			return final, ctx.Err()
		}
	}
}
