package retention

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/taskspec"
	"github.com/aegirhq/aegir/scheduler/tasklog"
)

// Policy deletes finished tasks, and their archived logs, once they are
// older than their type's retention: every change being a task, and every
// periodic cron or stats run too, the task records would otherwise grow
// without bound (10,000 sites cronned hourly add 240,000 a day).
type Policy struct {
	// Keep is how long a finished task is kept. Default: 30 days.
	Keep time.Duration
	// KeepRoutine is how long the routine tasks of the periodic queues
	// (cron, stats) are kept. Default: 2 days.
	KeepRoutine time.Duration
	// KeepAudit is how long audit log entries are kept (whole days: a
	// day's entries go once all of them are older). Default: 90 days.
	KeepAudit time.Duration
	// Interval is how often Run prunes. Default: 1h.
	Interval time.Duration
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

func (r Policy) withDefaults() Policy {
	if r.Keep == 0 {
		r.Keep = 30 * 24 * time.Hour
	}
	if r.KeepRoutine == 0 {
		r.KeepRoutine = 48 * time.Hour
	}
	if r.KeepAudit == 0 {
		r.KeepAudit = 90 * 24 * time.Hour
	}
	if r.Interval == 0 {
		r.Interval = time.Hour
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	return r
}

// routine reports whether tasks of type t are kept for KeepRoutine: their
// spec says the periodic queues run them (taskspec.Spec.Routine).
func routine(t domain.TaskType) bool {
	spec, ok := taskspec.Lookup(t)
	return ok && spec.Routine
}

// Prune deletes the finished tasks older than their retention and their
// archived logs, and returns how many tasks it deleted.
func Prune(ctx context.Context, st *store.Store, archive *tasklog.Archive, r Policy) (int, error) {
	r = r.withDefaults()
	now := r.Now()
	old, err := st.FinishedTasks(ctx, func(t *domain.Task) bool {
		if t.FinishedAt == nil {
			return false
		}
		keep := r.Keep
		if routine(t.Type) {
			keep = r.KeepRoutine
		}
		return now.Sub(*t.FinishedAt) > keep
	})
	if err != nil || len(old) == 0 {
		return 0, err
	}
	// Logs first: a task record without its log is still useful, a log
	// without its task is garbage nobody can find.
	for _, t := range old {
		if err := archive.Delete(ctx, t.ID); err != nil {
			return 0, fmt.Errorf("delete the archived log of task %s: %w", t.ID, err)
		}
	}
	return st.DeleteTasks(ctx, old)
}

// Run prunes every Interval until ctx ends.
func Run(ctx context.Context, st *store.Store, archive *tasklog.Archive, r Policy, log *slog.Logger) {
	r = r.withDefaults()
	t := time.NewTicker(r.Interval)
	defer t.Stop()
	for {
		n, err := Prune(ctx, st, archive, r)
		if na, errA := st.PruneAudit(ctx, r.Now().Add(-r.KeepAudit)); errA != nil && ctx.Err() == nil {
			log.Error("audit log retention", "err", errA)
		} else if na > 0 {
			log.Info("audit log retention deleted old entries", "entries", na)
		}
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("task retention", "err", err)
		case n > 0:
			log.Info("task retention deleted old finished tasks and their logs", "tasks", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
