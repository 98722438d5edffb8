package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aegirhq/aegir/dashboard"
	"github.com/aegirhq/aegir/internal/logbus"
	"github.com/aegirhq/aegir/internal/notify"
	"github.com/aegirhq/aegir/scheduler/dispatch"
	"github.com/aegirhq/aegir/secrets"
)

// statusChecks are the components GET /api/v1/status checks besides the
// store (which the dashboard checks itself): each turns what a component
// reports about itself into ok, degraded or down with a message for the
// operator. None quotes a secret: the messages are the components' own
// errors, which name addresses, settings and policies, never a password
// or a token.
func (n *node) statusChecks() []dashboard.StatusCheck {
	checks := []dashboard.StatusCheck{{Name: "dispatcher", Check: n.checkDispatcher}, {Name: "janitor", Check: n.checkJanitor},
		{Name: "notify", Check: n.checkNotifications}}
	if n.nomad != nil {
		checks = append(checks, dashboard.StatusCheck{Name: "nomad", Check: n.checkNomad})
	}
	if n.rdb != nil {
		checks = append(checks, dashboard.StatusCheck{Name: "redis", Check: n.checkRedis})
	}
	if n.peers != nil {
		checks = append(checks, dashboard.StatusCheck{Name: "servers", Check: n.checkServers})
	}
	checks = append(checks, dashboard.StatusCheck{Name: "secrets", Check: n.checkSecrets})
	if n.routing != nil {
		checks = append(checks, dashboard.StatusCheck{Name: "routing", Check: n.checkRouting})
	}
	return checks
}

func (n *node) checkDispatcher(context.Context) (dashboard.ComponentState, string) {
	if !n.elector.IsLeader() {
		if err := n.elector.CampaignErr(); err != nil {
			return dashboard.StateDegraded, "this process cannot take the lead (" + err.Error() + "); no aegir server can while that lasts, and then no task runs"
		}
		if err := n.elector.HeldBack(); err != nil {
			return dashboard.StateDegraded, "standby, will not lead during the rolling upgrade: " + err.Error() + "; upgrade the older servers"
		}
		return dashboard.StateOK, "standby: another aegir server leads and dispatches"
	}
	st := n.disp.Status()
	if st.Err != nil {
		return dashboard.StateDegraded, "leading, but the last read of the task queue failed: " + st.Err.Error()
	}
	msg := fmt.Sprintf("leading: %d of %d tasks running here, %d queued", st.Running, st.MaxParallel, st.Queued)
	if !st.LastPass.IsZero() {
		msg += ", queue read " + ago(st.LastPass)
	}
	return dashboard.StateOK, msg
}

// checkJanitor reports what the back ends' janitors removed (the
// leftovers of dead tasks, provision/janitor.go), from the results this
// process's dispatcher received while it leads.
func (n *node) checkJanitor(context.Context) (dashboard.ComponentState, string) {
	if !n.elector.IsLeader() {
		return dashboard.StateOK, "standby: the leading aegir server receives the janitors' reports"
	}
	return janitorState(n.disp.Status().Janitor)
}

func janitorState(j dispatch.JanitorStatus) (dashboard.ComponentState, string) {
	if j.LastAt.IsZero() {
		return dashboard.StateOK, "no leftovers of dead tasks found since this server leads"
	}
	msg := fmt.Sprintf("%d leftovers of dead tasks removed (%d bytes) since this server leads; last report %s by task %s: %d removed",
		j.Removed, j.Bytes, ago(j.LastAt), j.LastTask, j.Last.Removed)
	if j.Last.Kept == 0 && j.Last.Failed == 0 {
		return dashboard.StateOK, msg
	}
	return dashboard.StateDegraded, msg + fmt.Sprintf(", %d kept for an operator, %d could not be removed: see that task's log (aegir task logs %s)",
		j.Last.Kept, j.Last.Failed, j.LastTask)
}

// checkServers lists the aegir servers live on this Redis with their
// releases and schemas; more than one release is a rolling upgrade under
// way (degraded until it is done).
func (n *node) checkServers(ctx context.Context) (dashboard.ComponentState, string) {
	live, err := n.peers.live(ctx)
	if err != nil {
		return dashboard.StateDegraded, err.Error()
	}
	var parts []string
	releases := map[string]bool{}
	for _, a := range live {
		s := fmt.Sprintf("%s (release %s, schema %d", a.ID, a.Release, a.Schema)
		if a.Leading {
			s += ", leading"
		}
		parts = append(parts, s+")")
		releases[fmt.Sprintf("%s/%d", a.Release, a.Schema)] = true
	}
	msg := plural(len(live), "aegir server") + " live: " + strings.Join(parts, ", ")
	if len(releases) > 1 {
		return dashboard.StateDegraded, msg + "; mixed releases: a rolling upgrade is under way, and the oldest release leads until it is done"
	}
	return dashboard.StateOK, msg
}

func (n *node) checkNomad(ctx context.Context) (dashboard.ComponentState, string) {
	if err := n.nomad.Ping(ctx); err != nil {
		return dashboard.StateDown, err.Error() + "; tasks cannot start until Nomad answers"
	}
	inFlight, max := n.nomad.InFlight()
	return dashboard.StateOK, fmt.Sprintf("answers at %s; %d of %d dispatched back ends running", n.nomad.Address(), inFlight, max)
}

func (n *node) checkRedis(ctx context.Context) (dashboard.ComponentState, string) {
	start := time.Now()
	err := n.cfg.Redis.CheckRedis(ctx, n.rdb)
	took := time.Since(start)
	buffered := 0
	if b, ok := n.bus.(*logbus.BufferedBus); ok {
		buffered = b.Buffered()
	}
	if err != nil {
		return dashboard.StateDown, fmt.Sprintf("%v; meanwhile live log lines wait in memory (%d now), the dispatcher's lease can be neither renewed nor taken, and login limits are counted per process",
			err, buffered)
	}
	msg := "PING answered in " + took.Round(10*time.Microsecond).String()
	if buffered > 0 {
		msg += fmt.Sprintf("; %d live log lines still to send", buffered)
	}
	return dashboard.StateOK, msg
}

func (n *node) checkSecrets(ctx context.Context) (dashboard.ComponentState, string) {
	vs, ok := n.secrets.(*secrets.VaultStore)
	if !ok {
		// The encrypted file: a read of a reference no one writes reads
		// and decrypts the whole file.
		if _, err := n.secrets.Get(ctx, "status/probe"); err != nil && !errors.Is(err, secrets.ErrNotFound) {
			return dashboard.StateDown, "the encrypted secrets file cannot be read: " + err.Error()
		}
		return dashboard.StateOK, "encrypted file in the data dir"
	}
	st, err := vs.Check(ctx)
	if err != nil {
		return dashboard.StateDown, err.Error()
	}
	life := "its token does not expire"
	if st.TTL > 0 {
		life = "its token expires in " + st.TTL.Round(time.Second).String()
		if st.Renewable && st.RenewErr == nil {
			life += " and is renewed"
		}
	}
	if st.RenewErr != nil {
		return dashboard.StateDegraded, fmt.Sprintf("Vault at %s answers, but %s and renewing it failed: %v", vs.Addr(), life, st.RenewErr)
	}
	return dashboard.StateOK, fmt.Sprintf("Vault at %s answers; %s", vs.Addr(), life)
}

func (n *node) checkRouting(context.Context) (dashboard.ComponentState, string) {
	st := n.routing.Status()
	leader := n.elector.IsLeader()
	switch {
	case !st.Running && !leader:
		return dashboard.StateOK, "standby: the leading aegir server publishes the sites in Consul's catalog"
	case !st.Running:
		return dashboard.StateDegraded, "this process leads but its routing reconciler does not run (yet): enabled sites are not published in Consul's catalog"
	case st.Err != nil:
		return dashboard.StateDegraded, "sites are not all published in Consul's catalog (retrying): " + st.Err.Error()
	case st.LastPass.IsZero():
		return dashboard.StateOK, "starting: reading the sites and Consul's catalog"
	}
	return dashboard.StateOK, fmt.Sprintf("%s in Consul's catalog, as the store wants (last reconciled %s)", plural(st.Published, "site instance"), ago(st.LastPass))
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// ago says how long ago t was, to the second.
func ago(t time.Time) string {
	return time.Since(t).Round(time.Second).String() + " ago"
}

// checkNotifications reports the leader's deliveries of notifications
// (internal/notify): degraded while it cannot read the outbox; a failed
// delivery is a receiver's trouble, named but not degrading.
func (n *node) checkNotifications(context.Context) (dashboard.ComponentState, string) {
	if !n.elector.IsLeader() {
		return dashboard.StateOK, "standby: the leading aegir server delivers notifications"
	}
	return notificationsState(n.notifier.Status())
}

func notificationsState(st notify.Status) (dashboard.ComponentState, string) {
	if st.OutboxErr != nil {
		return dashboard.StateDegraded, "cannot read the notifications' outbox: " + st.OutboxErr.Error() + "; events wait in the store until it can"
	}
	msg := fmt.Sprintf("%d delivered, %d failed since this server took the lead, %d events being delivered", st.Sent, st.Failed, st.Waiting)
	if st.LastFailure != "" {
		msg += "; last failure " + ago(st.LastFailureAt) + ": " + st.LastFailure
	}
	return dashboard.StateOK, msg
}
