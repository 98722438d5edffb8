package apiv1

import (
	"encoding/json"
	"fmt"
	"time"
)

// The periodic queues (cron, backup, stats, verify-backup) as /api/v1
// serves them: GET /queues, GET and PUT /queues/{id}, the passes under
// /queues/{id}/passes, and a site's figures and cron outputs. The queues
// themselves (scheduler/queue) keep these records under the same names by
// type alias, so what the API answers is what the store holds.

// Duration is a time.Duration written as "1h30m" in JSON.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string such as \"1h\" or \"15m\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: use a form such as \"1h\" or \"15m\"", s)
	}
	*d = Duration(v)
	return nil
}

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// QueueSettings configure one queue (GET and PUT /queues/{id}). Stored at
// queues/<name>/settings, check-and-set on Version; scheduler/queue fills
// the defaults and validates them.
type QueueSettings struct {
	// Enabled queues run on their own (dev ticker, Nomad periodic job); a
	// pass can still be started by hand. Default: true.
	Enabled bool `json:"enabled"`
	// Frequency: every eligible site gets its turn within this. Default:
	// cron 1h, backup 24h, stats 6h.
	Frequency Duration `json:"frequency"`
	// Interval is how often a pass runs. Default: cron 5m, backup 1h,
	// stats 30m. A pass takes ceil(sites × Interval / Frequency) sites.
	Interval Duration `json:"interval"`
	// Concurrency is how many sites one pass works on at once. Default:
	// cron 8, backup 2, stats 4.
	Concurrency int `json:"concurrency"`
	// Timeout bounds one site's work (the cron command, the stats hook).
	// Default: 5m (backup: 1h, the dispatcher's task timeout applies).
	Timeout Duration `json:"timeout"`
	// MaxBackoff caps how long a site that keeps failing waits before its
	// next try. Default: 8 × Frequency.
	MaxBackoff Duration `json:"max_backoff"`
	// CronPath, for cron: a path requested through the site's web server
	// on every run ("/cron.php?key=..."), besides the platform's own cron.
	// Default: none.
	CronPath string `json:"cron_path,omitempty"`
	// Retention, for backup: which scheduled backups to keep.
	Retention *QueueRetention `json:"retention,omitempty"`
	// SamplePercent, for verify-backup: a pass verifies at most this
	// percentage of the sites that have a backup (at least one site), on
	// top of the frequency's share. Default: 1.
	SamplePercent int `json:"sample_percent,omitempty"`
	// Version is the stored version; a PUT must carry the one it read.
	Version uint64 `json:"version"`
}

// QueueRetention says which scheduled backups of a site are kept; every
// other scheduled backup is deleted (archive and record together).
// Backups taken for another reason (manual, pre-restore, pre-delete ...)
// are never deleted by retention.
type QueueRetention struct {
	// KeepLast keeps the newest N. Default: 3.
	KeepLast int `json:"keep_last"`
	// Daily keeps the newest backup of each of the last N days. Default: 7.
	Daily int `json:"daily"`
	// Weekly keeps the newest backup of each of the last N ISO weeks.
	// Default: 4.
	Weekly int `json:"weekly"`
	// Monthly keeps the newest backup of each of the last N months.
	// Default: 6.
	Monthly int `json:"monthly"`
}

// QueueStatus is a queue's overview (GET /queues, GET /queues/{id}).
type QueueStatus struct {
	Name     string        `json:"name"`
	Settings QueueSettings `json:"settings"`
	// LastPass is the last pass's report, nil before the first.
	LastPass *PassReport `json:"last_pass,omitempty"`
	// Current is the pass running now with its progress, if any.
	Current *PassReport `json:"current,omitempty"`
	// NextPass is when the next pass is expected (last start + interval).
	NextPass *time.Time `json:"next_pass,omitempty"`
	// Eligible, Backlog: as planned now.
	Eligible int `json:"eligible"`
	Backlog  int `json:"backlog"`
	// Failing are the sites with FailingAfter (scheduler/queue) or more
	// consecutive failures, at most 100, with their last run.
	Failing []QueueFailingSite `json:"failing"`
	// FailingTotal counts them all.
	FailingTotal int `json:"failing_total"`
}

// QueueFailingSite is a site that keeps failing in a queue.
type QueueFailingSite struct {
	SiteID string    `json:"site_id"`
	Domain string    `json:"domain"`
	Run    QueueRun  `json:"run"`
	Retry  time.Time `json:"retry_at"`
}

// QueueRun is a site's record in one queue (queues/<name>/runs/<siteID>):
// its last run and how it went. Kept small: one per site per queue.
type QueueRun struct {
	// Last is when the last run finished.
	Last time.Time `json:"last"`
	// OK says whether it succeeded.
	OK bool `json:"ok"`
	// Failures counts the consecutive failed runs (0 after a success).
	Failures int `json:"failures,omitempty"`
	// TaskID is the task of the last run.
	TaskID string `json:"task_id,omitempty"`
	// Error is the last failure's explanation, clipped.
	Error string `json:"error,omitempty"`
}

// PassReport is one pass of a queue: its progress while it runs, what it
// did once it ended. Each pass's is kept at queues/<name>/passes/<id> (the
// last KeepPasses of scheduler/queue), the last ended one also at
// queues/<name>/last.
type PassReport struct {
	// ID names the pass; ids sort in the order passes started.
	ID    string `json:"id"`
	Queue string `json:"queue"`
	// State is running until the pass ends.
	State PassState `json:"state"`
	// Error says why a pass failed, was interrupted or was lost.
	Error string `json:"error,omitempty"`
	// Code names the outage a failed or interrupted pass met:
	// store_unavailable (Consul did not answer), bus_unavailable (Redis
	// did not answer, or did not renew the queue's lock); absent
	// otherwise.
	Code    string    `json:"code,omitempty"`
	Started time.Time `json:"started"`
	// Finished is when the pass ended; absent while it runs.
	Finished time.Time `json:"finished,omitzero"`
	// Updated is when the pass last wrote this record: on progress, and at
	// least every LockTTL/4 while it runs.
	Updated time.Time `json:"updated,omitzero"`
	// Eligible, Backlog, Due: from the plan. Due is the pass's total.
	Eligible int `json:"eligible"`
	Backlog  int `json:"backlog"`
	Due      int `json:"due"`
	// Done counts the due sites the pass is through with (succeeded,
	// failed or skipped): its progress is Done of Due.
	Done int `json:"done"`
	// Succeeded, Failed: sites whose work ended so.
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
	// Skipped: due sites left alone (a task of this queue already active,
	// the site changed state, or its task did not end in time). The due
	// sites a stopped pass did not get to (Due − Done) are in none of
	// these.
	Skipped int `json:"skipped"`
	// BackupsDeleted: archives removed by retention (backup queue).
	BackupsDeleted int `json:"backups_deleted,omitempty"`
	// Failing counts sites with FailingAfter or more consecutive failures.
	Failing int `json:"failing"`
}

// PassState is where a pass is in its life.
type PassState string

const (
	// PassRunning: the pass holds its queue's lock and works.
	PassRunning PassState = "running"
	// PassDone: the pass ran to its end; some sites may have failed
	// (Failed).
	PassDone PassState = "done"
	// PassFailed: the pass could not go on (Error says why); the runs of
	// the sites it finished are recorded.
	PassFailed PassState = "failed"
	// PassInterrupted: the pass stopped early (aegir shut down, or the
	// lock was lost); what ran is recorded and the next pass takes the
	// rest.
	PassInterrupted PassState = "interrupted"
	// PassLost: the process running the pass stopped reporting before it
	// ended (it died). Its lock expires after LockTTL, so the next pass
	// takes over; tasks it had queued finish under the dispatcher.
	PassLost PassState = "lost"
)

// StatsPoint is one point of a series of figures (a site's or the
// fleet's stats) as the API serves it.
type StatsPoint struct {
	At      time.Time          `json:"at"`
	Figures map[string]float64 `json:"figures"`
}

// CronOutput is one cron run's output, kept per site (the last
// KeepOutputs of scheduler/queue).
type CronOutput struct {
	At      time.Time `json:"at"`
	TaskID  string    `json:"task_id"`
	OK      bool      `json:"ok"`
	Seconds float64   `json:"seconds"`
	Output  string    `json:"output"`
}
