// Package retention deletes finished tasks, and their archived logs
// (scheduler/tasklog), once they are older than their type's retention
// (Policy): the routine tasks of the periodic queues go sooner than the
// rest. The leading aegir process runs it (Run); queued and running tasks
// are never deleted.
package retention
