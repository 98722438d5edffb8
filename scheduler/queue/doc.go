// Package queue runs aegir's periodic queues — cron, backup, stats,
// verify-backup and certificates (certificates.go) — over every site,
// spread evenly over time.
//
// # A pass
//
// RunPass(ctx, name) is one pass of one queue:
//
//	lock "queue/<name>" ─ pass record ─ sites + runs ─ PlanPass ─ N workers ─ record runs ─ pass record, last pass
//	 (TryAcquire; held     (running)     (store, KV)    (pure)     queue a task,    (txns of ≤ 64 ops)   (its end)
//	  → ErrPassRunning)                                            wait for it
//
// StartPass is the same pass in the background: it returns once the pass
// holds the lock and its record exists, and the pass runs on a context of
// the Queues' own, which only Close ends (state interrupted). That is how
// the API runs a pass (202 with the pass, then GET .../passes/<id>): a
// client that hangs up or a proxy that times out neither stops the pass
// nor, on a retry, starts a second one — the retry gets a
// *PassRunningError naming the running pass.
//
// # A pass's record and its failure modes
//
// Each pass has a record, queues/<name>/passes/<id> (PassReport), which
// only the pass writes, check-and-set on its last write: created running
// under the lock, then its progress (Done of Due; Succeeded, Failed,
// Skipped) every Config.Progress while it moves and at least every
// LockTTL/4 as a heartbeat, then its end before it lets go of the lock:
//
//	running ─┬─ done         ran to the end (sites may have failed: Failed)
//	         ├─ failed       could not go on (the store did not answer); Error
//	         ├─ interrupted  Close, or the lock was lost: what ran is recorded
//	         └─ lost         its process died: no write for 2 × LockTTL
//
// A dead pass cannot write "lost" itself, so readers (Pass, Passes,
// Status) report a running record that has not been written for 2 ×
// LockTTL as lost — its lock expired by then, so another pass can run —
// and the next pass to take the lock marks every record still running as
// lost for good (it holds the lock, so they are dead); a late write of the
// dead pass then fails its check-and-set. Sites a stopped pass did not get
// to are in none of the counts (Due − Done) and stay due; tasks it had
// queued finish under the dispatcher, and the next pass skips a site whose
// task is still active. Each queue keeps its last KeepPasses records.
//
// # Outages (a Consul restart, Redis away)
//
// A pass that cannot take its lock or write its first record because the
// store or Redis does not answer (store.ErrUnavailable,
// locks.ErrUnavailable) retries for Config.StartRetry; if it still cannot
// start, a failed record saying why, with Code store_unavailable or
// bus_unavailable, is written when the store takes it, and Run tries the
// queue again with backoff (4 × Poll doubling, at most a minute) within
// its interval instead of waiting a whole one. A pass failed by an outage
// carries the same codes, and so does one interrupted because Redis
// stopped renewing its lock (bus_unavailable); Run retries both the same
// way. While a pass runs, a task it cannot queue or
// follow for an outage skips the site (not a failure of the site), and
// its end — runs, record, last pass — is retried for Config.EndRetry
// while the pass keeps its lock, so it is recorded once the store is
// back. Consul may apply a write whose answer was lost: the pass keeps
// the values of such writes, and when its next check-and-set fails on
// one of them it takes the record as its own (savePass, adoptUnsure)
// instead of taking itself for an orphan.
//
// PlanPass is a pure function of (sites, last runs, now, settings): the
// eligible sites (enabled, platform not locked or deleted) that are due,
// oldest last run first (never-run sites first), as many as spread the
// fleet over the frequency: ceil(eligible × interval / frequency) — 1,200
// sites, 1 h, 5 min: 100 a pass. A site that failed waits Backoff(failures):
// the frequency doubled for each failure after the first, capped at
// MaxBackoff; after FailingAfter failures in a row it is listed as failing
// (Status, GET /api/v1/queues/<name>) instead of retried in a loop. Clock
// jumps: backwards, a last run in the future by more than one frequency
// counts as never run (no site is parked until the clock catches up);
// forwards, every site is due but a pass still takes only its share, and
// Backlog says how far behind the queue is.
//
// Config.Events hears of a site as it starts a failing streak
// (queue_site_failing), and, after a certificates or a stats pass, of
// certificates about to expire that renewal failed to replace and of
// clients at DiskWarnPercent of their disk quota (warnings.go), each once
// per streak.
//
// # Why the work is tasks
//
// Each site's work is a task (cron, stats, backup with reason "scheduled",
// delete-backup) queued through the store and run by the dispatcher, so it
// goes through the same per-site lock as every other task: a cron never
// races a restore, and the work runs where the site lives (a child
// process, or a Nomad dispatch on the site's web server). The pass waits
// for its tasks; its concurrency bounds how many it has in flight (the
// dispatcher's MaxParallel bounds all tasks). A site that already has an
// active task of the queue's type is skipped, so a pass cut short never
// doubles work. The cost: one task record per site per run; finished
// queue tasks need the task retention that the store does not have yet.
//
// What a cron or stats task reports (provision.Result.Report) reaches the
// queues through Observe, a wrapper around the dispatcher's Executor (it
// observes the runs it starts and those it follows again after a restart,
// and leaves everything else, such as CanReattach, to the executor): the
// last KeepOutputs cron outputs per site (each at most 4 KiB), and a
// bounded, downsampled Series of figures per site (Series: hourly for two
// days, daily for 30 days, weekly for a year, ≤ 200 points) plus each
// site's latest point; after a stats pass the latest points are summed into
// the fleet series.
//
// # Backups and retention
//
// The backup queue queues the existing backup task (reason "scheduled";
// the archive package re-reads and checksums every archive it writes).
// After a site's backup succeeds, Expired (pure) decides which scheduled
// backups retention no longer keeps — keep the last N, and the newest of
// each of the last D days, W weeks, M months — and a delete-backup task
// removes each archive and then, in the task's result, its record: the
// record goes only once the file is gone, and a missing file counts as
// gone, so a failure between the two heals on the next pass.
// Backups taken for other reasons (manual, pre-restore, ...) are never
// expired. The verify-backup queue restores the newest backup of a sample
// of the sites that have one into a throwaway site, checks it and removes
// it (verify.go).
//
// # Records
//
// The queues keep their records in the store through its methods
// (Store.GetQueueRecord, PutQueueRecord, SetQueueRecords,
// ListQueueRecords; internal/store/queues.go shows where each lives):
// a queue's Settings (check-and-set on Version), each site's Run (written
// only by the lock holder), the PassReport of each of the last KeepPasses
// passes and of the last ended one, each site's last cron outputs, and
// the stats: each site's Series and latest Point, summed into the fleet's
// series.
//
// # Running on their own
//
// On `aegir dev`, Queues.Run loops over every queue: a pass (RunPass),
// then the queue's interval. In `aegir server` with Nomad, the
// aegir-queue-<name> periodic job runs `aegir queue run NAME`, which asks
// the API (POST /api/v1/queues/<name>/run) to start one pass in the server
// process and polls the pass until it ends, so the job lasts as long as
// the pass and prohibit_overlap holds. The job runs a pass every
// Settings.Interval (its cron line is nomadexec.QueueSchedule's), and the
// leader re-registers it when the settings change (Config.OnSettings
// wakes it; it also polls for changes made through another server). The
// job's API token is a queue
// user's (JobUser, role queue; token.go): it may start and follow passes
// and nothing else.
package queue
