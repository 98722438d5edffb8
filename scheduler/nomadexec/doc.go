// Package nomadexec is the executor that runs each task's back end on
// Nomad. The Executor dispatches each task as a child of the parameterized
// job aegir-task-<server>, constrained to the server's node, with the task
// id as idempotency token and as meta task_id; it follows the child's
// allocation with blocking queries and reads the result the back end left
// in Redis (ResultStore) when the allocation ends.
//
//   - Failed or killed allocation, or never placed within
//     PlacementTimeout: the task fails with a NomadRunError naming the node
//     and Nomad's reason.
//   - Lost allocation (its node missed its heartbeats): Nomad would place
//     a replacement when the node rejoins, whatever the reschedule policy
//     says, and the back end may still run there. A result the back end
//     left in Redis ends the task; else the task fails and is abandoned:
//     the mark provision.AbandonedKey in Redis tells a back end still
//     running to stop and roll back (one that starts or finishes later
//     does nothing or removes its archives), and the dispatched job is
//     stopped and purged (first, whatever Redis says), so nothing runs
//     again (run.go, lost). With Redis down at that moment the result is
//     read for ResultRetry, then the task fails and the mark is set once
//     Redis answers again (retried with backoff for an hour); the
//     dispatcher's log lines wait in its buffered bus, and what the back
//     end made meanwhile no record owns: the janitor removes it.
//   - The dispatcher dies while a job runs: the job runs on. The executor
//     can reattach (CanReattach), so the dispatcher's Recover (and every
//     reap) takes the task's lock, follows the job again (Attach) and
//     finishes the task with its real result — also when the job ended
//     while no aegir followed it. The
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
//   - The back end left no result in Redis (it could not reach Redis,
//     or Redis lost the record): the task ends with the result it
//     printed on its allocation's stdout (stdoutresult.go). When the
//     task's log also has none of its lines (its Redis sink failed:
//     Nomad 1.4.3 rendering its password file empty,
//     hashicorp/nomad#16259), they are copied into the log from the
//     allocation's stderr before the task ends, after one line of the
//     dispatcher's saying so (stderrlog.go); also when it left no result
//     at all, so a crash's trace is in the log.
//   - Redis does not answer when the back end has ended: its result is
//     read again with backoff for ResultRetry (default 2m); past that the
//     task fails bus_unavailable (a runner.Failure), saying the back end
//     may have done its work.
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
// # Also here
//
// The periodic queue jobs aegir-queue-<name> and their token
// (queues.go), the Redis password and queue token in Nomad Variables
// (redis.go), the purge of old dispatched jobs (purge.go), the results
// the back ends leave in Redis (results.go) and the executor's status
// (status.go). The tests that need a Nomad cluster are in nomadtest.
package nomadexec
