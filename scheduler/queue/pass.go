package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/locks"
	"github.com/aegirhq/aegir/internal/store"
)

// PassReport is what one pass did. The last one is kept at
// queues/<name>/last.
type PassReport struct {
	Queue    string    `json:"queue"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Eligible, Backlog, Due: from the plan.
	Eligible int `json:"eligible"`
	Backlog  int `json:"backlog"`
	Due      int `json:"due"`
	// Succeeded, Failed: sites whose work ended so.
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
	// Skipped: due sites left alone (a task of this queue already active,
	// the site changed state, or its task did not end in time).
	Skipped int `json:"skipped"`
	// BackupsDeleted: archives removed by retention (backup queue).
	BackupsDeleted int `json:"backups_deleted,omitempty"`
	// Failing counts sites with FailingAfter or more consecutive failures.
	Failing int `json:"failing"`
}

// taskType is the task a queue runs per site.
func taskType(name string) domain.TaskType {
	switch name {
	case Cron:
		return domain.TaskCron
	case Backup:
		return domain.TaskBackup
	case VerifyBackup:
		return domain.TaskVerifyBackup
	}
	return domain.TaskStats
}

// RunPass runs one pass of queue name now: it takes the queue's lock
// (ErrPassRunning if a pass is under way), plans, queues each due site's
// task with the queue's concurrency and waits for it, records each site's
// run, and for the backup queue deletes what retention no longer keeps.
// It runs whether or not the queue is enabled (Enabled governs only the
// automatic passes).
func (q *Queues) RunPass(ctx context.Context, name string) (*PassReport, error) {
	s, err := q.Settings(ctx, name)
	if err != nil {
		return nil, err
	}
	lease, err := q.cfg.Locker.TryAcquire(ctx, "queue/"+name, q.cfg.LockTTL)
	if errors.Is(err, locks.ErrHeld) {
		return nil, ErrPassRunning
	}
	if err != nil {
		return nil, fmt.Errorf("take the %s queue's lock: %w", name, err)
	}
	defer func() { _ = lease.Release(context.WithoutCancel(ctx)) }()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-lease.Lost():
			q.log.Warn("the queue's lock was lost; stopping the pass", "queue", name)
			cancel()
		case <-ctx.Done():
		}
	}()

	rep := &PassReport{Queue: name, Started: q.cfg.Now().UTC()}
	sites, byID, err := q.siteStates(ctx)
	if err != nil {
		return nil, err
	}
	runs, err := q.Runs(ctx, name)
	if err != nil {
		return nil, err
	}
	var backups map[string][]domain.Backup
	if name == VerifyBackup {
		// Only sites with a backup have something to verify (verify.go).
		if backups, err = q.backupsBySite(ctx); err != nil {
			return nil, err
		}
		sites = withBackups(sites, backups)
	}
	plan := PlanPass(sites, runs, rep.Started, s)
	rep.Eligible, rep.Backlog, rep.Due = plan.Eligible, plan.Backlog, len(plan.Due)

	active, err := q.activeOf(ctx, taskType(name))
	if err != nil {
		return nil, err
	}
	if name == Backup && len(plan.Due) > 0 {
		if backups, err = q.backupsBySite(ctx); err != nil {
			return nil, err
		}
	}

	var mu sync.Mutex
	done := map[string]Run{}
	jobs := make(chan string)
	var wg sync.WaitGroup
	for range s.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range jobs {
				o := q.work(ctx, name, s, byID[id], backups[id])
				mu.Lock()
				switch {
				case o.skipped:
					rep.Skipped++
				case o.ok:
					rep.Succeeded++
					done[id] = Run{Last: q.cfg.Now().UTC(), OK: true, TaskID: o.taskID}
				default:
					rep.Failed++
					done[id] = Run{Last: q.cfg.Now().UTC(), Failures: runs[id].Failures + 1, TaskID: o.taskID, Error: clipText(o.err, 300)}
				}
				rep.BackupsDeleted += o.deleted
				mu.Unlock()
			}
		}()
	}
feed:
	for _, id := range plan.Due {
		if active[id] {
			mu.Lock()
			rep.Skipped++
			mu.Unlock()
			continue
		}
		select {
		case jobs <- id:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()

	// Records are written even when the pass was cut short: what ran, ran.
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer wcancel()
	if err := q.putRuns(wctx, name, done); err != nil {
		return rep, fmt.Errorf("record the %s queue's runs: %w", name, err)
	}
	for id, r := range done {
		runs[id] = r
	}
	rep.Failing = len(PlanPass(sites, runs, q.cfg.Now(), s).Failing)
	if name == Stats {
		if err := q.addFleetPoint(wctx); err != nil {
			q.log.Warn("fleet total not recorded", "err", err)
		}
	}
	rep.Finished = q.cfg.Now().UTC()
	if b, err := json.Marshal(rep); err == nil {
		if _, err := q.kv.Txn(wctx, []store.Op{{Verb: store.OpSet, Key: lastPassKey(name), Value: b}}); err != nil {
			q.log.Warn("last pass not recorded", "queue", name, "err", err)
		}
	}
	q.log.Info("queue pass done", "queue", name, "eligible", rep.Eligible, "backlog", rep.Backlog, "due", rep.Due,
		"succeeded", rep.Succeeded, "failed", rep.Failed, "skipped", rep.Skipped, "failing", rep.Failing,
		"seconds", rep.Finished.Sub(rep.Started).Seconds())
	return rep, ctx.Err()
}

// activeOf returns the sites that have a queued or running task of typ.
func (q *Queues) activeOf(ctx context.Context, typ domain.TaskType) (map[string]bool, error) {
	tasks, _, err := q.st.ActiveTasks(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, t := range tasks {
		if t.Type == typ && t.TargetKind == domain.TargetSite {
			out[t.TargetID] = true
		}
	}
	return out, nil
}

func (q *Queues) backupsBySite(ctx context.Context) (map[string][]domain.Backup, error) {
	all, err := q.st.ListBackups(ctx, "", nil)
	if err != nil {
		return nil, err
	}
	out := map[string][]domain.Backup{}
	for _, b := range all {
		out[b.SiteID] = append(out[b.SiteID], b)
	}
	return out, nil
}

// outcome is how one site's work in a pass went.
type outcome struct {
	ok      bool
	skipped bool
	taskID  string
	err     string
	deleted int
}

// work queues the site's task, waits for it and, for backups, applies
// retention.
func (q *Queues) work(ctx context.Context, name string, s Settings, site *domain.Site, backups []domain.Backup) outcome {
	args := map[string]string{}
	switch name {
	case Backup:
		args["reason"] = ScheduledReason
	case Cron:
		args["timeout"] = s.Timeout.D().String()
		if s.CronPath != "" {
			args["path"] = s.CronPath
		}
	case Stats:
		args["timeout"] = s.Timeout.D().String()
	case VerifyBackup:
		args["backup_id"] = newestBackup(backups)
	}
	task, err := q.runTask(ctx, site, taskType(name), args, s.Timeout.D())
	if err != nil {
		var te *domain.TransitionError
		if errors.As(err, &te) || errors.Is(err, domain.ErrNotFound) || errors.Is(err, errNotDone) || ctx.Err() != nil {
			q.log.Debug("site skipped", "queue", name, "site", site.Domain, "err", err)
			return outcome{skipped: true}
		}
		return outcome{err: err.Error()}
	}
	o := outcome{taskID: task.ID, ok: task.Status == domain.TaskSucceeded}
	if !o.ok {
		o.err = task.Explanation
		if o.err == "" {
			o.err = "task " + string(task.Status)
		}
		return o
	}
	if name == Backup && s.Retention != nil {
		// The new backup counts as the newest.
		withNew := append(backups[:len(backups):len(backups)], domain.Backup{ID: "new", Reason: ScheduledReason, CreatedAt: q.cfg.Now().UTC()})
		for _, id := range Expired(withNew, q.cfg.Now(), *s.Retention) {
			t, err := q.runTask(ctx, site, domain.TaskDeleteBackup, map[string]string{"backup_id": id}, 5*time.Minute)
			if err != nil || t.Status != domain.TaskSucceeded {
				q.log.Warn("an expired backup was not deleted; the next pass tries again", "site", site.Domain, "backup", id, "err", err)
				continue
			}
			o.deleted++
		}
	}
	return o
}

// errNotDone means a queued task did not end within its wait.
var errNotDone = errors.New("the task did not end in time; it is left to the dispatcher")

// runTask queues a task on site and waits for it to end (at most
// timeout plus ten minutes, since it may wait behind other tasks of the
// site).
func (q *Queues) runTask(ctx context.Context, site *domain.Site, typ domain.TaskType, args map[string]string, timeout time.Duration) (*domain.Task, error) {
	task, err := q.st.RequestSiteTask(ctx, site.ID, typ, args, "queue")
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(timeout + 10*time.Minute)
	tick := time.NewTicker(q.cfg.Poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
		t, err := q.st.GetTask(ctx, task.ID)
		if err != nil {
			return nil, err
		}
		if t.Status.Done() {
			return t, nil
		}
		if time.Now().After(deadline) {
			return nil, errNotDone
		}
	}
}
