package localexec

import (
	"context"
	"errors"
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/logbus"
	"github.com/aegirhq/aegir/scheduler/dispatch"
	"github.com/aegirhq/aegir/scheduler/runner"
)

var _ dispatch.Executor = (*Executor)(nil)

// TestLocalCannotReattach: a local back end dies with aegir, so the
// executor says it cannot follow one again, and refuses every handle.
func TestLocalCannotReattach(t *testing.T) {
	t.Parallel()
	e := fakeExecutor(t, logbus.NewMemory(nil), fakeOK, t.TempDir())
	if e.CanReattach() {
		t.Fatal("CanReattach = true for local back ends")
	}
	task := domain.Task{ID: domain.NewID()}
	if h, err := e.FindRunner(context.Background(), task); h != "" || err != nil {
		t.Fatalf("FindRunner = %q, %v; want nothing", h, err)
	}
	if _, err := e.Attach(context.Background(), task, "local:h:1:1"); !errors.Is(err, runner.ErrForeignRunner) {
		t.Fatalf("Attach: %v, want ErrForeignRunner", err)
	}
}
