package dispatch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/taskspec"
	"github.com/aegirhq/aegir/scheduler/runner"
)

// ResultChanges turns the changes a back end proposes into store changes
// for task's target. It refuses a change the task's spec does not allow
// (taskspec.Spec.Changes: a platform task changing a site's status), so a
// confused back end can't touch another entity. Package lists are not
// stored yet.
//
// A site is written at most once per transaction (every write is
// check-and-set on the version read before the transaction), so a move and
// a status change are one EditSite, and a removal replaces both.
func ResultChanges(task domain.Task, res *provision.Result) ([]store.Change, error) {
	spec, ok := taskspec.Lookup(task.Type)
	if !ok {
		return nil, fmt.Errorf("task %s has an unknown type %q", task.ID, task.Type)
	}
	c := res.Changes
	if err := spec.CheckChanges(proposed(c)); err != nil {
		return nil, err
	}
	var out []store.Change
	for _, b := range c.Backups {
		out = append(out, store.AddBackup(&domain.Backup{
			SiteID: task.TargetID, ClientID: task.ClientID, Domain: task.TargetName, TaskID: task.ID,
			ServerID: b.ServerID, Path: b.Path, Size: b.Size, SHA256: b.SHA256, Reason: b.Reason,
		}))
	}
	for _, id := range c.RemoveBackups {
		// A server task removes only the backup it was queued for
		// (delete-backup-of-deleted-site); a site task's are its site's.
		if task.TargetKind != domain.TargetSite && id != task.Args["backup_id"] {
			return nil, fmt.Errorf("a %s task cannot remove backup %q: it was queued for backup %q", task.Type, domain.Clip(id), task.Args["backup_id"])
		}
		out = append(out, store.RemoveBackup(id))
	}
	for _, ns := range c.NewSites {
		out = append(out, newSite(task, spec, ns))
	}
	switch {
	case c.RemoveSite:
		out = append(out, store.RemoveSite(task.TargetID))
	case c.Move != nil || c.SiteStatus != "" || c.SiteUser != nil || c.Certificate != nil:
		var edits []store.SiteEdit
		if m := c.Move; m != nil {
			edits = append(edits, store.MoveEdit(m.Domain, m.Aliases, m.PlatformID, m.DBServerID))
		}
		if c.SiteStatus != "" {
			edits = append(edits, store.StatusEdit(c.SiteStatus))
		}
		if c.SiteUser != nil {
			edits = append(edits, store.UnixUserEdit(c.SiteUser))
		}
		if c.Certificate != nil {
			edits = append(edits, store.CertificateEdit(c.Certificate))
		}
		out = append(out, store.EditSite(task.TargetID, edits...))
	}
	if r := c.Release; r != nil && !c.RemoveSite {
		// The old place goes once the router has followed the move: a
		// task queued in the same transaction, so it cannot be lost, and
		// before anything requested later of the site.
		name := task.TargetName
		if c.Move != nil {
			name = c.Move.Domain
		}
		out = append(out, store.QueueTask(domain.TaskReleaseOldPlace, domain.TargetSite, task.TargetID, name, task.ClientID,
			map[string]string{"domain": r.Domain, "platform_id": r.PlatformID, "db_server_id": r.DBServerID}, "aegir"))
	}
	if c.ReplacedFiles && !c.RemoveSite {
		// The files a restore replaced go in a task of their own, queued
		// in the same transaction (so they cannot be forgotten) and
		// before anything requested later of the site.
		out = append(out, store.QueueTask(domain.TaskRemoveReplacedFiles, domain.TargetSite, task.TargetID, task.TargetName, task.ClientID,
			map[string]string{"task_id": task.ID}, "aegir"))
	}
	switch {
	case c.RemovePlatform:
		out = append(out, store.RemovePlatform(task.TargetID))
	case c.PlatformStatus != "" || c.PlatformLocked != nil || c.PlatformRel != "":
		out = append(out, store.UpdatePlatform(task.TargetID, func(p *domain.Platform) error {
			if c.PlatformStatus != "" && c.PlatformStatus != p.Status {
				if err := p.Transition(c.PlatformStatus); err != nil {
					return err
				}
			}
			if c.PlatformLocked != nil {
				p.Locked = *c.PlatformLocked
			}
			if c.PlatformRel != "" {
				p.Release = c.PlatformRel
			}
			return nil
		}))
	}
	if c.ServerStatus != "" {
		out = append(out, store.SetServerStatusChange(task.TargetID, c.ServerStatus))
	}
	return out, nil
}

// proposed is the set of kinds of change in c, for the spec to allow.
func proposed(c provision.Changes) taskspec.Change {
	var out taskspec.Change
	for _, p := range []struct {
		set bool
		c   taskspec.Change
	}{
		{c.SiteStatus != "", taskspec.ChangeSiteStatus},
		{c.RemoveSite, taskspec.ChangeRemoveSite},
		{c.Move != nil, taskspec.ChangeMoveSite},
		{len(c.Backups) > 0, taskspec.ChangeBackups},
		{len(c.RemoveBackups) > 0, taskspec.ChangeRemoveBackups},
		{len(c.NewSites) > 0, taskspec.ChangeNewSites},
		{c.PlatformStatus != "", taskspec.ChangePlatformStatus},
		{c.PlatformLocked != nil, taskspec.ChangePlatformLock},
		{c.PlatformRel != "", taskspec.ChangePlatformRelease},
		{c.RemovePlatform, taskspec.ChangeRemovePlatform},
		{c.ServerStatus != "", taskspec.ChangeServerStatus},
		{c.SiteUser != nil, taskspec.ChangeSiteUser},
		{c.Certificate != nil, taskspec.ChangeCertificate},
		{c.Release != nil, taskspec.ChangeReleaseOldPlace},
		{c.ReplacedFiles, taskspec.ChangeReplacedFiles},
	} {
		if p.set {
			out |= p.c
		}
	}
	return out
}

// newSite is the store change for a site a task created (a clone) or found
// (an import, when the spec says ImportsSites). Unset fields default to the
// task's: its platform (a platform task), client and database server.
func newSite(task domain.Task, spec *taskspec.Spec, ns provision.NewSite) store.Change {
	platformID := ns.PlatformID
	if platformID == "" && task.TargetKind == domain.TargetPlatform {
		platformID = task.TargetID
	}
	status := ns.Status
	if status == "" {
		status = domain.SiteEnabled
	}
	site := &domain.Site{
		ID: ns.ID, Domain: ns.Domain, Aliases: ns.Aliases, RedirectAliases: ns.RedirectAliases,
		PlatformID: platformID, DBServerID: cmp.Or(ns.DBServerID, task.Args["db_server_id"]),
		ClientID: cmp.Or(ns.ClientID, task.ClientID, task.Args["client_id"]), Status: status,
		UnixUser: ns.UnixUser, PHP: ns.PHP,
	}
	if spec.ImportsSites {
		return store.ImportSite(site)
	}
	return store.AddSite(site)
}

// ending is how a task ends: its final status, what it tells the operator,
// and the changes to apply with it.
type ending struct {
	status      domain.TaskStatus
	code        string
	explanation string
	hint        string
	summary     string
	changes     []store.Change
	// res is the result changes were made from, kept so that an ending
	// the store did not take can be written to disk and its changes made
	// again at the next start (keep.go).
	res *provision.Result
	// runner is the back end's runner, written with the ending when the
	// store did not take it at the start (a Consul restart then).
	runner string
}

// outcome is how a run of the back end ended, as the dispatcher saw it.
type outcome struct {
	res         *provision.Result
	err         error  // no result: why (the executor's words)
	cancelledBy string // Cancel was called
	timedOut    bool
	shutdown    bool // the dispatcher was stopped
	leaderLost  bool // the dispatcher's leadership was lost (ErrLeadershipLost)
	steppedDown bool // the dispatcher stepped down from the lead (ErrSteppedDown)
	handedOver  bool // the dispatcher stopped and left the runner running for the next one
	lost        bool // the task's lock was lost
}

// endingOf decides how a task ends from its run's outcome.
func endingOf(task domain.Task, o outcome, timeout time.Duration) ending {
	var e ending
	stopped := ""
	switch {
	case o.cancelledBy != "":
		stopped = "Cancelled by " + o.cancelledBy + " while it ran."
	case o.timedOut:
		stopped = "The task took longer than the timeout (" + runner.ShortDuration(timeout) + "); the back end was stopped."
	case o.shutdown:
		stopped = "aegir was stopped while the task ran, and stopped the back end."
	case o.leaderLost:
		stopped = "This aegir process lost the dispatcher's leadership (its lease in Redis could not be renewed in time: Redis did not answer, or the process paused) and stopped the back end."
	case o.steppedDown:
		stopped = "This aegir process stepped down from the dispatcher's lead for an older aegir server (a rolling upgrade), and stopped the back end as on a stop of aegir."
	case o.lost:
		stopped = "The dispatcher lost the task's lock (another dispatcher may own the target now) and stopped the back end."
	}
	if o.res == nil {
		e.status, e.hint = domain.TaskFailed, "Check the site, and retry the task once the cause is fixed."
		switch {
		case o.cancelledBy != "":
			e.status, e.code = domain.TaskCancelled, "cancelled"
			e.explanation = stopped + " Nothing it did was recorded."
			e.hint = "A task stopped midway can leave partial work: verify the site, then retry the task if needed."
		case o.timedOut:
			e.code, e.explanation = "timeout", stopped+" Nothing it did was recorded."
			e.hint = "Look at the task's log for the step that hung (a database or server not answering?), fix it and retry; raise the task timeout if the task is only slow."
		case o.shutdown:
			e.code, e.explanation = "aegir_stopped", stopped+" Nothing it did was recorded."
		case o.steppedDown:
			e.code, e.explanation = "aegir_stopped", stopped+" Nothing it did was recorded."
			e.hint = stepDownHint
		case o.leaderLost:
			e.code, e.explanation = "leadership_lost", stopped+" Nothing it did was recorded."
			e.hint = "Check that Redis answers the aegir servers, then retry the task."
		case o.lost:
			e.code, e.explanation = "lock_lost", stopped+" Nothing it did was recorded."
		default:
			e.code = "runner_failed"
			e.explanation = sentence(o.err.Error())
			e.hint = "Look at the task's log for the cause, fix it, then retry the task."
			// An executor that knows what went wrong says so (e.g.
			// bus_unavailable: the result could not be read from Redis).
			if f := (*runner.Failure)(nil); errors.As(o.err, &f) && f.Code != "" {
				e.code, e.hint = f.Code, cmp.Or(f.Hint, e.hint)
			}
		}
		return e
	}
	res := o.res
	if res.Version != provision.ContextVersion {
		return versionMismatch(res)
	}
	e = ending{status: res.Status, code: res.ErrorCode, explanation: res.Explanation, hint: res.FixHint, summary: res.Summary}
	changes, err := ResultChanges(task, res)
	if err != nil {
		return notApplied(e, err)
	}
	e.changes, e.res = changes, res
	if stopped != "" {
		if res.Status == domain.TaskSucceeded {
			e.summary = strings.TrimSpace(e.summary + " (it had finished before it could be stopped)")
			return e
		}
		e.explanation = strings.TrimSpace(stopped + " " + e.explanation)
		switch {
		case o.cancelledBy != "":
			e.status = domain.TaskCancelled
		case o.timedOut:
			e.code = "timeout"
		case o.shutdown, o.steppedDown:
			// The back end's own code says it was cancelled (and rolled
			// back); the task's says why.
			e.code = "aegir_stopped"
		case o.leaderLost:
			e.code = "leadership_lost"
		}
	}
	return e
}

// stepDownHint is the fix hint of a task stopped by a step-down: the
// server that leads now runs it again if asked.
const stepDownHint = "Check the site, then retry the task: the aegir server that leads now runs it."

// versionMismatch is the ending of a task whose back end answered in
// another result schema than this dispatcher reads: an aegir of another
// release ran it (a node not yet upgraded, or upgraded first). Nothing it
// reported is applied.
func versionMismatch(res *provision.Result) ending {
	return ending{
		status: domain.TaskFailed,
		code:   provision.CodeVersionMismatch,
		explanation: fmt.Sprintf("The back end answered in result schema %d and this aegir server reads schema %d: the back end is another aegir release. Nothing it reported (%s) was applied.",
			res.Version, provision.ContextVersion, res.Status),
		hint: "Run the same aegir release on the back end's nodes (nomad.binary, or the binary the local executor runs) as on the servers, verify the task's target, then retry the task.",
	}
}

// notApplied is the ending of a task whose result could not be applied:
// failed, without changes, saying what the back end reported.
func notApplied(e ending, err error) ending {
	reported := string(e.status)
	if e.summary != "" {
		reported += " (" + e.summary + ")"
	} else if e.explanation != "" {
		reported += " (" + strings.TrimSuffix(e.explanation, ".") + ")"
	}
	return ending{
		status:      domain.TaskFailed,
		code:        "result_not_applied",
		explanation: fmt.Sprintf("The back end reported the task %s, but its result could not be applied to aegir's records: %v.", reported, err),
		hint:        "aegir's records may not match the servers now: verify the site, platform or server the task was for, then retry the task if needed.",
	}
}

// finish ends the task with e, check-and-set: on a conflict it re-reads
// the task and tries again; when the changes cannot be applied it ends the
// task failed without them, so a task never stays running because its
// result was refused. A task already finished (by someone else) is left.
// It returns the ending actually stored.
func (d *Dispatcher) finish(ctx context.Context, taskID string, e ending) (ending, error) {
	const attempts = 5
	for try := 1; ; try++ {
		task, err := d.st.GetTask(ctx, taskID)
		if err != nil {
			return e, err
		}
		if task.Status.Done() {
			return ending{status: task.Status, summary: task.Summary, explanation: task.Explanation}, nil
		}
		task.ErrorCode, task.Explanation, task.FixHint, task.Summary = e.code, e.explanation, e.hint, e.summary
		if task.Runner == "" {
			task.Runner = e.runner
		}
		if e.status != domain.TaskSucceeded {
			task.Summary = ""
		}
		err = d.st.FinishTask(ctx, task, e.status, e.changes...)
		if err == nil {
			d.log.Info("task finished", "task", taskID, "type", task.Type, "target", task.TargetName, "status", e.status, "code", e.code)
			if e.status == domain.TaskFailed && d.cfg.Events != nil {
				task.Status = e.status
				if err := d.cfg.Events.TaskFailed(ctx, *task); err != nil {
					d.log.Warn("could not queue the notification of a failed task", "task", taskID, "err", err)
				}
			}
			return e, nil
		}
		if errors.Is(err, domain.ErrConflict) && try < attempts {
			d.log.Debug("task finish conflicted; retrying", "task", taskID, "err", err)
			select {
			case <-time.After(time.Duration(try*try) * 10 * time.Millisecond):
			case <-ctx.Done():
				return e, ctx.Err()
			}
			continue
		}
		if len(e.changes) == 0 {
			return e, fmt.Errorf("finish task %s: %w", taskID, err)
		}
		d.log.Warn("task result refused by the store", "task", taskID, "err", err)
		e, try = notApplied(e, err), 0
	}
}

// sentence capitalises s and ends it with a full stop.
func sentence(s string) string {
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}
