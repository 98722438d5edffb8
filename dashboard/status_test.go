package dashboard

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aegirhq/aegir/dashboard/api"
)

// FakeCheck answers with a fixed state, for the status view's own tests;
// the checks of real components are tested with them (internal/app).
func FakeCheck(name string, st ComponentState, msg string) StatusCheck {
	return StatusCheck{Name: name, Check: func(context.Context) (ComponentState, string) { return st, msg }}
}

// FakeHangingCheck ignores its context and answers only when release is
// closed: a component whose client has no timeout.
func FakeHangingCheck(name string, release <-chan struct{}) StatusCheck {
	return StatusCheck{Name: name, Check: func(context.Context) (ComponentState, string) {
		<-release
		return StateOK, "late"
	}}
}

func TestStatusAPI(t *testing.T) {
	t.Parallel()
	withChecks := func(c *Config) {
		c.StatusChecks = []StatusCheck{FakeCheck("redis", StateOK, "answers PING"), FakeCheck("routing", StateDegraded, "Consul refused")}
		c.Leader = func() bool { return true }
		c.Version = "1.2.3"
	}
	runScenarios(t, []scenario{
		{name: "admin", method: "GET", url: "/api/v1/status", token: "admin", mod: withChecks, wantStatus: 200,
			wantContains: []string{`"name":"store","status":"ok","message":"a read took `, `"name":"redis","status":"ok","message":"answers PING"`,
				`"name":"routing","status":"degraded","message":"Consul refused"`, `"leader":true`, `"version":"1.2.3"`, `"checked_at":"`},
			unchanged: true},
		{name: "no other checks", method: "GET", url: "/api/v1/status", token: "admin", wantStatus: 200,
			wantContains: []string{`{"components":[{"name":"store","status":"ok"`, `"leader":false`}},
		{name: "client user", method: "GET", url: "/api/v1/status", token: "alice", mod: withChecks, wantStatus: 403, wantCode: api.CodeForbidden,
			notContains: []string{"redis", "Consul"}},
		{name: "no token", method: "GET", url: "/api/v1/status", wantStatus: 401, wantCode: api.CodeUnauthorized},
		{name: "health", method: "GET", url: "/api/v1/health", wantStatus: 200, wantContains: []string{`{"status":"ok"}`}},
	})
}

// TestStatusChecksRunAtOnceBounded: the checks run concurrently (three
// that each wait for the others finish); one that ignores its context is
// reported down after the timeout while the answer comes back; one that
// panics or answers a state that does not exist is down; the components
// keep the order of the config.
func TestStatusChecksRunAtOnceBounded(t *testing.T) {
	t.Parallel()
	var together sync.WaitGroup
	together.Add(3)
	waitForOthers := func(name string) StatusCheck {
		return StatusCheck{Name: name, Check: func(ctx context.Context) (ComponentState, string) {
			together.Done()
			done := make(chan struct{})
			go func() { together.Wait(); close(done) }()
			select {
			case <-done:
				return StateOK, "met the others"
			case <-ctx.Done():
				return StateDown, "alone: " + ctx.Err().Error()
			}
		}}
	}
	release := make(chan struct{})
	defer close(release)
	b := setup(t, func(c *Config) {
		c.StatusTimeout = 300 * time.Millisecond
		c.StatusChecks = []StatusCheck{
			waitForOthers("a"), FakeHangingCheck("hangs", release), waitForOthers("b"),
			{Name: "panics", Check: func(context.Context) (ComponentState, string) { panic("boom") }},
			FakeCheck("bogus", "fine", "a state that does not exist"),
			{Name: "honours ctx", Check: func(ctx context.Context) (ComponentState, string) {
				<-ctx.Done()
				return StateDown, "gave up: " + ctx.Err().Error()
			}},
			waitForOthers("c"),
		}
	})
	res, body := b.do("GET", "/api/v1/status", "admin", "", nil)
	if res.StatusCode != 200 {
		t.Fatalf("GET /status: %d %s", res.StatusCode, body)
	}
	var st SystemStatus
	decodeJSON(t, body, &st)
	want := []struct {
		name  string
		state ComponentState
		msg   string
	}{
		{"store", StateOK, "a read took"}, {"a", StateOK, "met the others"}, {"hangs", StateDown, "no answer within 300ms"},
		{"b", StateOK, "met the others"}, {"panics", StateDown, "the check of panics failed: boom"},
		{"bogus", StateDown, "a state that does not exist"}, {"honours ctx", StateDown, "gave up: context deadline exceeded"},
		{"c", StateOK, "met the others"},
	}
	if len(st.Components) != len(want) {
		t.Fatalf("%d components, want %d: %s", len(st.Components), len(want), body)
	}
	for i, w := range want {
		c := st.Components[i]
		if c.Name != w.name || c.Status != w.state || !strings.Contains(c.Message, w.msg) || c.CheckedAt.IsZero() {
			t.Errorf("component %d: %+v, want %s %s %q", i, c, w.name, w.state, w.msg)
		}
	}
	if !st.Down() {
		t.Error("Down() = false with components down")
	}
}

// TestOverviewSystemPanel: the overview shows admins each component with
// its state and message, and whether this process leads; client users
// do not see it.
func TestOverviewSystemPanel(t *testing.T) {
	t.Parallel()
	b := uiSetup(t, func(c *Config) {
		c.StatusChecks = []StatusCheck{FakeCheck("redis", StateDown, "redis at 127.0.0.1:6379: connection refused")}
		c.Leader = func() bool { return true }
		c.Version = "1.2.3"
	})
	_, page := loggedIn(t, b, "admin").get("/")
	for _, want := range []string{`id="system"`, "aegir 1.2.3", "this process leads", "<strong>store</strong>", `<span class="badge b-ok">ok</span>`,
		"<strong>redis</strong>", `<span class="badge b-down">down</span>`, "redis at 127.0.0.1:6379: connection refused"} {
		if !strings.Contains(page, want) {
			t.Errorf("admin's overview lacks %q", want)
		}
	}
	if _, page := loggedIn(t, b, "alice").get("/"); strings.Contains(page, `id="system"`) || strings.Contains(page, "6379") {
		t.Error("alice's overview shows the system panel")
	}
}
