package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/taskspec"
)

func setTaskVersion(v *domain.Task, n uint64) { v.Version = n }

var decodeTask = decodeInto(setTaskVersion)

// enqueue adds a queued task (tasks/<id> and queue/<id>) to a transaction.
func (s *Store) enqueue(t *tx, typ domain.TaskType, kind domain.TargetKind, targetID, targetName, clientID string, args map[string]string, by string) (*domain.Task, error) {
	return s.enqueueChild(t, typ, kind, targetID, targetName, clientID, args, by, "")
}

// enqueueChild is enqueue for a child task of parent ("" for none).
func (s *Store) enqueueChild(t *tx, typ domain.TaskType, kind domain.TargetKind, targetID, targetName, clientID string, args map[string]string, by, parent string) (*domain.Task, error) {
	task, err := taskspec.NewTask(typ, kind, targetID, args)
	if err != nil {
		return nil, err
	}
	task.TargetName, task.ClientID, task.RequestedBy, task.Parent = targetName, clientID, by, parent
	task.CreatedAt = s.now()
	if err := s.addTaskOps(t, task); err != nil {
		return nil, err
	}
	return task, nil
}

func (s *Store) addTaskOps(t *tx, task *domain.Task) error {
	t.tasks = append(t.tasks, task)
	t.touchTask(s, task.ID)
	if err := t.create(TaskKey(task.ID), task, nil); err != nil {
		return err
	}
	t.stampVersion(func(v uint64) { task.Version = v })
	t.add(Op{Verb: OpCAS, Key: prefixQueue + task.ID, Value: []byte(string(task.TargetKind) + "/" + task.TargetID)}, nil)
	return nil
}

// GetTask returns the task with id.
func (s *Store) GetTask(ctx context.Context, id string) (*domain.Task, error) {
	return get(ctx, s.kv, TaskKey(id), "task", id, setTaskVersion)
}

// RequestSiteTask queues a task of type typ on a site after checking that
// the site's state allows it. The transaction checks the site is unchanged.
func (s *Store) RequestSiteTask(ctx context.Context, siteID string, typ domain.TaskType, args map[string]string, by string) (task *domain.Task, err error) {
	err = withRefRetry(func() error {
		task, err = s.requestSiteTask(ctx, siteID, typ, args, by, "")
		return err
	})
	return task, err
}

// RequestChildTask is RequestSiteTask for a child of the batch task
// parent (migrate-sites): the child points back to it (Task.Parent) and is
// requested by whoever requested the parent.
func (s *Store) RequestChildTask(ctx context.Context, parent *domain.Task, siteID string, typ domain.TaskType, args map[string]string) (task *domain.Task, err error) {
	err = withRefRetry(func() error {
		task, err = s.requestSiteTask(ctx, siteID, typ, args, parent.RequestedBy, parent.ID)
		return err
	})
	return task, err
}

func (s *Store) requestSiteTask(ctx context.Context, siteID string, typ domain.TaskType, args map[string]string, by, parent string) (*domain.Task, error) {
	site, err := s.GetSite(ctx, siteID)
	if err != nil {
		return nil, err
	}
	if err := taskspec.CheckSite(site, typ, args); err != nil {
		return nil, err
	}
	if spec, _ := taskspec.Lookup(typ); spec.Backup.Needs(args) {
		b, err := s.GetBackup(ctx, args["backup_id"])
		if err != nil || b.SiteID != site.ID {
			return nil, domain.Invalid("args.backup_id", "no backup %q of site %s", args["backup_id"], site.Domain)
		}
	}
	t := newTx()
	t.add(Op{Verb: OpCheckIndex, Key: prefixSites + site.ID, Index: site.Version}, errRefChanged)
	task, err := s.enqueueChild(t, typ, domain.TargetSite, site.ID, site.Domain, site.ClientID, args, by, parent)
	if err != nil {
		return nil, err
	}
	if _, err := s.commit(ctx, t); err != nil {
		return nil, err
	}
	return task, nil
}

// RequestPlatformTask queues a task of type typ on a platform.
func (s *Store) RequestPlatformTask(ctx context.Context, platformID string, typ domain.TaskType, args map[string]string, by string) (task *domain.Task, err error) {
	err = withRefRetry(func() error {
		task, err = s.requestPlatformTask(ctx, platformID, typ, args, by)
		return err
	})
	return task, err
}

func (s *Store) requestPlatformTask(ctx context.Context, platformID string, typ domain.TaskType, args map[string]string, by string) (*domain.Task, error) {
	p, err := s.GetPlatform(ctx, platformID)
	if err != nil {
		return nil, err
	}
	if err := taskspec.CheckPlatform(p, typ, args); err != nil {
		return nil, err
	}
	if typ == domain.TaskDeletePlatform {
		sites, err := s.ListSites(ctx, SiteFilter{PlatformID: p.ID, Limit: 1})
		if err != nil {
			return nil, err
		}
		if sites.Total > 0 {
			return nil, fmt.Errorf("platform %s still has %d sites; migrate or delete them first: %w", p.Name, sites.Total, domain.ErrConflict)
		}
	}
	t := newTx()
	t.add(Op{Verb: OpCheckIndex, Key: prefixPlatforms + p.ID, Index: p.Version}, errRefChanged)
	task, err := s.enqueue(t, typ, domain.TargetPlatform, p.ID, p.Name, "", args, by)
	if err != nil {
		return nil, err
	}
	if _, err := s.commit(ctx, t); err != nil {
		return nil, err
	}
	return task, nil
}

// RequestServerTask queues a server task (verify-server).
func (s *Store) RequestServerTask(ctx context.Context, serverID string, typ domain.TaskType, by string) (*domain.Task, error) {
	srv, err := s.GetServer(ctx, serverID)
	if err != nil {
		return nil, err
	}
	if err := taskspec.CheckServer(srv, typ, nil); err != nil {
		return nil, err
	}
	t := newTx()
	task, err := s.enqueue(t, typ, domain.TargetServer, srv.ID, srv.Name, "", nil, by)
	if err != nil {
		return nil, err
	}
	if _, err := s.commit(ctx, t); err != nil {
		return nil, err
	}
	return task, nil
}

// RequestDeletedSiteBackupTask queues a task on a backup whose site is
// gone (delete-backup-of-deleted-site): with no site to queue it on, it
// is a task on the server holding the archive (the backup's server_id),
// carrying the backup's client so the client's users see it. While the
// site exists it is refused (delete-backup on the site does it). The
// transaction checks the backup is unchanged and the site still absent.
// When that server is gone too, nothing can remove the archive: the
// record is removed at once and the task returned is already succeeded,
// saying so (forgetBackupOfGoneServer).
func (s *Store) RequestDeletedSiteBackupTask(ctx context.Context, backupID string, typ domain.TaskType, by string) (task *domain.Task, err error) {
	err = withRefRetry(func() error {
		task, err = s.requestDeletedSiteBackupTask(ctx, backupID, typ, by)
		return err
	})
	return task, err
}

func (s *Store) requestDeletedSiteBackupTask(ctx context.Context, backupID string, typ domain.TaskType, by string) (*domain.Task, error) {
	if spec, ok := taskspec.Lookup(typ); !ok || spec.Kind != domain.TargetServer || spec.Backup == taskspec.NoBackup {
		return nil, domain.Invalid("type", "%q is not a task on a deleted site's backup", domain.Clip(string(typ)))
	}
	b, err := s.GetBackup(ctx, backupID)
	if err != nil {
		return nil, err
	}
	switch _, err := s.GetSite(ctx, b.SiteID); {
	case err == nil:
		return nil, fmt.Errorf("site %s of backup %s exists: %s is for the backups of deleted sites (delete-backup on the site deletes this one): %w",
			b.Domain, b.ID, typ, domain.ErrConflict)
	case !errors.Is(err, domain.ErrNotFound):
		return nil, err
	}
	srv, err := s.GetServer(ctx, b.ServerID)
	if errors.Is(err, domain.ErrNotFound) {
		// Nothing can run there: the record goes, as a finished task.
		return s.forgetBackupOfGoneServer(ctx, b, typ, by)
	}
	if err != nil {
		return nil, err
	}
	args := map[string]string{"backup_id": b.ID}
	if err := taskspec.CheckServer(srv, typ, args); err != nil {
		return nil, err
	}
	t := newTx()
	t.add(Op{Verb: OpCheckIndex, Key: prefixBackups + b.ID, Index: b.Version}, errRefChanged)
	t.add(Op{Verb: OpCheckNotExists, Key: prefixSites + b.SiteID}, errRefChanged)
	task, err := s.enqueue(t, typ, domain.TargetServer, srv.ID, srv.Name, b.ClientID, args, by)
	if err != nil {
		return nil, err
	}
	if _, err := s.commit(ctx, t); err != nil {
		return nil, err
	}
	return task, nil
}

// TaskFilter selects tasks for ListTasks. Zero fields match everything.
type TaskFilter struct {
	Status     domain.TaskStatus
	Type       domain.TaskType
	TargetKind domain.TargetKind
	TargetID   string
	ClientIDs  []string // restrict to these clients (access control); nil: no restriction
	Parent     string   // only the children of this batch task
	Offset     int
	Limit      int // default 50, at most 1000
}

// TaskPage is one page of tasks, newest first, and the total matching.
type TaskPage struct {
	Items []domain.Task `json:"items"`
	Total int           `json:"total"`
}

// ListTasks returns one page of the tasks matching f, newest first. It
// reads the tasks index (taskviews.go), sorted once per change of the task
// mirror: with no filter the page is a slice of it, a target filter scans
// only that target's tasks, other filters scan the sorted list.
func (s *Store) ListTasks(ctx context.Context, f TaskFilter) (*TaskPage, error) {
	var all []*domain.Task
	if v, ok := s.tasksIndexed(); !ok {
		var err error
		if all, err = s.allTasksNewestFirst(ctx); err != nil {
			return nil, err
		}
	} else if f.TargetID != "" {
		all = v.ofTarget(f.TargetID)
	} else {
		all = v.newest()
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 1000)
	page := &TaskPage{Items: []domain.Task{}}
	if f.Status == "" && f.Type == "" && f.TargetKind == "" && f.TargetID == "" && f.ClientIDs == nil && f.Parent == "" {
		// No filter: the page is a slice of the sorted list.
		page.Total = len(all)
		off := min(max(f.Offset, 0), len(all))
		for _, t := range all[off:min(off+limit, len(all))] {
			page.Items = append(page.Items, *t)
		}
		return page, nil
	}
	for _, t := range all {
		if f.Status != "" && t.Status != f.Status ||
			f.Type != "" && t.Type != f.Type ||
			f.TargetKind != "" && t.TargetKind != f.TargetKind ||
			f.TargetID != "" && t.TargetID != f.TargetID ||
			f.Parent != "" && t.Parent != f.Parent ||
			f.ClientIDs != nil && !slices.Contains(f.ClientIDs, t.ClientID) {
			continue
		}
		if page.Total >= f.Offset && len(page.Items) < limit {
			page.Items = append(page.Items, *t)
		}
		page.Total++
	}
	return page, nil
}

// ActiveTasks returns the queued and running tasks, oldest first: the
// dispatcher's work list. It reads only the queue/ keys and their tasks.
func (s *Store) ActiveTasks(ctx context.Context) ([]domain.Task, uint64, error) {
	pairs, idx, err := s.kv.List(ctx, prefixQueue)
	if err != nil {
		return nil, 0, err
	}
	out := make([]domain.Task, 0, len(pairs))
	for _, p := range pairs {
		id := strings.TrimPrefix(p.Key, prefixQueue)
		t, err := s.GetTask(ctx, id)
		if errors.Is(err, domain.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		out = append(out, *t)
	}
	return out, idx, nil
}

// WatchQueue blocks until the set of active tasks may have changed after
// index, and returns the new index.
func (s *Store) WatchQueue(ctx context.Context, index uint64) (uint64, error) {
	_, idx, err := s.kv.Watch(ctx, prefixQueue, index)
	return idx, err
}

// StartTask moves a queued task to running, recording its runner handle and
// fencing token; check-and-set on the version the dispatcher read.
//
// With a fence (the token of the lock held on the task's target), it also
// records the fence as the newest for that target, and refuses with
// ErrStaleFence if a newer one was recorded already.
func (s *Store) StartTask(ctx context.Context, task *domain.Task, runner string, fence uint64) error {
	t := newTx()
	if fence > 0 {
		cur, idx, err := s.fence(ctx, task)
		if err != nil {
			return err
		}
		if cur > fence {
			return fmt.Errorf("task %s: lock token %d, newest seen %d: %w", task.ID, fence, cur, ErrStaleFence)
		}
		t.add(Op{Verb: OpCAS, Key: fenceKey(task), Value: []byte(strconv.FormatUint(fence, 10)), Index: idx}, domain.ErrConflict)
	}
	started := *task
	if err := started.Transition(domain.TaskRunning, s.now()); err != nil {
		return err
	}
	started.Runner, started.Fence = runner, fence
	t.touchTask(s, task.ID)
	if err := t.update(TaskKey(task.ID), &started, task.Version, nil); err != nil {
		return err
	}
	pairs, err := s.commit(ctx, t)
	if err != nil {
		return err
	}
	started.Version = versionOf(pairs, len(t.ops)-1)
	*task = started
	return nil
}

// ErrStaleFence means a write came from the holder of an older lock on the
// task's target: a newer holder has started work there since, so the older
// one must not write (it paused past its lease). It wraps ErrConflict but is
// not worth retrying.
var ErrStaleFence = fmt.Errorf("stale fencing token: a newer lock holder has written since: %w", domain.ErrConflict)

func fenceKey(task *domain.Task) string {
	return prefixFences + string(task.TargetKind) + "/" + task.TargetID
}

// fence returns the newest fencing token recorded for the task's target and
// the key's index (0 when none).
func (s *Store) fence(ctx context.Context, task *domain.Task) (uint64, uint64, error) {
	p, err := s.kv.Get(ctx, fenceKey(task))
	if errors.Is(err, ErrKeyNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	n, err := strconv.ParseUint(string(p.Value), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("fence %s: %w", p.Key, err)
	}
	return n, p.ModifyIndex, nil
}

// SetTaskRunner records the runner handle of a running task (a pid, a Nomad
// dispatch id) once the executor knows it.
func (s *Store) SetTaskRunner(ctx context.Context, task *domain.Task, runner string) error {
	task.Runner = runner
	return s.putTask(ctx, task)
}

func (s *Store) putTask(ctx context.Context, task *domain.Task) error {
	t := newTx()
	t.touchTask(s, task.ID)
	taskOp := len(t.ops)
	if err := t.update(TaskKey(task.ID), task, task.Version, nil); err != nil {
		return err
	}
	pairs, err := s.commit(ctx, t)
	if err != nil {
		return err
	}
	task.Version = versionOf(pairs, taskOp)
	return nil
}

// FinishTask moves a task to its final status and applies the state changes
// its result carries, all in one transaction: either the task is finished
// and every change is made, or nothing is. On ErrConflict the caller re-reads
// the task and tries again.
//
// A task that started with a fence is finished only while no newer fence
// was recorded for its target (ErrStaleFence otherwise): the fence key's
// index is checked in the same transaction.
func (s *Store) FinishTask(ctx context.Context, task *domain.Task, status domain.TaskStatus, changes ...Change) error {
	t := newTx()
	if task.Fence > 0 {
		cur, idx, err := s.fence(ctx, task)
		if err != nil {
			return err
		}
		if cur > task.Fence {
			return fmt.Errorf("task %s: lock token %d, newest seen %d: %w", task.ID, task.Fence, cur, ErrStaleFence)
		}
		if idx > 0 {
			t.add(Op{Verb: OpCheckIndex, Key: fenceKey(task), Index: idx}, domain.ErrConflict)
		}
	}
	done := *task
	if err := done.Transition(status, s.now()); err != nil {
		return err
	}
	t.touchTask(s, task.ID)
	taskOp := len(t.ops)
	if err := t.update(TaskKey(task.ID), &done, task.Version, nil); err != nil {
		return err
	}
	t.add(Op{Verb: OpDelete, Key: prefixQueue + task.ID}, nil)
	for _, c := range changes {
		if err := c.apply(ctx, s, t); err != nil {
			return fmt.Errorf("apply result of task %s: %w", task.ID, err)
		}
	}
	pairs, err := s.commit(ctx, t)
	if err != nil {
		return err
	}
	done.Version = versionOf(pairs, taskOp)
	*task = done
	return nil
}

// CancelQueued cancels a task that has not started. A running task is
// cancelled by the dispatcher, which kills its runner and then finishes it.
func (s *Store) CancelQueued(ctx context.Context, task *domain.Task, by string) error {
	if task.Status != domain.TaskQueued {
		return &domain.TransitionError{Entity: "task", From: string(task.Status), To: string(domain.TaskCancelled)}
	}
	task.Explanation = "Cancelled by " + by + " before it started."
	return s.FinishTask(ctx, task, domain.TaskCancelled)
}

// RetryTask queues a new task with the same type, target and arguments as a
// failed or cancelled one, pointing back to it.
func (s *Store) RetryTask(ctx context.Context, id, by string) (*domain.Task, error) {
	old, err := s.GetTask(ctx, id)
	if err != nil {
		return nil, err
	}
	if old.Status != domain.TaskFailed && old.Status != domain.TaskCancelled {
		return nil, fmt.Errorf("only a failed or cancelled task can be retried; task %s is %s: %w", id, old.Status, domain.ErrConflict)
	}
	t := newTx()
	switch old.TargetKind {
	case domain.TargetSite:
		site, err := s.GetSite(ctx, old.TargetID)
		if err != nil {
			return nil, err
		}
		if old.Type == domain.TaskInstall && site.Status == domain.SiteFailed {
			site.Status = domain.SitePending
			if err := s.putSiteOps(t, site, site); err != nil {
				return nil, err
			}
		} else if err := taskspec.CheckSite(site, old.Type, old.Args); err != nil {
			return nil, err
		}
	case domain.TargetPlatform:
		p, err := s.GetPlatform(ctx, old.TargetID)
		if err != nil {
			return nil, err
		}
		if err := taskspec.CheckPlatform(p, old.Type, old.Args); err != nil {
			return nil, err
		}
	}
	task, err := taskspec.NewTask(old.Type, old.TargetKind, old.TargetID, old.Args)
	if err != nil {
		return nil, err
	}
	task.TargetName, task.ClientID, task.RequestedBy, task.RetryOf = old.TargetName, old.ClientID, by, old.ID
	task.CreatedAt = s.now()
	if err := s.addTaskOps(t, task); err != nil {
		return nil, err
	}
	if _, err := s.commit(ctx, t); err != nil {
		return nil, err
	}
	return task, nil
}

// FinishedTasks returns the finished tasks for which old returns true:
// candidates for retention to delete.
func (s *Store) FinishedTasks(ctx context.Context, old func(*domain.Task) bool) ([]domain.Task, error) {
	var items []*domain.Task
	if v, ok := s.tasksIndexed(); ok {
		items = v.newest()
	} else {
		var err error
		if items, err = s.listTasks(ctx); err != nil {
			return nil, err
		}
	}
	var out []domain.Task
	for _, t := range items {
		if t.Status.Done() && old(t) {
			out = append(out, *t)
		}
	}
	return out, nil
}

// DeleteTasks deletes finished task records, check-and-set on the version
// read, in transactions of at most MaxTxnOps operations (with the hour
// markers). A task that changed since it was read is left alone. An hour
// left empty loses its marker.
func (s *Store) DeleteTasks(ctx context.Context, tasks []domain.Task) (int, error) {
	for _, task := range tasks {
		if !task.Status.Done() {
			return 0, fmt.Errorf("task %s is %s, not finished: %w", task.ID, task.Status, domain.ErrConflict)
		}
	}
	deleted := 0
	hours := map[string]bool{}
	for len(tasks) > 0 {
		t := newTx()
		n := 0
		for _, task := range tasks {
			need := 1
			if !t.buckets[taskBucket(task.ID)] {
				need++
			}
			// One op stays free for commit's meta/writes.
			if len(t.ops)+need > MaxTxnOps-1 {
				break
			}
			t.touchTask(s, task.ID)
			t.deleteCAS(TaskKey(task.ID), task.Version, nil)
			hours[taskBucket(task.ID)] = true
			n++
		}
		batch := n
		tasks = tasks[n:]
		if _, err := s.commit(ctx, t); err != nil {
			if errors.Is(err, domain.ErrConflict) {
				// One of them changed (a retry pointing at it does not change
				// it; only an edit would): skip this batch, the next run
				// reads fresh versions.
				continue
			}
			return deleted, err
		}
		deleted += batch
	}
	for h := range hours {
		if err := s.dropEmptyHour(ctx, h); err != nil {
			return deleted, err
		}
	}
	return deleted, nil
}

// dropEmptyHour deletes the marker of an hour that holds no task any more,
// check-and-set on the marker, so a concurrent write to that hour keeps it.
func (s *Store) dropEmptyHour(ctx context.Context, hour string) error {
	marker, err := s.kv.Get(ctx, prefixTaskBuckets+hour)
	if errors.Is(err, ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	pairs, _, err := s.kv.List(ctx, prefixTasks+hour+"/")
	if err != nil || len(pairs) > 0 {
		return err
	}
	t := newTx()
	t.touches[&s.tasks.mirrorBase] = true
	t.deleteCAS(marker.Key, marker.ModifyIndex, nil)
	if _, err := s.commit(ctx, t); err != nil && !errors.Is(err, domain.ErrConflict) {
		return err
	}
	return nil
}
