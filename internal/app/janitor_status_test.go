package app

import (
	"strings"
	"testing"
	"time"

	"github.com/aegirhq/aegir/dashboard"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/scheduler/dispatch"
)

// TestJanitorState: the janitor component is ok with nothing to report or
// everything removed, and degraded, naming the task whose log says more,
// when the last report kept or failed to remove something.
func TestJanitorState(t *testing.T) {
	if st, msg := janitorState(dispatch.JanitorStatus{}); st != dashboard.StateOK || !strings.Contains(msg, "no leftovers") {
		t.Errorf("nothing yet: %s %q", st, msg)
	}
	j := dispatch.JanitorStatus{Removed: 3, Bytes: 2048, Last: provision.JanitorReport{Removed: 1}, LastTask: "t1", LastAt: time.Now()}
	if st, msg := janitorState(j); st != dashboard.StateOK || !strings.Contains(msg, "3 leftovers of dead tasks removed (2048 bytes)") {
		t.Errorf("removed: %s %q", st, msg)
	}
	j.Last.Kept = 1
	if st, msg := janitorState(j); st != dashboard.StateDegraded || !strings.Contains(msg, "aegir task logs t1") {
		t.Errorf("kept: %s %q", st, msg)
	}
}
