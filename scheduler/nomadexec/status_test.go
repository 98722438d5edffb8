package nomadexec

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/testharness"
	"github.com/aegirhq/aegir/scheduler/dispatch"
)

// A dispatched job outlives aegir: the dispatcher hands it over and
// follows it again through the executor's own methods.
var _ dispatch.Executor = (*Executor)(nil)

// TestNomadPingUnreachable: Ping of a Nomad that does not listen says
// where it tried, in time.
func TestNomadPingUnreachable(t *testing.T) {
	t.Parallel()
	addr := fmt.Sprintf("http://127.0.0.1:%d", testharness.FreePort(t))
	e, err := New(Config{Address: addr, Results: NewRedisResults(nil, ""), MaxInFlight: 3})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err = e.Ping(ctx)
	if err == nil || !strings.Contains(err.Error(), "list aegir's jobs at "+addr) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("Ping of nothing: %v", err)
	}
	if !e.CanReattach() {
		t.Error("CanReattach = false: Nomad jobs outlive aegir")
	}
	if n, max := e.InFlight(); n != 0 || max != 3 {
		t.Errorf("InFlight = %d, %d; want 0, 3", n, max)
	}
}
