package dispatch

import (
	"testing"
	"time"
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
