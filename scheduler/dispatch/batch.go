package dispatch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/locks"
	"github.com/aegirhq/aegir/internal/logbus"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/taskspec"
)

// A batch (a task whose spec Coordinates: migrate-sites) is a parent task
// the dispatcher runs itself, with no back end. It holds its platform's
// lock, queues one child task per site (Task.Parent), at most `parallel`
// at once, and waits for them through the store; each child is an
// ordinary task with its own lock, back end, timeout and rollback. The
// parent's log says what it queued and how each child ended ("3/10
// migrated ..."), and it ends succeeded when every child did.
//
// Failure modes:
//   - a child fails: it rolled its own site back; the batch queues no
//     more (default) or goes on (continue=true), waits for the children
//     under way, and ends failed naming each failure;
//   - the parent is cancelled: the children under way are cancelled (each
//     rolls back) and the parent ends cancelled;
//   - aegir stops: the parent ends failed aegir_stopped at once; the
//     children under way are stopped with the dispatcher's other tasks (or
//     handed over, on Nomad) and end on their own;
//   - the aegir process running it dies: the parent stays running with
//     runner BatchRunner until the next dispatcher's reap, which fails it
//     (reap), as for any task whose runner is gone. Children never queued
//     were never started; a rerun finds the sites still on the platform.
//
// The parent has no timeout: its children have theirs.

// BatchRunner is the runner a batch task records: the dispatcher itself.
const BatchRunner = "aegir-dispatcher"

// batchPoll is how often a batch reads its running children's state.
const batchPoll = 200 * time.Millisecond

// coordinate starts a batch task and runs it (see execute).
func (d *Dispatcher) coordinate(ctx context.Context, task domain.Task, lease locks.Lease, j *job) (*ending, bool) {
	if err := d.st.StartTask(ctx, &task, BatchRunner, lease.Fence()); err != nil {
		if !transient(err) || ctx.Err() != nil {
			return nil, false
		}
		if !d.settleStart(ctx, &task, lease, err) {
			d.log.Error("start task; will retry", "task", task.ID, "err", err)
			return nil, false
		}
	}
	d.note(task.ID, "info", fmt.Sprintf("running %s on %s (in the dispatcher: one child task per site)", task.Type, task.TargetName))
	e := d.runBatch(ctx, task, lease, j)
	return &e, true
}

// say adds a line of a batch's own to its log.
func (d *Dispatcher) say(taskID, level, format string, args ...any) {
	line := logbus.Line{Time: time.Now().UTC(), Level: level, Msg: fmt.Sprintf(format, args...)}
	if _, err := d.bus.Append(context.Background(), taskID, line); err != nil {
		d.log.Debug("log line not delivered", "task", taskID, "err", err)
	}
}

type batchChild struct {
	domain string
	id     string
}

// runBatch queues and waits for the children of a migrate-sites task.
func (d *Dispatcher) runBatch(ctx context.Context, parent domain.Task, lease locks.Lease, j *job) ending {
	to := parent.Args["to_platform_id"]
	dest, err := d.st.GetPlatform(ctx, to)
	if err != nil {
		return ending{status: domain.TaskFailed, code: "missing_record", explanation: fmt.Sprintf("The platform to migrate to (%s) cannot be read: %v.", to, err),
			hint: "Request the batch again with an existing platform."}
	}
	parallel, _ := strconv.Atoi(parent.Args["parallel"])
	parallel = min(max(parallel, 1), taskspec.MaxBatchParallel)
	keepGoing := parent.Args["continue"] == "true"
	sites, err := d.batchSites(ctx, parent)
	if err != nil {
		return ending{status: domain.TaskFailed, code: "batch_failed", explanation: sentence(err.Error()), hint: "Check the platform's sites, then request the batch again."}
	}
	mode := "stopping at the first failure"
	if keepGoing {
		mode = "going on after a failure"
	}
	total := len(sites)
	d.say(parent.ID, "info", "%d sites to migrate from %s to %s, %d at a time, %s", total, parent.TargetName, dest.Name, parallel, mode)

	var (
		running     []batchChild
		next        int
		migrated    int
		failures    []string
		stopReason  string
		cancelledBy string
	)
	tick := time.NewTicker(batchPoll)
	defer tick.Stop()
	for {
		for stopReason == "" && len(running) < parallel && next < total {
			s := sites[next]
			next++
			child, err := d.st.RequestChildTask(ctx, &parent, s.ID, domain.TaskMigrate, map[string]string{"platform_id": dest.ID})
			if err != nil {
				failures = append(failures, fmt.Sprintf("%s: not queued: %v", s.Domain, err))
				d.say(parent.ID, "error", "%s: the migrate could not be queued: %v", s.Domain, err)
				if !keepGoing {
					stopReason = "stopped at the first failure"
				}
				continue
			}
			d.say(parent.ID, "info", "%s: migrate queued (task %s)", s.Domain, child.ID)
			running = append(running, batchChild{domain: s.Domain, id: child.ID})
		}
		if len(running) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return ending{status: domain.TaskFailed, code: "aegir_stopped",
				explanation: fmt.Sprintf("aegir was stopped while the batch ran: %d of %d sites migrated, %d migrates under way were stopped with it (each puts its site back), %d not started.",
					migrated, total, len(running), total-next),
				hint: fmt.Sprintf("Run the batch again once aegir is back: the sites already on %s are not migrated twice.", dest.Name)}
		case <-lease.Lost():
			return ending{status: domain.TaskFailed, code: "lock_lost",
				explanation: fmt.Sprintf("The dispatcher lost the platform's lock while the batch ran: %d of %d sites migrated, %d under way finish on their own, %d not started.", migrated, total, len(running), total-next),
				hint:        "Run the batch again for the sites still on the platform."}
		case by := <-j.cancel:
			cancelledBy, stopReason = by, "cancelled by "+by
			for _, c := range running {
				if err := d.Cancel(context.WithoutCancel(ctx), c.id, by); err != nil && !errors.Is(err, domain.ErrConflict) {
					d.say(parent.ID, "warn", "%s: its migrate (task %s) could not be cancelled: %v", c.domain, c.id, err)
				}
			}
			d.say(parent.ID, "warn", "cancelled by %s: the migrates under way are cancelled (each puts its site back)", by)
		case <-tick.C:
		}
		still := running[:0]
		for _, c := range running {
			t, err := d.st.GetTask(ctx, c.id)
			if err != nil || !t.Status.Done() {
				still = append(still, c)
				continue
			}
			if t.Status == domain.TaskSucceeded {
				migrated++
				d.say(parent.ID, "info", "%d/%d migrated: %s (task %s)", migrated, total, c.domain, c.id)
				continue
			}
			why := strings.TrimSuffix(t.Explanation, ".")
			failures = append(failures, fmt.Sprintf("%s (task %s) %s: %s", c.domain, c.id, t.Status, why))
			d.say(parent.ID, "error", "%s: migrate %s (task %s): %s; the site was put back as it was", c.domain, t.Status, c.id, why)
			if !keepGoing && stopReason == "" {
				stopReason = "stopped at the first failure"
				if next < total {
					d.say(parent.ID, "warn", "stopping: %d sites not started (continue=true goes on after a failure)", total-next)
				}
			}
		}
		running = still
	}
	return batchEnding(parent, dest.Name, total, migrated, total-next, failures, stopReason, cancelledBy)
}

// batchEnding is how a batch ends once no child runs.
func batchEnding(parent domain.Task, dest string, total, migrated, notStarted int, failures []string, stopReason, cancelledBy string) ending {
	counts := fmt.Sprintf("%d of %d sites migrated from %s to %s", migrated, total, parent.TargetName, dest)
	if len(failures) == 0 && cancelledBy == "" {
		return ending{status: domain.TaskSucceeded, summary: counts}
	}
	var b strings.Builder
	b.WriteString(counts)
	if len(failures) > 0 {
		fmt.Fprintf(&b, "; %d failed, each put back as it was: %s", len(failures), strings.Join(failures, "; "))
	}
	if notStarted > 0 {
		fmt.Fprintf(&b, "; %d not started (%s)", notStarted, stopReason)
	}
	b.WriteString(".")
	if cancelledBy != "" {
		return ending{status: domain.TaskCancelled, code: "cancelled", explanation: "Cancelled by " + cancelledBy + ": " + b.String(),
			hint: "Run the batch again for the sites still on " + parent.TargetName + "."}
	}
	return ending{status: domain.TaskFailed, code: "batch_failed", explanation: b.String(),
		hint: fmt.Sprintf("Read each failed site's migrate task for its cause and fix it, then run the batch again: the sites already on %s are no longer on %s and are not migrated twice.", dest, parent.TargetName)}
}

// batchSites lists the sites a migrate-sites task moves, sorted by
// domain: those named in its sites argument, or every site of its
// platform. Sites not installed, or no longer on the platform, are left
// out with a line in the log.
func (d *Dispatcher) batchSites(ctx context.Context, parent domain.Task) ([]domain.Site, error) {
	var candidates []domain.Site
	if list := parent.Args["sites"]; list != "" {
		for _, name := range strings.Split(list, ",") {
			if name = strings.TrimSpace(name); name == "" {
				continue
			}
			s, err := d.st.SiteByDomain(ctx, name)
			if errors.Is(err, domain.ErrNotFound) {
				d.say(parent.ID, "warn", "%s: skipped: no such site any more", name)
				continue
			}
			if err != nil {
				return nil, err
			}
			candidates = append(candidates, *s)
		}
	} else {
		for off := 0; ; off += 1000 {
			page, err := d.st.ListSites(ctx, store.SiteFilter{PlatformID: parent.TargetID, Offset: off, Limit: 1000})
			if err != nil {
				return nil, err
			}
			candidates = append(candidates, page.Items...)
			if off+1000 >= page.Total {
				break
			}
		}
	}
	var out []domain.Site
	for _, s := range candidates {
		switch {
		case s.PlatformID != parent.TargetID:
			d.say(parent.ID, "warn", "%s: skipped: it is no longer on %s", s.Domain, parent.TargetName)
		case s.Status != domain.SiteEnabled && s.Status != domain.SiteDisabled:
			d.say(parent.ID, "warn", "%s: skipped: it is %s, not installed", s.Domain, s.Status)
		default:
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b domain.Site) int { return strings.Compare(a.Domain, b.Domain) })
	return out, nil
}

// isBatch reports whether t is a batch task (its spec Coordinates).
func isBatch(t domain.Task) bool {
	s, ok := taskspec.Lookup(t.Type)
	return ok && s.Coordinates
}
