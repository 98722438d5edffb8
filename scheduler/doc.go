// Package scheduler is aegir's task engine, one package per role:
//
//	dispatch     the Dispatcher: takes queued tasks, one per target, runs
//	             them through an Executor (which it declares), applies
//	             their results, hands over and recovers running tasks;
//	             builds each task's context
//	runner       the Run an executor returns for a started back end
//	localexec    the executor that runs back ends as child processes
//	nomadexec    the executor that dispatches them as Nomad jobs, with
//	             the periodic queue jobs, ACL errors and job purging
//	             (nomadtest: its tests against a real cluster)
//	tasklog      finished tasks' logs archived in the store, and reading
//	             them with the live bus
//	retention    deleting old finished tasks and their logs
//	queue        the periodic queues (cron, backups, stats, verify)
//
// internal/app wires them: the executor its configuration names, wrapped
// by queue.Queues.Observe, under the dispatcher.
package scheduler
