package dispatch

import (
	"context"
	"fmt"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/taskspec"
	"github.com/aegirhq/aegir/scheduler/runner"
)

// Router is the router in front of the web servers, as far as the
// dispatcher needs it: whether it still sends a site's domain to a web
// server. internal/routing implements it on Consul's catalog.
type Router interface {
	// Routes reports whether the router's catalog still holds an instance
	// of site siteID served as domainName on web server serverID.
	Routes(ctx context.Context, siteID, serverID, domainName string) (bool, error)
}

// awaitRouter holds a task whose spec WaitsForRouter (release-old-place)
// until the router no longer sends the site's old domain to its old web
// server and RouterGrace has passed since it was seen gone (the router's
// own refresh). It holds the task's lock meanwhile, so nothing else of the
// site runs before the old place is gone. It returns nil to go on, or the
// ending of a task that must not run: cancelled, or failed because the
// router still routes to the old place after RouterWait (the old place is
// kept: removing it would fail the requests still sent there). ok is false
// when the dispatcher stopped: the task stays queued for the next one.
func (d *Dispatcher) awaitRouter(ctx context.Context, task domain.Task, j *job) (e *ending, ok bool) {
	spec, found := taskspec.Lookup(task.Type)
	if !found || !spec.WaitsForRouter || d.cfg.Router == nil {
		return nil, true
	}
	p, err := d.st.GetPlatform(ctx, task.Args["platform_id"])
	if err != nil {
		return nil, true // the context builder says what is missing
	}
	srv, err := d.st.GetServer(ctx, p.WebServerID)
	if err != nil {
		return nil, true
	}
	oldDomain := task.Args["domain"]
	deadline := task.CreatedAt.Add(d.cfg.RouterWait)
	tick := time.NewTicker(d.cfg.RetryInterval)
	defer tick.Stop()
	var gone time.Time // when the router was first seen to have let go
	noted := false
	for {
		routes, err := d.cfg.Router.Routes(ctx, task.TargetID, srv.ID, oldDomain)
		switch {
		case err != nil:
			if ctx.Err() == nil {
				d.log.Warn("ask the router about a migrated site's old place; retrying", "task", task.ID, "err", err)
			}
			gone = time.Time{}
		case routes:
			gone = time.Time{}
			if !noted {
				noted = true
				d.note(task.ID, "info", fmt.Sprintf("waiting for the router to stop sending %s to %s before its old place is removed", oldDomain, srv.Name))
			}
		case gone.IsZero():
			gone = time.Now()
		case time.Since(gone) >= d.cfg.RouterGrace:
			return nil, true
		}
		if gone.IsZero() && time.Now().After(deadline) {
			return &ending{status: domain.TaskFailed, code: "router_still_routes",
				explanation: fmt.Sprintf("The router still sends %s to %s %s after the move; its old place there was kept, since removing it would fail those requests.",
					oldDomain, srv.Name, runner.ShortDuration(d.cfg.RouterWait)),
				hint: "Check the site's health check at its new place (aegir status, the router's dashboard); once the router sends it there only, retry this task."}, true
		}
		select {
		case by := <-j.cancel:
			return &ending{status: domain.TaskCancelled, code: "cancelled", explanation: "Cancelled by " + by + " before it started; the old place was kept."}, true
		case <-ctx.Done():
			return nil, false
		case <-tick.C:
		}
	}
}
