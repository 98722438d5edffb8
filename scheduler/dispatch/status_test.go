package dispatch

import (
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/provision"
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

// TestDispatcherJanitorStatus: the janitor reports of results add up in
// Status, the last one kept, and a pass does not forget them.
func TestDispatcherJanitorStatus(t *testing.T) {
	t.Parallel()
	b := setup(t, fakeOK)
	b.d.janitorSeen("t1", &provision.Result{})
	if st := b.d.Status(); st.Janitor != (JanitorStatus{}) {
		t.Fatalf("a result without a report counted: %+v", st.Janitor)
	}
	b.d.janitorSeen("t1", &provision.Result{Janitor: &provision.JanitorReport{Removed: 2, Bytes: 100}})
	b.d.janitorSeen("t2", &provision.Result{Janitor: &provision.JanitorReport{Removed: 1, Bytes: 5, Kept: 1}})
	b.d.mu.Lock()
	b.d.passSeen(nil, nil)
	b.d.mu.Unlock()
	j := b.d.Status().Janitor
	if j.Removed != 3 || j.Bytes != 105 || j.LastTask != "t2" || j.Last.Kept != 1 || j.LastAt.IsZero() {
		t.Errorf("janitor status %+v", j)
	}
}
