package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/taskspec"
	"github.com/aegirhq/aegir/scheduler/dispatch"
	"github.com/aegirhq/aegir/scheduler/runner"
)

// Output is one cron run's output, kept per site (the last KeepOutputs;
// internal/apiv1).
type Output = apiv1.CronOutput

// Observe wraps the dispatcher's executor so that the report of every
// cron and stats task (provision.Result.Report) is kept: cron output per
// site, stats in the site's series. The lead wires it:
// dispatch.Config{Executor: queues.Observe(exec)}. Reports are recorded
// when the back end ends, whoever queued the task (a pass, or an operator).
func (q *Queues) Observe(inner dispatch.Executor) dispatch.Executor {
	return &observer{Executor: inner, q: q}
}

type observer struct {
	dispatch.Executor
	q *Queues
}

// The observer embeds the executor, so everything it does not wrap
// (Alive, CanReattach, FindRunner) is the inner executor's own.
var _ dispatch.Executor = (*observer)(nil)

func (o *observer) Start(ctx context.Context, task domain.Task, pctx []byte) (runner.Run, error) {
	run, err := o.Executor.Start(ctx, task, pctx)
	return o.observe(task, run, err)
}

// Attach observes a run followed again after a restart as Start's: its
// report is recorded when it ends.
func (o *observer) Attach(ctx context.Context, task domain.Task, handle string) (runner.Run, error) {
	run, err := o.Executor.Attach(ctx, task, handle)
	return o.observe(task, run, err)
}

// observe wraps the run of a cron or stats task so that its report is
// recorded when it ends.
func (o *observer) observe(task domain.Task, run runner.Run, err error) (runner.Run, error) {
	if err != nil || reportOf(task) == taskspec.NoReport {
		return run, err
	}
	return &observedRun{Run: run, task: task, q: o.q}, nil
}

type observedRun struct {
	runner.Run
	task domain.Task
	q    *Queues
	once sync.Once
}

func (r *observedRun) Wait() (*provision.Result, error) {
	res, err := r.Run.Wait()
	r.once.Do(func() {
		if res == nil || res.Report == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.q.Record(ctx, r.task, res); err != nil {
			r.q.log.Warn("queue report not recorded", "task", r.task.ID, "type", r.task.Type, "err", err)
		}
	})
	return res, err
}

// reportOf is what task's spec says it reports.
func reportOf(task domain.Task) taskspec.Report {
	if s, ok := taskspec.Lookup(task.Type); ok {
		return s.Report
	}
	return taskspec.NoReport
}

// Record keeps what a cron or stats task reported. It is check-and-set
// on the site's key, retried on conflict.
func (q *Queues) Record(ctx context.Context, task domain.Task, res *provision.Result) error {
	rep := res.Report
	now := q.cfg.Now().UTC()
	switch reportOf(task) {
	case taskspec.CronOutput:
		return q.update(ctx, store.CronOutputKey(task.TargetID), func(b []byte) ([]byte, error) {
			var outs []Output
			if b != nil {
				if err := json.Unmarshal(b, &outs); err != nil {
					outs = nil
				}
			}
			outs = append(outs, Output{At: now, TaskID: task.ID, OK: res.Status == domain.TaskSucceeded,
				Seconds: rep.Seconds, Output: clipText(rep.Output, provision.MaxReportOutput)})
			if n := len(outs) - q.cfg.KeepOutputs; n > 0 {
				outs = outs[n:]
			}
			return json.Marshal(outs)
		})
	case taskspec.StatsFigures:
		if res.Status != domain.TaskSucceeded || len(rep.Figures) == 0 {
			return nil
		}
		figs := make(map[string]float64, len(rep.Figures))
		for k, v := range rep.Figures {
			if len(figs) < provision.MaxFigures && v >= 0 {
				figs[k] = v
			}
		}
		if err := q.update(ctx, store.StatsSeriesKey(task.TargetID), func(b []byte) ([]byte, error) {
			var s Series
			if b != nil {
				_ = json.Unmarshal(b, &s)
			}
			s.Add(now, figs)
			return json.Marshal(&s)
		}); err != nil {
			return err
		}
		b, err := json.Marshal(Point{At: now, Figures: figs})
		if err != nil {
			return err
		}
		return q.st.SetQueueRecords(ctx, map[store.QueueKey][]byte{store.StatsLatest().Key(task.TargetID): b})
	}
	return nil
}

// update applies fn to a record's value (nil when missing) check-and-set,
// retrying a few times on conflict.
func (q *Queues) update(ctx context.Context, key store.QueueKey, fn func([]byte) ([]byte, error)) error {
	for try := 0; ; try++ {
		rec, err := q.st.GetQueueRecord(ctx, key)
		if err != nil && !errors.Is(err, store.ErrKeyNotFound) {
			return err
		}
		nb, err := fn(rec.Value)
		if err != nil {
			return err
		}
		_, err = q.st.PutQueueRecord(ctx, key, nb, rec.Version)
		if errors.Is(err, store.ErrCASFailed) && try < 5 {
			continue
		}
		return err
	}
}

// addFleetPoint sums every site's latest figures into the fleet series.
// Sites no longer enabled are left out.
func (q *Queues) addFleetPoint(ctx context.Context) error {
	latest, err := q.st.ListQueueRecords(ctx, store.StatsLatest())
	if err != nil {
		return err
	}
	sites, _, err := q.siteStates(ctx)
	if err != nil {
		return err
	}
	live := make(map[string]bool, len(sites))
	for _, s := range sites {
		live[s.ID] = s.Status == domain.SiteEnabled || s.Status == domain.SiteDisabled
	}
	total := map[string]float64{}
	n := 0
	for _, rec := range latest {
		if !live[rec.ID] {
			continue
		}
		var pt Point
		if json.Unmarshal(rec.Value, &pt) != nil {
			continue
		}
		n++
		for k, v := range pt.Figures {
			total[k] += v
		}
	}
	total["sites"] = float64(n)
	now := q.cfg.Now().UTC()
	return q.update(ctx, store.FleetStatsKey(), func(b []byte) ([]byte, error) {
		var s Series
		if b != nil {
			_ = json.Unmarshal(b, &s)
		}
		s.Add(now, total)
		return json.Marshal(&s)
	})
}

// SiteStats returns a site's stats series, oldest first.
func (q *Queues) SiteStats(ctx context.Context, siteID string) ([]Point, error) {
	return q.series(ctx, store.StatsSeriesKey(siteID))
}

// FleetStats returns the fleet total series (sums of every live site's
// latest figures, plus "sites": how many reported), oldest first.
func (q *Queues) FleetStats(ctx context.Context) ([]Point, error) {
	return q.series(ctx, store.FleetStatsKey())
}

func (q *Queues) series(ctx context.Context, key store.QueueKey) ([]Point, error) {
	var s Series
	if _, _, err := q.getJSON(ctx, key, &s); err != nil {
		return nil, err
	}
	return s.View(), nil
}

// CronOutputs returns a site's last cron outputs, oldest first.
func (q *Queues) CronOutputs(ctx context.Context, siteID string) ([]Output, error) {
	var outs []Output
	if _, _, err := q.getJSON(ctx, store.CronOutputKey(siteID), &outs); err != nil {
		return nil, err
	}
	if outs == nil {
		outs = []Output{}
	}
	return outs, nil
}

// SiteRun returns a site's run record in a queue.
func (q *Queues) SiteRun(ctx context.Context, name, siteID string) (*Run, error) {
	if !Known(name) {
		return nil, domain.NotFound("queue", name)
	}
	var r Run
	_, ok, err := q.getJSON(ctx, store.QueueRuns(name).Key(siteID), &r)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("site %s has no run in the %s queue yet: %w", siteID, name, domain.ErrNotFound)
	}
	return &r, nil
}
