package app

import (
	"context"
	"slices"
	"time"

	"github.com/aegirhq/aegir/scheduler/nomadexec"
	"github.com/aegirhq/aegir/scheduler/queue"
)

// queueSettingsPoll is how often the leader reads the queues' settings to
// find changes stored through another aegir server (a change made through
// this one wakes it at once).
const queueSettingsPoll = 30 * time.Second

// queueJobs returns the Nomad periodic job of each queue, from its stored
// settings: a pass every Interval (nomadexec.QueueSchedule), none for a
// disabled queue.
func (n *node) queueJobs(ctx context.Context) ([]nomadexec.QueueSettings, error) {
	jobs := make([]nomadexec.QueueSettings, 0, len(queue.Names))
	for _, name := range queue.Names {
		s, err := n.queues.Settings(ctx, name)
		if err != nil {
			return nil, err
		}
		cron, exact := nomadexec.QueueSchedule(name, s.Interval.D())
		if !exact && s.Enabled {
			n.log.Debug("a queue's interval has no exact cron line; its passes run a little more often", "queue", name, "interval", s.Interval.D(), "cron", cron)
		}
		jobs = append(jobs, nomadexec.QueueSettings{Name: name, Schedule: cron, Disabled: !s.Enabled})
	}
	return jobs, nil
}

// queueSettingsChanged wakes followQueueSettings; it never blocks.
func (n *node) queueSettingsChanged() {
	select {
	case n.queueChanged <- struct{}{}:
	default:
	}
}

// followQueueSettings re-registers the queues' periodic jobs while this
// process leads, whenever their settings change (`aegir queue set`): at
// once when the change went through this process, within
// queueSettingsPoll when it went through another server. registered are
// the jobs registerQueueJobs registered.
func (n *node) followQueueSettings(ctx context.Context, registered []nomadexec.QueueSettings) {
	poll := time.NewTicker(queueSettingsPoll)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.queueChanged:
		case <-poll.C:
		}
		jobs, err := n.queueJobs(ctx)
		if err != nil {
			if ctx.Err() == nil {
				n.log.Warn("read the queues' settings; their Nomad jobs keep their schedule meanwhile", "err", err)
			}
			continue
		}
		if slices.Equal(jobs, registered) {
			continue
		}
		if err := n.nomad.RegisterQueueJobs(ctx, jobs); err != nil {
			if ctx.Err() == nil {
				n.log.Error("re-register the periodic queue jobs in Nomad; retrying at the next poll", "err", err, "poll", queueSettingsPoll)
			}
			continue
		}
		n.log.Info("periodic queue jobs re-registered after a change of the queues' settings")
		registered = jobs
	}
}
