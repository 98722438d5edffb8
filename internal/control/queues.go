package control

import (
	"context"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/scheduler/queue"
)

// QueueRunner is what the service layer needs of the periodic queues
// (scheduler/queue).
type QueueRunner interface {
	List(ctx context.Context) ([]queue.Status, error)
	Status(ctx context.Context, name string) (*queue.Status, error)
	Settings(ctx context.Context, name string) (queue.Settings, error)
	PutSettings(ctx context.Context, name string, s queue.Settings) (queue.Settings, error)
	StartPass(ctx context.Context, name string) (*queue.PassReport, error)
	Pass(ctx context.Context, name, id string) (*queue.PassReport, error)
	Passes(ctx context.Context, name string) ([]queue.PassReport, error)
	SiteStats(ctx context.Context, siteID string) ([]queue.Point, error)
	FleetStats(ctx context.Context) ([]queue.Point, error)
	CronOutputs(ctx context.Context, siteID string) ([]queue.Output, error)
}

var _ QueueRunner = (*queue.Queues)(nil)

// Queues reads, changes and runs the periodic queues. All of it is for
// admins, and a queue is not found to anyone else, except that a queue
// user (role queue: the Nomad queue jobs' token) may start and follow
// passes. Without queues in this process every method fails with
// ErrUnavailable.
type Queues struct{ *base }

// Available reports whether this process has the periodic queues.
func (q *Queues) Available() bool { return q.queues != nil }

func (q *Queues) runner() (QueueRunner, error) {
	if q.queues == nil {
		return nil, Unavailable("the periodic queues")
	}
	return q.queues, nil
}

// known reports a queue name that is not one of aegir's as not found.
func known(name string) error {
	if !queue.Known(name) {
		return domain.NotFound("queue", name)
	}
	return nil
}

// passRunner lets admins and queue users start and follow passes; to
// anyone else the queue is not found.
func (a Actor) passRunner(name string) error {
	if u := a.User(); u == nil || (u.Role != domain.RoleAdmin && u.Role != domain.RoleQueue) {
		return domain.NotFound("queue", name)
	}
	return nil
}

// List lists the queues' state.
func (q *Queues) List(ctx context.Context, a Actor) ([]queue.Status, error) {
	if err := a.admin("list queues"); err != nil {
		return nil, err
	}
	r, err := q.runner()
	if err != nil {
		return nil, err
	}
	return r.List(ctx)
}

// Status is one queue's state.
func (q *Queues) Status(ctx context.Context, a Actor, name string) (*queue.Status, error) {
	if err := a.adminEntity("queue", name); err != nil {
		return nil, err
	}
	r, err := q.runner()
	if err != nil {
		return nil, err
	}
	return r.Status(ctx, name)
}

// Settings are one queue's settings.
func (q *Queues) Settings(ctx context.Context, a Actor, name string) (queue.Settings, error) {
	if err := a.adminEntity("queue", name); err != nil {
		return queue.Settings{}, err
	}
	r, err := q.runner()
	if err != nil {
		return queue.Settings{}, err
	}
	if err := known(name); err != nil {
		return queue.Settings{}, err
	}
	return r.Settings(ctx, name)
}

// PutSettings changes one queue's settings (check-and-set on
// set.Version, 0 while it has its defaults).
func (q *Queues) PutSettings(ctx context.Context, a Actor, name string, set queue.Settings) (queue.Settings, error) {
	if err := a.adminEntity("queue", name); err != nil {
		return queue.Settings{}, err
	}
	r, err := q.runner()
	if err != nil {
		return queue.Settings{}, err
	}
	if err := known(name); err != nil {
		return queue.Settings{}, err
	}
	out, err := r.PutSettings(ctx, name, set)
	if err != nil {
		return queue.Settings{}, err
	}
	q.log.Info("queue settings changed", "queue", name, "by", a.Name())
	// Queue settings are the queues' own keys, not a store transaction:
	// the entry follows the change, alone.
	e := a.entry("update", "queue", name, "")
	e.Fields = domain.AuditFields(nil, out)
	if err := q.st.AppendAudit(ctx, e); err != nil {
		q.log.Error("audit a queue settings change", "queue", name, "err", err)
	}
	return out, nil
}

// StartPass starts one pass of a queue and returns it running; the pass
// runs in the queues' own background. A pass already running is a
// *queue.PassRunningError naming it; a process shutting down answers
// queue.ErrClosed.
func (q *Queues) StartPass(ctx context.Context, a Actor, name string) (*queue.PassReport, error) {
	if err := a.passRunner(name); err != nil {
		return nil, err
	}
	r, err := q.runner()
	if err != nil {
		return nil, err
	}
	if err := known(name); err != nil {
		return nil, err
	}
	p, err := r.StartPass(ctx, name)
	if err != nil {
		return nil, err
	}
	q.log.Info("queue pass started", "queue", name, "pass", p.ID, "by", a.Name())
	return p, nil
}

// Passes lists a queue's last passes, newest first.
func (q *Queues) Passes(ctx context.Context, a Actor, name string) ([]queue.PassReport, error) {
	if err := a.adminEntity("queue", name); err != nil {
		return nil, err
	}
	r, err := q.runner()
	if err != nil {
		return nil, err
	}
	return r.Passes(ctx, name)
}

// Pass is one pass of a queue, running or finished.
func (q *Queues) Pass(ctx context.Context, a Actor, name, id string) (*queue.PassReport, error) {
	if err := a.passRunner(name); err != nil {
		return nil, err
	}
	r, err := q.runner()
	if err != nil {
		return nil, err
	}
	return r.Pass(ctx, name, id)
}

// FleetStats are the fleet's totals over time.
func (q *Queues) FleetStats(ctx context.Context, a Actor) ([]queue.Point, error) {
	if err := a.admin("list fleet stats"); err != nil {
		return nil, err
	}
	r, err := q.runner()
	if err != nil {
		return nil, err
	}
	return r.FleetStats(ctx)
}

// SiteStats are the figures over time and the last cron outputs of the
// site named by ref (id or domain), which the actor must see.
func (q *Queues) SiteStats(ctx context.Context, a Actor, ref string) (*domain.Site, []queue.Point, []queue.Output, error) {
	r, err := q.runner()
	if err != nil {
		return nil, nil, nil, err
	}
	site, err := (&Sites{q.base}).Get(ctx, a, ref)
	if err != nil {
		return nil, nil, nil, err
	}
	pts, err := r.SiteStats(ctx, site.ID)
	if err != nil {
		return nil, nil, nil, err
	}
	outs, err := r.CronOutputs(ctx, site.ID)
	if err != nil {
		return nil, nil, nil, err
	}
	return site, pts, outs, nil
}

// LatestFigures returns the newest stats figures of each of sites (already
// listed for the actor, so within its scope; a site it may not see is left
// out), keyed by site id; a site never measured has none. Without queues in
// this process it returns nothing, not an error: the figures are extras of
// a list.
func (q *Queues) LatestFigures(ctx context.Context, a Actor, sites []domain.Site) (map[string]map[string]float64, error) {
	out := map[string]map[string]float64{}
	if q.queues == nil {
		return out, nil
	}
	for _, s := range sites {
		if !a.CanSee(s.ClientID) {
			continue
		}
		pts, err := q.queues.SiteStats(ctx, s.ID)
		if err != nil {
			return nil, err
		}
		if len(pts) > 0 {
			out[s.ID] = pts[len(pts)-1].Figures
		}
	}
	return out, nil
}
