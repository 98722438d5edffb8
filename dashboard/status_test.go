package dashboard

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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
		{name: "client user", method: "GET", url: "/api/v1/status", token: "alice", mod: withChecks, wantStatus: 403, wantCode: CodeForbidden,
			notContains: []string{"redis", "Consul"}},
		{name: "no token", method: "GET", url: "/api/v1/status", wantStatus: 401, wantCode: CodeUnauthorized},
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

// TestHealthAnswers503WhenTheStoreIsGone: /health reads the store, at
// most once a second however many probes come, and answers 503
// unavailable, without the cause, once the store cannot be read.
func TestHealthAnswers503WhenTheStoreIsGone(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var pings atomic.Int64
	ping := b.srv.healthCheck.ping
	b.srv.healthCheck.ping = func(ctx context.Context) error { pings.Add(1); return ping(ctx) }
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if res, body := b.do("GET", "/api/v1/health", "", "", nil); res.StatusCode != 200 {
				t.Errorf("health: %d %s", res.StatusCode, body)
			}
		})
	}
	wg.Wait()
	if n := pings.Load(); n != 1 {
		t.Errorf("20 probes within a second read the store %d times, want 1", n)
	}

	if err := b.st.KV().Close(); err != nil {
		t.Fatal(err)
	}
	b.srv.healthCheck.mu.Lock()
	b.srv.healthCheck.at = time.Time{} // as if the second had passed
	b.srv.healthCheck.mu.Unlock()
	res, body := b.do("GET", "/api/v1/health", "", "", nil)
	var eb ErrorBody
	decodeJSON(t, body, &eb)
	if res.StatusCode != 503 || eb.Error.Code != CodeUnavailable || !strings.Contains(eb.Error.Message, "cannot reach its store") {
		t.Fatalf("health with the store closed: %d %s", res.StatusCode, body)
	}
	if err := b.srv.healthCheck.err; err == nil || strings.Contains(string(body), err.Error()) {
		t.Errorf("the 503 tells an anonymous caller the cause (%v): %s", err, body)
	}

	// The status view says why (it needs no store read to be shown to
	// an admin whose token was just checked).
	st := b.srv.status.check(context.Background())
	if c := st.Components[0]; c.Name != "store" || c.Status != StateDown || !strings.Contains(c.Message, "store is closed") {
		t.Errorf("store component with the store closed: %+v", c)
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

// TestStatusRecentSharesOneRound: overviews opened within the age share
// one round of checks.
func TestStatusRecentSharesOneRound(t *testing.T) {
	t.Parallel()
	var rounds atomic.Int64
	b := setup(t, func(c *Config) {
		c.StatusChecks = []StatusCheck{{Name: "counted", Check: func(context.Context) (ComponentState, string) {
			rounds.Add(1)
			return StateOK, ""
		}}}
	})
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { b.srv.status.recent(context.Background(), time.Minute) })
	}
	wg.Wait()
	if n := rounds.Load(); n != 1 {
		t.Errorf("10 overviews ran %d rounds of checks, want 1", n)
	}
	b.srv.status.recent(context.Background(), 0)
	if n := rounds.Load(); n != 2 {
		t.Errorf("a status older than the age was reused (%d rounds)", n)
	}
}
