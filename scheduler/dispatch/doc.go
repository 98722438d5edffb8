// Package scheduler is aegir's task engine: it takes queued tasks from the
// store, runs the back end (`aegir provision run`) for each through an
// Executor, applies the back end's result to the store, and archives the
// task's log.
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
//     and their tasks fail "aegir was stopped while the task ran". Runners
//     that outlive aegir (a Reattacher's: Nomad jobs) are handed over
//     instead: the job keeps running, the task stays running with its
//     runner recorded, its lock is released, and the next dispatcher's
//     Recover follows it to its real result, so restarting or upgrading
//     aegir does not kill a long backup.
//   - The dispatcher dies (crash, kill -9, machine restart): local back
//     ends die with it (parent-death signal). On the next start Recover
//     finds every running task whose runner is not Alive and fails it: "the
//     runner of this task (…) is gone — the aegir process or machine
//     restarted while it ran; nothing was applied. Check the site and retry
//     the task." Tasks whose runner is alive but not ours (another
//     dispatcher's, an orphan) are checked again every ReapInterval.
//     Nomad's dispatched jobs outlive the dispatcher: see "Nomad" below.
//
// # Nomad
//
// The NomadExecutor dispatches each task as a child of the parameterized
// job aegir-task-<server>, constrained to the server's node, with the task
// id as idempotency token and as meta task_id; it follows the child's
// allocation with blocking queries and reads the result the back end left
// in Redis (ResultStore) when the allocation ends.
//
//   - Failed, killed or lost allocation, or never placed within
//     PlacementTimeout: the task fails with a NomadRunError naming the node
//     and Nomad's reason.
//   - The dispatcher dies while a job runs: the job runs on. The executor
//     is a Reattacher, so Recover (and every reap) takes the task's lock,
//     follows the job again (Attach) and finishes the task with its real
//     result — also when the job ended while no aegir followed it. The
//     lock is taken first so that a lease the dead process still holds
//     delays this to the next reap rather than racing it.
//   - It died between dispatching and recording the runner: FindRunner
//     asks Nomad for the child whose idempotency token and task_id are the
//     task's id (one filtered job list), records it check-and-set, and it
//     is followed as above. Nothing is dispatched again. When Nomad has no
//     such job the task fails "runner gone", saying Nomad has none.
//   - The job is no longer in Nomad (purged, garbage-collected): the task
//     ends with the result its back end left in Redis (kept 24h), or fails
//     saying the job is gone and left no result — never stuck running.
//   - Store conflict when applying: FinishTask is check-and-set on the
//     task and on every entity it changes; on domain.ErrConflict the task
//     is re-read and the finish retried a few times.
//   - A change the store refuses (an illegal state transition, a duplicate
//     domain, a platform that still has sites): the task still finishes,
//     failed, without the changes, and its explanation says what the back
//     end reported and why it could not be applied. A task is never left
//     running because its result was refused.
//   - A context that can't be built (a record it needs was deleted): the
//     task fails before anything runs, saying which record is missing.
//   - The lock is lost (Redis: renewal failed): the back end is stopped
//     and the task fails "lost the task's lock".
//   - Nomad's ACLs refuse a request (aegir's token is missing, unknown or
//     lacks a rule of ops/nomad/aegir-policy.hcl): Nomad says only
//     "Permission denied", so the executor returns a NomadACLError naming
//     the request and the capability it needed (ErrNomadPermissionDenied);
//     a task whose job could not be registered or dispatched fails at once
//     with error code nomad_permission and a fix hint about the token.
//
// # Logs
//
// The back end writes JSON lines on stderr; the LocalExecutor appends each
// to the log bus as it arrives, and the dispatcher adds its own lines
// ("aegir: running install on example.com", "aegir: task succeeded: …").
// When a task finishes, LogArchive moves its log from the bus into the
// store (zstd, chunked under the store's limits) and deletes the live log.
// TaskLogs reads the archive first and the live bus otherwise, so the API
// can follow a running task and read a finished one without the bus.
package dispatch
