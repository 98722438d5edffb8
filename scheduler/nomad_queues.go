package scheduler

import (
	"context"
	"fmt"
	"regexp"

	"github.com/hashicorp/nomad/api"

	"github.com/aegirhq/aegir/jobspecs"
)

// QueueSettings is one periodic queue: a pass of `aegir queue run NAME` on
// a cron schedule.
type QueueSettings struct {
	// Name is the queue: cron, backup, stats.
	Name string
	// Schedule is a cron expression (UTC), e.g. "*/5 * * * *".
	Schedule string
	// Disabled removes the queue's job.
	Disabled bool
}

// DefaultQueues are the queues and schedules aegir starts with.
func DefaultQueues() []QueueSettings {
	return []QueueSettings{
		{Name: "cron", Schedule: "*/5 * * * *"},
		{Name: "backup", Schedule: "0 3 * * *"},
		{Name: "stats", Schedule: "17 * * * *"},
	}
}

var queueName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,30}$`)

// QueueJobID is the periodic job of a queue.
func QueueJobID(name string) string { return jobspecs.Queue + "-" + name }

// RegisterQueueJobs registers (or updates, when its settings changed) the
// periodic aegir-queue-<name> job of each queue, and deregisters those of
// disabled queues. Call it at start and whenever a queue's settings change.
func (e *NomadExecutor) RegisterQueueJobs(ctx context.Context, queues []QueueSettings) error {
	for _, q := range queues {
		if !queueName.MatchString(q.Name) {
			return fmt.Errorf("queue name %q: use lowercase letters, digits and dashes", q.Name)
		}
		id := QueueJobID(q.Name)
		if q.Disabled {
			e.forget(id)
			if _, _, err := e.api.Jobs().Deregister(id, false, (&api.WriteOptions{}).WithContext(ctx)); err != nil && !isNotFound(err) {
				return fmt.Errorf("stop queue job %s: %w", id, err)
			}
			continue
		}
		if q.Schedule == "" {
			return fmt.Errorf("queue %s has no schedule; give a cron expression such as \"*/5 * * * *\"", q.Name)
		}
		vars := map[string]any{
			"queue": q.Name, "schedule": q.Schedule, "datacenters": e.cfg.Datacenters,
			"driver": e.cfg.Driver, "aegir_binary": e.cfg.Binary,
		}
		if e.cfg.APIAddr != "" {
			vars["aegir_addr"] = e.cfg.APIAddr
		}
		if _, err := e.ensureJob(ctx, jobspecs.Queue, id, vars); err != nil {
			return err
		}
	}
	return nil
}

// PeriodicForce runs one pass of a queue now, as `nomad job periodic
// force` does, and returns the id of the child job Nomad launched.
func (e *NomadExecutor) PeriodicForce(ctx context.Context, name string) (string, error) {
	evalID, _, err := e.api.Jobs().PeriodicForce(QueueJobID(name), (&api.WriteOptions{}).WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("force queue %s: %w", name, err)
	}
	ev, _, err := e.api.Evaluations().Info(evalID, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("force queue %s: read evaluation %s: %w", name, evalID, err)
	}
	return ev.JobID, nil
}
