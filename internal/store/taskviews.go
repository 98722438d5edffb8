package store

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
)

// Task reads for the dashboard's pages. ListTasks sorts every task before
// filtering; these filter the mirror first and sort only what matched, so
// a site page or the overview stays cheap with 100,000 tasks stored.

// taskSnapshot returns every task, from the mirror when it is current.
func (s *Store) taskSnapshot(ctx context.Context) ([]*domain.Task, error) {
	items, _, ok := s.tasks.snapshot(s.cfg.CatchUpWait)
	if ok {
		return items, nil
	}
	vals, err := list(ctx, s.kv, prefixTasks, setTaskVersion)
	if err != nil {
		return nil, err
	}
	items = make([]*domain.Task, len(vals))
	for i := range vals {
		items[i] = &vals[i]
	}
	return items, nil
}

// TasksOf returns the newest limit tasks on one target, newest first, and
// how many there are in all.
func (s *Store) TasksOf(ctx context.Context, kind domain.TargetKind, targetID string, limit int) ([]domain.Task, int, error) {
	items, err := s.taskSnapshot(ctx)
	if err != nil {
		return nil, 0, err
	}
	var out []*domain.Task
	for _, t := range items {
		if t.TargetID == targetID && t.TargetKind == kind {
			out = append(out, t)
		}
	}
	return newestFirst(out, limit), len(out), nil
}

// TasksSince returns the tasks created at or after since, and every task
// still queued or running whenever it was created, newest first,
// restricted to clientIDs when not nil.
func (s *Store) TasksSince(ctx context.Context, since time.Time, clientIDs []string) ([]domain.Task, error) {
	items, err := s.taskSnapshot(ctx)
	if err != nil {
		return nil, err
	}
	var out []*domain.Task
	for _, t := range items {
		if (t.CreatedAt.Before(since) && t.Status.Done()) ||
			clientIDs != nil && !slices.Contains(clientIDs, t.ClientID) {
			continue
		}
		out = append(out, t)
	}
	return newestFirst(out, 0), nil
}

func newestFirst(items []*domain.Task, limit int) []domain.Task {
	slices.SortFunc(items, func(a, b *domain.Task) int { return strings.Compare(b.ID, a.ID) })
	if limit > 0 && len(items) > limit {
		items = items[:limit]
	}
	out := make([]domain.Task, len(items))
	for i, t := range items {
		out[i] = *t
	}
	return out
}
