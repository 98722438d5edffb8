package api

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

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
