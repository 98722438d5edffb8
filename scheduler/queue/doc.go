// Package queue runs aegir's periodic queues — cron, backup, stats and
// verify-backup — over every site, spread evenly over time.
//
// # A pass
//
// RunPass(ctx, name) is one pass of one queue:
//
//	lock "queue/<name>" ─ sites + runs ─ PlanPass ─ N workers ─ record runs ─ last pass
//	 (TryAcquire; held     (store, KV)    (pure)     queue a task,    (txns of ≤ 64 ops)
//	  → ErrPassRunning)                              wait for it
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
// queues through Observe, a wrapper around the dispatcher's Executor: the
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
// # Keys (Store.KV())
//
//	queues/<name>/settings        Settings (check-and-set on Version)
//	queues/<name>/runs/<siteID>   Run, written only by the lock holder
//	queues/<name>/last            PassReport of the last pass
//	queues/cron/output/<siteID>   last cron outputs
//	queues/stats/series/<siteID>  Series
//	queues/stats/latest/<siteID>  Point, summed into queues/stats/fleet
//
// # Running on their own
//
// On `aegir dev`, Queues.Run loops over every queue: a pass, then the
// queue's interval. In `aegir server` with Nomad, the aegir-queue-<name>
// periodic job runs `aegir queue run NAME`, which asks the API (POST
// /api/v1/queues/<name>/run) to run one pass in the server process.
package queue
