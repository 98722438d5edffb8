package queue

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
)

// PassReport is one pass: its progress while it runs, what it did once it
// ended (internal/apiv1). Each pass's is kept at queues/<name>/passes/<id>
// (the last KeepPasses), the last ended one also at queues/<name>/last.
type PassReport = apiv1.PassReport

// taskType is the task a queue runs per site.
func taskType(name string) domain.TaskType {
	switch name {
	case Cron:
		return domain.TaskCron
	case Backup:
		return domain.TaskBackup
	case VerifyBackup:
		return domain.TaskVerifyBackup
	case Certificates:
		return domain.TaskCertificate
	}
	return domain.TaskStats
}

// RunPass runs one pass of queue name now and returns when it has ended:
// it takes the queue's lock (a *PassRunningError, which is
// ErrPassRunning, if a pass is under way), plans, queues each due site's
// task with the queue's concurrency and waits for it, records each site's
// run, and for the backup queue deletes what retention no longer keeps.
// Its record shows its progress meanwhile (Pass). It runs whether or not
// the queue is enabled (Enabled governs only the automatic passes). The
// report comes back also with an error, saying how far the pass got.
func (q *Queues) RunPass(ctx context.Context, name string) (*PassReport, error) {
	p, err := q.beginRetrying(ctx, name)
	if err != nil {
		return nil, err
	}
	return q.run(ctx, p)
}

// run runs the pass begin started, holding its lock until it has recorded
// its end.
func (q *Queues) run(ctx context.Context, p *activePass) (*PassReport, error) {
	name, s := p.rep.Queue, p.set
	defer func() { _ = p.lease.Release(context.WithoutCancel(ctx)) }()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var lockLost atomic.Bool
	go func() {
		select {
		case <-p.lease.Lost():
			q.log.Warn("the queue's lock was lost; stopping the pass", "queue", name, "pass", p.rep.ID)
			lockLost.Store(true)
			cancel()
		case <-ctx.Done():
		}
	}()
	wctx, stopWriter := context.WithCancel(context.WithoutCancel(ctx))
	writerDone := make(chan struct{})
	go func() { defer close(writerDone); q.reportProgress(wctx, p) }()

	var (
		sites []SiteState
		runs  map[string]Run
		done  = map[string]Run{}
	)
	err := q.work(ctx, p, &sites, &runs, done)
	stopWriter()
	<-writerDone

	// Records are written even when the pass was cut short: what ran, ran.
	// A store that does not answer (a Consul restart) is waited for, up to
	// EndRetry, while the pass keeps its lock (10s when Close stopped the
	// pass: the process is going away).
	endRetry := q.cfg.EndRetry
	if q.base.Err() != nil {
		endRetry = min(endRetry, 10*time.Second)
	}
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), endRetry+30*time.Second)
	defer rcancel()
	if runs != nil {
		if perr := q.retryTransient(rctx, endRetry, "recording a pass's runs", func(ctx context.Context) error { return q.putRuns(ctx, name, done) }, "queue", name, "pass", p.rep.ID); perr != nil {
			err = errors.Join(err, fmt.Errorf("record the %s queue's runs: %w", name, perr))
		} else {
			for id, r := range done {
				runs[id] = r
			}
			failing := len(PlanPass(sites, runs, q.cfg.Now(), s).Failing)
			p.update(func(r *PassReport) { r.Failing = failing })
		}
	}
	if name == Stats && err == nil && ctx.Err() == nil {
		if ferr := q.addFleetPoint(rctx); ferr != nil {
			q.log.Warn("fleet total not recorded", "err", ferr)
		}
	}
	if q.cfg.Events != nil && runs != nil && ctx.Err() == nil {
		var werr error
		switch name {
		case Certificates:
			werr = q.warnCertificates(rctx)
		case Stats:
			werr = q.warnDisk(rctx)
		}
		if werr != nil {
			q.log.Warn("warnings not sent", "queue", name, "err", werr)
		}
	}
	// A stopped pass's errors are mostly the stop's (context canceled), so
	// a stop decides the state first.
	switch {
	case lockLost.Load():
		err = cmp.Or(err, ctx.Err())
		p.update(func(r *PassReport) {
			r.State, r.Code = PassInterrupted, CodeBusUnavailable
			r.Error = "the queue's lock was lost (the lock service did not renew it) and the pass stopped; what ran is recorded and the next pass takes the rest"
		})
	case ctx.Err() != nil:
		err = cmp.Or(err, ctx.Err())
		p.update(func(r *PassReport) {
			r.State, r.Error = PassInterrupted, "the pass was stopped before its end (aegir shut down, or its caller gave up); what ran is recorded and the next pass takes the rest"
		})
	case err != nil:
		err = fmt.Errorf("%s pass: %w", name, err)
		p.update(func(r *PassReport) {
			r.State, r.Error, r.Code = PassFailed, clipText(err.Error(), 300), failureCode(err)
		})
	default:
		p.update(func(r *PassReport) { r.State = PassDone })
	}
	p.update(func(r *PassReport) { r.Finished = q.cfg.Now().UTC() })
	// The queue's last pass first, then the pass's own record: whoever
	// sees the pass ended finds it as the last pass too (Status hides a
	// current pass that is already the last one).
	rep := p.snapshot()
	if b, jerr := json.Marshal(rep); jerr == nil {
		last := map[store.QueueKey][]byte{store.QueueLastPassKey(name): b}
		if werr := q.retryTransient(rctx, endRetry, "recording the last pass", func(ctx context.Context) error { return q.st.SetQueueRecords(ctx, last) }, "queue", name, "pass", p.rep.ID); werr != nil {
			q.log.Warn("last pass not recorded", "queue", name, "err", werr)
		}
	}
	if werr := q.retryTransient(rctx, endRetry, "recording a pass's end", func(ctx context.Context) error { return q.savePass(ctx, p) }, "queue", name, "pass", p.rep.ID); werr != nil {
		q.log.Warn("the pass's end was not recorded; it will show as lost", "queue", name, "pass", p.rep.ID, "err", werr)
	}
	rep = p.snapshot()
	q.log.Info("queue pass ended", "queue", name, "pass", rep.ID, "state", rep.State, "eligible", rep.Eligible, "backlog", rep.Backlog, "due", rep.Due,
		"succeeded", rep.Succeeded, "failed", rep.Failed, "skipped", rep.Skipped, "failing", rep.Failing,
		"seconds", rep.Finished.Sub(rep.Started).Seconds())
	return &rep, err
}

// work plans the pass and works on its due sites. It fills in the sites
// and runs it planned with (runs stays nil when planning failed) and the
// runs of the sites it worked on (done).
func (q *Queues) work(ctx context.Context, p *activePass, sitesOut *[]SiteState, runsOut *map[string]Run, done map[string]Run) error {
	name, s := p.rep.Queue, p.set
	sites, byID, err := q.siteStates(ctx)
	if err != nil {
		return err
	}
	runs, err := q.Runs(ctx, name)
	if err != nil {
		return err
	}
	var backups map[string][]domain.Backup
	if name == VerifyBackup {
		// Only sites with a backup have something to verify (verify.go).
		if backups, err = q.backupsBySite(ctx); err != nil {
			return err
		}
		sites = withBackups(sites, backups)
	}
	if name == Certificates {
		sites = dueCertificates(sites, byID, p.rep.Started, q.cfg.RenewWindow)
	}
	plan := PlanPass(sites, runs, p.rep.Started, s)
	*sitesOut, *runsOut = sites, runs
	p.update(func(r *PassReport) { r.Eligible, r.Backlog, r.Due = plan.Eligible, plan.Backlog, len(plan.Due) })

	active, err := q.activeOf(ctx, taskType(name))
	if err != nil {
		return err
	}
	if name == Backup && len(plan.Due) > 0 {
		if backups, err = q.backupsBySite(ctx); err != nil {
			return err
		}
	}

	var mu sync.Mutex // guards done
	jobs := make(chan string)
	var wg sync.WaitGroup
	for range s.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range jobs {
				o := q.siteWork(ctx, name, s, byID[id], backups[id])
				mu.Lock()
				switch {
				case o.skipped:
				case o.ok:
					done[id] = Run{Last: q.cfg.Now().UTC(), OK: true, TaskID: o.taskID}
				default:
					done[id] = Run{Last: q.cfg.Now().UTC(), Failures: runs[id].Failures + 1, TaskID: o.taskID, Error: clipText(o.err, 300)}
				}
				run := done[id]
				mu.Unlock()
				if !o.ok && !o.skipped && run.Failures == FailingAfter && q.cfg.Events != nil && byID[id] != nil {
					if err := q.cfg.Events.SiteFailing(ctx, name, *byID[id], run); err != nil {
						q.log.Warn("could not queue the notification of a failing site", "queue", name, "site", byID[id].Domain, "err", err)
					}
				}
				if o.stopped {
					continue // left to the next pass: not done
				}
				p.update(func(r *PassReport) {
					r.Done++
					switch {
					case o.skipped:
						r.Skipped++
					case o.ok:
						r.Succeeded++
					default:
						r.Failed++
					}
					r.BackupsDeleted += o.deleted
				})
			}
		}()
	}
feed:
	for _, id := range plan.Due {
		if active[id] {
			p.update(func(r *PassReport) { r.Done++; r.Skipped++ })
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
	return nil
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
	stopped bool // the pass stopped while the site's task ran: not done
	taskID  string
	err     string
	deleted int
}

// siteWork queues the site's task, waits for it and, for backups, applies
// retention.
func (q *Queues) siteWork(ctx context.Context, name string, s Settings, site *domain.Site, backups []domain.Backup) outcome {
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
		if ctx.Err() != nil {
			return outcome{skipped: true, stopped: true}
		}
		if transient(err) {
			// The task could not be queued or followed while the store
			// did not answer: not the site's failure; the next pass
			// takes it (a task that was queued after all is active then).
			q.log.Warn("site skipped: the store did not answer", "queue", name, "site", site.Domain, "err", err)
			return outcome{skipped: true}
		}
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
		if err != nil && transient(err) && time.Now().Before(deadline) {
			continue // the task runs on; look again once the store answers
		}
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
