package control

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
)

// Tasks reads, cancels and retries tasks. A client user sees only the
// tasks of their clients' sites.
type Tasks struct{ *base }

// List lists the tasks matching f that the actor may see, newest first
// (f.ClientIDs is replaced by the actor's scope).
func (s *Tasks) List(ctx context.Context, a Actor, f store.TaskFilter) (*store.TaskPage, error) {
	f.ClientIDs = a.Scope()
	p, err := s.st.ListTasks(ctx, f)
	if err != nil {
		return nil, err
	}
	return p, s.redactTasks(ctx, a, p.Items)
}

// Since lists the tasks the actor may see created since t.
func (s *Tasks) Since(ctx context.Context, a Actor, t time.Time) ([]domain.Task, error) {
	tasks, err := s.st.TasksSince(ctx, t, a.Scope())
	if err != nil {
		return nil, err
	}
	return tasks, s.redactTasks(ctx, a, tasks)
}

// Get loads a task the actor may see, its text redacted for a client
// user (Redactor).
func (s *Tasks) Get(ctx context.Context, a Actor, id string) (*domain.Task, error) {
	t, err := s.get(ctx, a, id)
	if err != nil {
		return nil, err
	}
	return t, s.redactOne(ctx, a, t)
}

// get loads a task the actor may see, as stored.
func (s *Tasks) get(ctx context.Context, a Actor, id string) (*domain.Task, error) {
	t, err := s.st.GetTask(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := a.visible("task", id, t.ClientID); err != nil {
		return nil, err
	}
	return t, nil
}

// Cancel cancels a queued task in the store (running false, the cancelled
// task) or asks the dispatcher to stop a running one (running true, the
// task as it is now; it turns cancelled when the runner is gone).
func (s *Tasks) Cancel(ctx context.Context, a Actor, id string) (t *domain.Task, running bool, err error) {
	if t, err = s.get(ctx, a, id); err != nil {
		return nil, false, err
	}
	if t.Status == domain.TaskQueued {
		ctx := a.record(ctx, "cancel_task", "task", t.ID, t.ClientID, nil)
		err := s.st.CancelQueued(ctx, t, a.Name())
		if err == nil {
			return t, false, s.redactOne(ctx, a, t)
		}
		if !errors.Is(err, domain.ErrConflict) {
			return nil, false, err
		}
		// The dispatcher may have started it meanwhile: look again.
		if t, err = s.st.GetTask(ctx, t.ID); err != nil {
			return nil, false, err
		}
	}
	switch {
	case t.Status.Done():
		return nil, false, fmt.Errorf("task %s is already %s: %w", t.ID, t.Status,
			&domain.TransitionError{Entity: "task", From: string(t.Status), To: string(domain.TaskCancelled)})
	case t.Status == domain.TaskQueued:
		return nil, false, fmt.Errorf("task %s changed while it was being cancelled; try again: %w", t.ID, domain.ErrConflict)
	case s.canceller == nil:
		return nil, false, fmt.Errorf("task %s is running and this server has no dispatcher to stop it; cancel it on the server that runs the dispatcher: %w", t.ID, domain.ErrConflict)
	}
	if err := s.canceller.Cancel(ctx, t.ID, a.Name()); err != nil {
		return nil, false, err
	}
	if t, err = s.st.GetTask(ctx, t.ID); err != nil {
		return nil, false, err
	}
	return t, true, s.redactOne(ctx, a, t)
}

// Retry queues a new task like a failed or cancelled one. Only admins
// retry platform and server tasks.
func (s *Tasks) Retry(ctx context.Context, a Actor, id string) (*domain.Task, error) {
	t, err := s.get(ctx, a, id)
	if err != nil {
		return nil, err
	}
	if t.TargetKind != domain.TargetSite {
		if err := a.admin("retry platform and server tasks"); err != nil {
			return nil, err
		}
	}
	if t.TargetKind == domain.TargetSite {
		if ctx, err = s.guard(ctx, a, t.ClientID); err != nil {
			return nil, err
		}
	}
	ctx = a.record(ctx, "retry_task", "task", t.ID, t.ClientID, nil)
	return s.st.RetryTask(ctx, t.ID, a.Name())
}

// Of lists the newest tasks (at most limit) of one site, platform or
// server, and how many it has in all. A site's are the site's to see;
// a platform's and a server's are for admins.
func (s *Tasks) Of(ctx context.Context, a Actor, kind domain.TargetKind, id string, limit int) ([]domain.Task, int, error) {
	if kind == domain.TargetSite {
		site, err := s.st.GetSite(ctx, id)
		if err != nil {
			return nil, 0, err
		}
		if err := a.visible("site", id, site.ClientID); err != nil {
			return nil, 0, err
		}
	} else if err := a.adminEntity(string(kind), id); err != nil {
		return nil, 0, err
	}
	tasks, n, err := s.st.TasksOf(ctx, kind, id, limit)
	if err != nil {
		return nil, 0, err
	}
	return tasks, n, s.redactTasks(ctx, a, tasks)
}
