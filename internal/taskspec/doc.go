// Package taskspec declares aegir's task types: one Spec per type, in a
// file of its own (backup.go, restore.go, ...), listed in registry.go.
//
// A spec says everything about a task type that is not the work itself:
// what it operates on (Kind), the target states it may start from and why
// others are refused (From, Refuse, Guards, and the kind's reasons in
// rules.go), its arguments and how they are checked and normalised (Args,
// AnyOf), what the context builder must resolve for it (Backup,
// Destination), whether it dumps a database (and so leases a throwaway
// user from Vault), which changes its result may propose (Changes,
// ImportsSites), what it reports to the queues (Report), and how a
// transport offers it to a person (Form, and each Arg's Label and Help).
//
// Everyone reads the registry (Lookup, All, For, Types, Resolve):
//
//   - the store checks a request with CheckSite / CheckPlatform and makes
//     the task with NewTask (internal/store/tasks.go), and checks the
//     backup a task names belongs to the site (Spec.Backup);
//   - the scheduler's context builder resolves what Backup and
//     Destination say (scheduler/dispatch/taskcontext.go);
//   - the back end checks the context it gets the same way
//     (internal/provision/validate.go) and runs the type's handler from
//     its one table (internal/provision/handlers.go);
//   - the scheduler applies a result only if the spec allows its changes
//     (scheduler/dispatch/apply.go), and the queues keep what Report says
//     (scheduler/queue/reports.go);
//   - the API and the dashboard resolve a requested name (Resolve maps
//     "delete" on a platform to delete-platform), render and read a form
//     from Form and Args, and ask for the target's name when Form.Confirm
//     (a plain yes or no when Form.Ask).
//
// Every task holds its target's lock while it runs (scheduler.LockName):
// one task at a time per site, platform or server. A spec cannot opt out.
//
// # Adding a task type
//
//  1. Write its Spec in a new file here, named after the type, and add it
//     to the specs list in registry.go. Its Type is the name the API
//     takes (a domain.TaskType; give it a constant in internal/domain only
//     if code elsewhere must name it). Choose From and Refuse so a refused
//     request tells the operator what to do; declare every argument the
//     handler reads; allow only the Changes its result makes.
//  2. Write its handler in internal/provision and add it to the handlers
//     table (handlers.go). TestHandlersMatchSpecs fails until the two
//     agree.
//
// Nothing else changes: the API accepts the type on its kind of target,
// the context builder resolves what the spec asks for, and the dashboard
// offers it (unless Form.Hidden).
package taskspec
