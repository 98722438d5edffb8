package store

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
)

// Task reads for the dashboard's pages. ListTasks, TasksOf and TasksSince
// read the task mirror's view (taskmirror.go): the tasks by creation hour,
// each hour sorted newest first and grouped by target when it was read. A
// site page with 100,000 tasks stored then costs one map lookup per hour.

// tasksIndexed returns the mirror's current view, or ok=false when the
// mirror is not current (the callers then read the KV).
func (s *Store) tasksIndexed() (*taskView, bool) {
	return s.tasks.current(s.cfg.CatchUpWait)
}

// sortNewestFirst sorts tasks by id, descending (ids sort by creation
// time). It sorts a slice of (id, task) pairs: comparing ids held in the
// slice instead of behind each task pointer is about 40% faster.
func sortNewestFirst(items []*domain.Task) {
	type keyed struct {
		id string
		t  *domain.Task
	}
	keys := make([]keyed, len(items))
	for i, t := range items {
		keys[i] = keyed{t.ID, t}
	}
	slices.SortFunc(keys, func(a, b keyed) int { return strings.Compare(b.id, a.id) })
	for i := range keys {
		items[i] = keys[i].t
	}
}

// allTasksNewestFirst reads every task from the KV, for when the mirror
// is not current.
func (s *Store) allTasksNewestFirst(ctx context.Context) ([]*domain.Task, error) {
	items, err := s.listTasks(ctx)
	if err != nil {
		return nil, err
	}
	sortNewestFirst(items)
	return items, nil
}

// TasksOf returns the newest limit tasks on one target, newest first, and
// how many there are in all.
func (s *Store) TasksOf(ctx context.Context, kind domain.TargetKind, targetID string, limit int) ([]domain.Task, int, error) {
	v, ok := s.tasksIndexed()
	var mine []*domain.Task
	if ok {
		mine = v.ofTarget(targetID)
	} else {
		all, err := s.allTasksNewestFirst(ctx)
		if err != nil {
			return nil, 0, err
		}
		for _, t := range all {
			if t.TargetID == targetID {
				mine = append(mine, t)
			}
		}
	}
	var out []domain.Task
	n := 0
	for _, t := range mine {
		if t.TargetKind != kind {
			continue
		}
		if limit <= 0 || len(out) < limit {
			out = append(out, *t)
		}
		n++
	}
	return out, n, nil
}

// NewestTasksOf returns, for each of targetIDs, its newest limit (> 0)
// tasks of kind, newest first; a target with none is absent. It is the
// batch form of TasksOf for a page of rows: one pass over the mirrored
// hours, newest first, that stops as soon as every target has limit tasks,
// instead of one pass over every hour per target. Once the view's index
// of recent tasks is built (taskView.recent), it answers without the walk.
func (s *Store) NewestTasksOf(ctx context.Context, kind domain.TargetKind, targetIDs []string, limit int) (map[string][]domain.Task, error) {
	out := make(map[string][]domain.Task, len(targetIDs))
	v, ok := s.tasksIndexed()
	if !ok {
		all, err := s.allTasksNewestFirst(ctx)
		if err != nil {
			return nil, err
		}
		want := make(map[string]bool, len(targetIDs))
		for _, id := range targetIDs {
			want[id] = true
		}
		for _, t := range all {
			if t.TargetKind == kind && want[t.TargetID] && len(out[t.TargetID]) < limit {
				out[t.TargetID] = append(out[t.TargetID], *t)
			}
		}
		return out, nil
	}
	needy := slices.Clone(targetIDs)
	slices.Sort(needy)
	needy = slices.Compact(needy)
	if idx := v.recent(); idx != nil && limit <= recentCap {
		// The view's index of each target's newest tasks answers a target
		// unless it holds recentCap tasks of which fewer than limit are of
		// kind: its older tasks are then read from the hours below.
		rest := needy[:0]
		for _, id := range needy {
			ts := idx[id]
			for _, t := range ts {
				if t.TargetKind == kind && len(out[id]) < limit {
					out[id] = append(out[id], *t)
				}
			}
			if len(out[id]) < limit && len(ts) == recentCap {
				delete(out, id)
				rest = append(rest, id)
			}
		}
		needy = rest
	}
	for _, h := range v.hours {
		if len(needy) == 0 {
			break
		}
		rest := needy[:0]
		for _, id := range needy {
			for _, t := range h.byTarget[id] {
				if t.TargetKind == kind && len(out[id]) < limit {
					out[id] = append(out[id], *t)
				}
			}
			if len(out[id]) < limit {
				rest = append(rest, id)
			}
		}
		needy = rest
	}
	return out, nil
}

// TasksSince returns the tasks created at or after since, and every task
// still queued or running whenever it was created, newest first,
// restricted to clientIDs when not nil.
func (s *Store) TasksSince(ctx context.Context, since time.Time, clientIDs []string) ([]domain.Task, error) {
	var all []*domain.Task
	if v, ok := s.tasksIndexed(); ok {
		all = v.newest()
	} else {
		var err error
		if all, err = s.allTasksNewestFirst(ctx); err != nil {
			return nil, err
		}
	}
	var out []domain.Task
	for _, t := range all {
		if (t.CreatedAt.Before(since) && t.Status.Done()) ||
			clientIDs != nil && !slices.Contains(clientIDs, t.ClientID) {
			continue
		}
		out = append(out, *t)
	}
	return out, nil
}
