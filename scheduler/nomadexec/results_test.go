package nomadexec

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/scheduler/runner"
)

// flakyResults fails its first `fail` reads as a Redis that does not
// answer would, then returns res.
type flakyResults struct {
	fail  atomic.Int32
	reads atomic.Int32
	res   *provision.Result
}

func (f *flakyResults) Result(ctx context.Context, taskID string) (*provision.Result, error) {
	f.reads.Add(1)
	if f.fail.Add(-1) >= 0 {
		return nil, errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")
	}
	return f.res, nil
}

func (f *flakyResults) Abandon(context.Context, string) error { return nil }

func testRun(results ResultStore, retry time.Duration) *nomadRun {
	e := &Executor{cfg: Config{Results: results, ResultRetry: retry}, log: slog.New(slog.DiscardHandler)}
	return &nomadRun{e: e, taskID: "t1", jobID: "aegir-task-web/dispatch-1", detachCh: make(chan struct{})}
}

// TestResultWaitsForRedis: the result of an ended back end is read again
// while Redis does not answer, and the task gets its real result; past
// ResultRetry it fails bus_unavailable, not "runner failed".
func TestResultWaitsForRedis(t *testing.T) {
	t.Parallel()
	ok := &provision.Result{Status: domain.TaskSucceeded, TaskID: "t1", Summary: "backed up"}
	f := &flakyResults{res: ok}
	f.fail.Store(3)
	res, err := testRun(f, 2*time.Second).result(&NomadRunError{JobID: "j", Status: "complete"})
	if err != nil || res == nil || res.Summary != "backed up" {
		t.Fatalf("result after 3 failed reads: %+v, %v", res, err)
	}

	f = &flakyResults{res: ok}
	f.fail.Store(1000)
	_, err = testRun(f, 100*time.Millisecond).result(&NomadRunError{JobID: "j", Status: "complete"})
	var fail *runner.Failure
	if !errors.As(err, &fail) || fail.Code != "bus_unavailable" || f.reads.Load() < 2 {
		t.Fatalf("result while Redis stays away (%d reads): %v", f.reads.Load(), err)
	}
}
