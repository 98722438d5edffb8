package nomadexec

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

// DefaultQueues are fixed queues and schedules for tests and hand-made
// setups; `aegir server` derives each queue's schedule from its settings
// instead (QueueSchedule of its interval).
func DefaultQueues() []QueueSettings {
	return []QueueSettings{
		{Name: "cron", Schedule: "*/5 * * * *"},
		{Name: "backup", Schedule: "0 3 * * *"},
		{Name: "stats", Schedule: "17 * * * *"},
		{Name: "verify-backup", Schedule: "41 4 * * *"},
		{Name: "certificates", Schedule: "23 2 * * *"},
	}
}

var queueName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,30}$`)

// QueueJobID is the periodic job of a queue.
func QueueJobID(name string) string { return jobspecs.Queue + "-" + name }

// QueueVarPath is the Nomad Variable holding the API token of a queue's
// job (item QueueTokenItem). Nomad 1.4 lets an allocation read
// nomad/jobs/<job id> with its workload identity, and a periodic job's
// children (<job id>/periodic-<time>) get the parent's job id in that
// identity (structs.Allocation.ToIdentityClaims), so every pass reads it.
func QueueVarPath(name string) string { return "nomad/jobs/" + QueueJobID(name) }

// QueueTokenItem is the item of a queue's variable the jobspec's template
// puts in AEGIR_TOKEN.
const QueueTokenItem = "aegir_token"

// queueVarAttempts bounds the check-and-set retries of one variable write
// racing another aegir process.
const queueVarAttempts = 4

// RegisterQueueJobs registers (or updates, when its settings changed) the
// periodic aegir-queue-<name> job of each queue, and deregisters those of
// disabled queues. Call it at start and whenever a queue's settings change.
//
// Before registering a queue's job it puts the queue token
// (Config.QueueToken or SetQueueToken's) in the
// job's Nomad Variable (QueueVarPath), where the pass reads it; the token
// is never in the job itself. A disabled queue's variable is deleted with
// its job. The Nomad token aegir uses needs variables read, write and
// destroy on nomad/jobs/aegir-queue-* (ops/nomad/aegir-policy.hcl).
func (e *Executor) RegisterQueueJobs(ctx context.Context, queues []QueueSettings) error {
	e.mu.Lock()
	token := e.queueToken
	e.mu.Unlock()
	for _, q := range queues {
		if !queueName.MatchString(q.Name) {
			return fmt.Errorf("queue name %q: use lowercase letters, digits and dashes", q.Name)
		}
		id := QueueJobID(q.Name)
		if q.Disabled {
			e.forget(id)
			if _, _, err := e.api.Jobs().Deregister(id, false, (&api.WriteOptions{}).WithContext(ctx)); err != nil && !isNotFound(err) {
				return e.nomadErr(err, "stop queue job "+id, e.needsCap("submit-job"))
			}
			if _, err := e.api.Variables().Delete(QueueVarPath(q.Name), (&api.WriteOptions{}).WithContext(ctx)); err != nil && !isNotFound(err) {
				return e.nomadErr(err, fmt.Sprintf("delete the API token of stopped queue job %s (Nomad variable %s)", id, QueueVarPath(q.Name)),
					e.needsVar("destroy", QueueVarPath(q.Name)))
			}
			continue
		}
		if q.Schedule == "" {
			return fmt.Errorf("queue %s has no schedule; give a cron expression such as \"*/5 * * * *\"", q.Name)
		}
		if token == "" {
			return fmt.Errorf("queue %s: no API token for its passes (Config.QueueToken or SetQueueToken); without one every pass fails unauthorized", q.Name)
		}
		if err := e.putVarItem(ctx, QueueVarPath(q.Name), QueueTokenItem, token); err != nil {
			return err
		}
		vars := map[string]any{
			"queue": q.Name, "schedule": q.Schedule, "datacenters": e.cfg.Datacenters,
			"driver": e.cfg.Driver, "aegir_binary": e.cfg.Binary,
		}
		if e.cfg.APIAddr != "" {
			vars["aegir_addr"] = e.cfg.APIAddr
		}
		if err := e.artifactVars(vars); err != nil {
			return err
		}
		if _, err := e.ensureJob(ctx, jobspecs.Queue, id, vars); err != nil {
			return err
		}
	}
	return nil
}

// SetQueueToken changes the API token RegisterQueueJobs gives the queue
// jobs, e.g. one the process created when it became the leader. Call
// RegisterQueueJobs after it: running passes keep the token they read.
func (e *Executor) SetQueueToken(token string) {
	e.mu.Lock()
	e.queueToken = token
	e.mu.Unlock()
}

// PeriodicForce runs one pass of a queue now, as `nomad job periodic
// force` does, and returns the id of the child job Nomad launched.
func (e *Executor) PeriodicForce(ctx context.Context, name string) (string, error) {
	evalID, _, err := e.api.Jobs().PeriodicForce(QueueJobID(name), (&api.WriteOptions{}).WithContext(ctx))
	if err != nil {
		return "", e.nomadErr(err, "force queue "+name, e.needsCap("dispatch-job"))
	}
	ev, _, err := e.api.Evaluations().Info(evalID, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return "", e.nomadErr(err, fmt.Sprintf("force queue %s: read evaluation %s", name, evalID), e.needsCap("read-job"))
	}
	return ev.JobID, nil
}
