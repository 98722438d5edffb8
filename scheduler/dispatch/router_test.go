package dispatch

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
)

// faultyRouter is a fault-injecting Router: its catalog keeps routing
// every site to its old place until letGo is set. (TestServerMigrateBehindTraefik
// in internal/app runs the real one, Consul's catalog with Traefik.)
type faultyRouter struct {
	letGo atomic.Bool
	asked atomic.Int64
}

func (r *faultyRouter) Routes(context.Context, string, string, string) (bool, error) {
	r.asked.Add(1)
	return !r.letGo.Load(), nil
}

// TestReleaseWaitsForRouter: a release-old-place task starts only once the
// router has let the old place go and the grace has passed, and fails
// without running, the old place kept, when the router never does.
func TestReleaseWaitsForRouter(t *testing.T) {
	t.Parallel()
	router := &faultyRouter{}
	const grace = 300 * time.Millisecond
	b := setup(t, fakeOK, func(c *Config) {
		c.Router, c.RouterGrace, c.RouterWait, c.RetryInterval = router, grace, 2*time.Second, 50*time.Millisecond
	})
	if !b.d.cfg.Env.ReleaseLater {
		t.Error("with a router, the back ends are not told to leave the old place (Env.ReleaseLater)")
	}
	ctx := context.Background()
	site, install := b.newSite(t)
	b.start(t)
	if done := b.waitDone(t, install.ID); done.Status != domain.TaskSucceeded {
		t.Fatalf("install: %s %s", done.Status, done.Explanation)
	}
	release := func() *domain.Task {
		task, err := b.st.RequestSiteTask(ctx, site.ID, domain.TaskReleaseOldPlace,
			map[string]string{"domain": "old-" + site.Domain, "platform_id": b.platform.ID, "db_server_id": b.server.ID}, "test")
		must(t, err)
		return task
	}

	// The router never lets go: the task fails after RouterWait, never
	// started, and says the old place was kept.
	stuck := b.waitDone(t, release().ID)
	if stuck.Status != domain.TaskFailed || stuck.ErrorCode != "router_still_routes" || stuck.Runner != "" ||
		!strings.Contains(stuck.Explanation, "old place there was kept") {
		t.Fatalf("release with a router that never lets go: %s %s runner %q: %s", stuck.Status, stuck.ErrorCode, stuck.Runner, stuck.Explanation)
	}

	// The router lets go after a while: the task runs, RouterGrace later.
	task := release()
	time.Sleep(500 * time.Millisecond)
	if tk, _ := b.st.GetTask(ctx, task.ID); tk.Status != domain.TaskQueued {
		t.Fatalf("release started while the router still routes to the old place: %s", tk.Status)
	}
	let := time.Now()
	router.letGo.Store(true)
	done := b.waitDone(t, task.ID)
	if done.Status != domain.TaskSucceeded || done.StartedAt == nil {
		t.Fatalf("release after the router let go: %s %s", done.Status, done.Explanation)
	}
	// The store keeps times to the millisecond (Store.now truncates), so
	// a start exactly at the grace can read up to 1 ms before it.
	if waited := done.StartedAt.Sub(let); waited < grace-time.Millisecond {
		t.Errorf("release started %s after the router let go, before the grace of %s", waited, grace)
	}
}
