// Package dispatch is the heart of aegir's task engine: the Dispatcher
// takes queued tasks from the store, runs the back end (`aegir provision
// run`) for each through an Executor, applies the back end's result to the
// store (apply.go), and archives the task's log (scheduler/tasklog). It
// builds each task's context (taskcontext.go) and declares the Executor it
// needs; the executors live in scheduler/localexec and scheduler/nomadexec.
//
// # One task, start to end
//
//	           Cancel (queued)                         Cancel / timeout / shutdown
//	        ┌──────────────────► cancelled   ┌──────────► back end stopped (SIGTERM,
//	        │                                │             then SIGKILL) ──┐
//	queued ─┼─ lock ─ context ─ StartTask ─► running ─ Wait ─► result ─────┴─► FinishTask
//	        │  "site/<id>"  │      (CAS)       │                              (CAS: status +
//	        │  fence token  │                  │ runner handle stored         changes, one txn)
//	        │               ▼                  ▼                                   │
//	        │     context can't be built    runner gone (Recover/reap)             ▼
//	        │       → failed, never ran       → failed "runner … is gone"    archive log,
//	        │                                                                release lock
//	        └─ lock held elsewhere → stays queued, tried again
//
// Run watches the queue (store.WatchQueue, a blocking query, no polling)
// and on every change takes the queued tasks oldest first. A task holds
// the lock of its target ("site/<id>", "platform/<id>", "server/<id>")
// from before it starts until its log is archived, so one target never has
// two tasks running; the oldest queued task of a target claims it, so a
// newer one never overtakes it. Tasks of different targets run in
// parallel up to MaxParallel.
//
// The lock's fencing token is stored on the task (Task.Fence) when it
// starts, for the store to refuse writes from a holder that lost its lock
// (Redis locks, issue 4). A clone or migrate locks only its source site;
// the target platform is not locked.
//
// # Failure modes and what aegir does
//
//   - The back end fails: its result says so (status failed, error code,
//     explanation, fix hint) and its changes are still applied (a safety
//     backup it took is recorded).
//   - The runner dies (crash, OOM kill, SIGKILL): Wait returns no result;
//     the task fails with "the back end was killed by signal … without a
//     result; last log lines: …". Nothing is applied.
//   - The back end prints garbage or nothing: as above, "exited with status
//     N and printed no valid result".
//   - Timeout (TaskTimeout, default 1h): the back end is stopped and the
//     task fails "took longer than the timeout (1h); the back end was
//     stopped". A result it still managed to print is applied.
//   - Cancel of a running task: the back end's whole process group is
//     stopped; the task ends cancelled. If the back end had already
//     finished successfully, the task succeeds (the work is done).
//   - The dispatcher stops (aegir shuts down): local back ends are stopped
//     (Run.Cancel: SIGTERM, the executor's grace period to roll back —
//     aegir's executor stop_timeout —, then SIGKILL), Run returns once
//     their tasks are recorded, and they fail aegir_stopped ("aegir was
//     stopped while the task ran", followed by what the back end reported,
//     e.g. that it rolled back). Runners
//     that outlive aegir (Nomad jobs) are handed over
//     instead (Executor.CanReattach, a method of every executor so that
//     no wrapper can hide it): the job keeps running (Run.Detach), the
//     task stays running with its runner recorded, its lock is released,
//     and the next dispatcher's Recover follows it to its real result, so
//     restarting or upgrading aegir does not kill a long backup.
//   - The dispatcher dies (crash, kill -9, machine restart): local back
//     ends die with it (parent-death signal). On the next start Recover
//     finds every running task whose runner is not Alive and fails it: "the
//     runner of this task (…) is gone — the aegir process or machine
//     restarted while it ran; nothing was applied. Check the site and retry
//     the task." Tasks whose runner is alive but not ours (another
//     dispatcher's, an orphan) are checked again every ReapInterval.
//     Nomad's dispatched jobs outlive the dispatcher: Recover and every
//     reap find and follow them again (FindRunner, Attach); see
//     scheduler/nomadexec. A task whose lock the dead dispatcher still
//     holds, or a reap the store did not answer, is tried again every
//     LockTTL/10 (at least RetryInterval) until followed, not a whole
//     ReapInterval later; aegir server sets LockTTL to leader_ttl.
//   - The leadership is lost (Redis did not renew its lease): the caller
//     ends Run's context with ErrLeadershipLost as its cause; local back
//     ends are stopped as on a stop, and their tasks fail leadership_lost.
//     A leader that steps down of its own accord (an older aegir server
//     is live during a rolling upgrade: the caller's cause is
//     ErrSteppedDown) stops as on a stop: local back ends are stopped and
//     their tasks fail aegir_stopped, saying it stepped down; Nomad jobs
//     are handed over. The process runs on as a follower.
//     A task's lock lost the same way stops a local back end (lock_lost);
//     a Nomad job is handed over instead, and followed again by whoever
//     leads once the lock is free.
//   - The store does not answer (a Consul restart; storeretry.go): a start
//     the store applied though it answered an error is found by reading
//     the task again, and the task runs; a result it does not take is
//     retried with backoff for StoreRetry holding the lock, then kept in
//     memory and recorded by the reap once the store is back; one still
//     unrecorded when the dispatcher stops is written to KeepDir and
//     recorded by the next start's Recover (keep.go), not failed
//     runner_gone. The API answers a store that does not answer 503
//     store_unavailable (store.ErrUnavailable).
//   - A migrated site's old place is removed by release-old-place, queued
//     with the migrate's result, which the dispatcher starts only once
//     the router in front (Config.Router) no longer sends the site there
//     and RouterGrace has passed (router.go); it holds the site's lock
//     while it waits. After RouterWait it fails router_still_routes,
//     never started, and the old place is kept.
//
// # Logs
//
// The executors append the back end's log lines to the log bus as they
// arrive, and the dispatcher adds its own ("aegir: running install on
// example.com", "aegir: task succeeded: …"). When a task finishes, it
// moves the log into the store (tasklog.Archive); TaskLogs reads it for
// the API.
//
// # Batches
//
// A task whose spec Coordinates (migrate-sites) has no back end: the
// dispatcher runs it itself, holding its platform's lock, queuing one
// child task per site (Task.Parent) and waiting for them through the
// store, at most its parallel argument at once. It takes no MaxParallel
// slot, so its children can always run. batch.go names its failure modes:
// a child that fails (stop or go on), a cancel (its children under way are
// cancelled), a stop of aegir (it ends aegir_stopped), and the death of
// the process running it (the next reap fails it runner_gone).
//
// # Start failures
//
// An executor's Start error that wraps a runner.Failure (Nomad's ACL and
// namespace errors) fails the task with that failure's error code and fix
// hint; any other fails it with runner_start.
package dispatch
