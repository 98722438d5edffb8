package scheduler

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/testharness"
)

// TestDispatcherStatus: Status counts the tasks running here and those a
// pass left queued, and when it last read the queue.
func TestDispatcherStatus(t *testing.T) {
	t.Parallel()
	b := setup(t, fakeGate, func(c *Config) { c.MaxParallel = 1 })
	if st := b.d.Status(); st.Running != 0 || st.Queued != 0 || !st.LastPass.IsZero() || st.MaxParallel != 1 {
		t.Fatalf("status before Run: %+v", st)
	}
	_, first := b.newSite(t)
	_, second := b.newSite(t)
	b.start(t)
	b.waitStarted(t, first.ID)
	waitStatus(t, b.d, func(st DispatcherStatus) bool {
		return st.Running == 1 && st.Queued == 1 && !st.LastPass.IsZero() && st.Err == nil
	})
	b.release(t)
	b.waitDone(t, first.ID)
	b.waitDone(t, second.ID)
	waitStatus(t, b.d, func(st DispatcherStatus) bool { return st.Running == 0 && st.Queued == 0 })
}

func waitStatus(t *testing.T, d *Dispatcher, ok func(DispatcherStatus) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for st := d.Status(); !ok(st); st = d.Status() {
		if time.Now().After(deadline) {
			t.Fatalf("dispatcher status %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestNomadPingUnreachable: Ping of a Nomad that does not listen says
// where it tried, in time.
func TestNomadPingUnreachable(t *testing.T) {
	t.Parallel()
	addr := fmt.Sprintf("http://127.0.0.1:%d", testharness.FreePort(t))
	e, err := NewNomadExecutor(NomadConfig{Address: addr, Results: NewRedisResults(nil, ""), MaxInFlight: 3})
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err = e.Ping(ctx)
	if err == nil || !strings.Contains(err.Error(), "list aegir's jobs at "+addr) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("Ping of nothing: %v", err)
	}
	if n, max := e.InFlight(); n != 0 || max != 3 {
		t.Errorf("InFlight = %d, %d; want 0, 3", n, max)
	}
}
