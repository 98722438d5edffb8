package dispatch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/logbus"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/scheduler/internal/fakebackend"
	"github.com/aegirhq/aegir/scheduler/localexec"
	"github.com/aegirhq/aegir/scheduler/runner"
)

func TestDispatchRunsTaskAndAppliesResult(t *testing.T) {
	t.Parallel()
	b := setup(t, fakeOK)
	site, task := b.newSite(t)
	b.start(t)
	done := b.waitDone(t, task.ID)
	if done.Status != domain.TaskSucceeded || done.Summary != "fake install" {
		t.Fatalf("task = %s %q (%s)", done.Status, done.Summary, done.Explanation)
	}
	if !strings.HasPrefix(done.Runner, "local:") || done.Fence == 0 || done.StartedAt == nil || done.FinishedAt == nil {
		t.Errorf("runner %q fence %d started %v finished %v", done.Runner, done.Fence, done.StartedAt, done.FinishedAt)
	}
	if s := b.site(t, site.ID); s.Status != domain.SiteEnabled {
		t.Errorf("site is %s, want enabled", s.Status)
	}
	// The log was archived and the live log deleted.
	if _, _, err := b.bus.Read(context.Background(), task.ID, "", 0, 0); !errors.Is(err, logbus.ErrNoLog) {
		t.Errorf("live log still there: %v", err)
	}
	want := []string{
		"info aegir: running install on " + site.Domain,
		"info start install",
		"info a raw line that is not JSON",
		"info done",
		"info aegir: task succeeded: fake install",
	}
	if got := b.logText(t, task.ID); !slices.Equal(got, want) {
		t.Errorf("log =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestDispatchStreamsLogWhileRunning(t *testing.T) {
	t.Parallel()
	b := setup(t, fakeGate)
	_, task := b.newSite(t)
	b.start(t)
	fakebackend.WaitForLine(t, b.bus, task.ID, "waiting for release")
	running := b.waitTask(t, task.ID, func(t *domain.Task) bool { return t.Runner != "" })
	if running.Status != domain.TaskRunning {
		t.Fatalf("task is %s while its back end waits", running.Status)
	}
	// Readers of the API see the live lines, in order, before the end.
	lines, done, err := b.d.TaskLogs().Read(context.Background(), task.ID, "", 0, 0)
	must(t, err)
	if done || len(lines) != 4 || lines[1].Msg != "start install" || lines[3].Msg != "waiting for release" {
		t.Fatalf("live log while running (done %v): %+v", done, lines)
	}
	b.release(t)
	if got := b.waitDone(t, task.ID); got.Status != domain.TaskSucceeded {
		t.Fatalf("task %s: %s", got.Status, got.Explanation)
	}
	// Resuming after the last live line reads the rest from the archive.
	rest, done, err := b.d.TaskLogs().Read(context.Background(), task.ID, lines[3].ID, 0, time.Second)
	must(t, err)
	if !done || len(rest) != 2 || rest[0].Msg != "done" {
		t.Fatalf("rest of log (done %v): %+v", done, rest)
	}
}

func TestDispatchOneTaskPerSiteSitesInParallel(t *testing.T) {
	t.Parallel()
	b := setup(t, fakeGate)
	siteA, installA := b.newSite(t)
	siteB, installB := b.newSite(t)
	deleteA, err := b.st.RequestSiteTask(context.Background(), siteA.ID, domain.TaskDelete, nil, "test")
	must(t, err)
	b.start(t)
	b.waitStarted(t, installA.ID)
	b.waitStarted(t, installB.ID) // two sites at once
	// The dispatcher decides in one pass; give it a moment to go wrong.
	time.Sleep(100 * time.Millisecond)
	if b.started(deleteA.ID) {
		t.Fatal("a second task of the same site started while the first ran")
	}
	if got, _ := b.st.GetTask(context.Background(), deleteA.ID); got.Status != domain.TaskQueued {
		t.Fatalf("second task of site A is %s, want queued", got.Status)
	}
	b.release(t)
	ia, del := b.waitDone(t, installA.ID), b.waitDone(t, deleteA.ID)
	b.waitDone(t, installB.ID)
	if del.Status != domain.TaskSucceeded || del.StartedAt.Before(*ia.FinishedAt) {
		t.Errorf("delete %s started %v, install finished %v", del.Status, del.StartedAt, ia.FinishedAt)
	}
	if s := b.site(t, siteA.ID); s.Status != domain.SiteDeleted {
		t.Errorf("site A is %s, want deleted", s.Status)
	}
	if s := b.site(t, siteB.ID); s.Status != domain.SiteEnabled {
		t.Errorf("site B is %s, want enabled", s.Status)
	}
}

func TestDispatchMaxParallel(t *testing.T) {
	t.Parallel()
	b := setup(t, fakeGate, func(c *Config) { c.MaxParallel = 1 })
	_, first := b.newSite(t)
	_, second := b.newSite(t)
	b.start(t)
	b.waitStarted(t, first.ID)
	time.Sleep(100 * time.Millisecond)
	if b.started(second.ID) {
		t.Fatal("two tasks ran with MaxParallel 1")
	}
	b.release(t)
	b.waitDone(t, first.ID)
	if got := b.waitDone(t, second.ID); got.Status != domain.TaskSucceeded {
		t.Fatalf("second task %s", got.Status)
	}
}

func TestCancelRunningTaskKillsProcessGroup(t *testing.T) {
	t.Parallel()
	b := setup(t, fakeSpawn)
	site, task := b.newSite(t)
	b.start(t)
	l := fakebackend.WaitForLine(t, b.bus, task.ID, "child pid ")
	var child int
	_, err := fmt.Sscanf(l.Msg, "child pid %d", &child)
	must(t, err)
	must(t, b.d.Cancel(context.Background(), task.ID, "alice"))
	done := b.waitDone(t, task.ID)
	if done.Status != domain.TaskCancelled || !strings.Contains(done.Explanation, "Cancelled by alice while it ran") {
		t.Fatalf("task %s: %s", done.Status, done.Explanation)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !procGone(child) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(child, syscall.SIGKILL)
			t.Fatal("the back end's child survived the cancel")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if s := b.site(t, site.ID); s.Status != domain.SitePending {
		t.Errorf("site is %s after a cancelled install, want pending", s.Status)
	}
	if err := b.d.Cancel(context.Background(), task.ID, "alice"); !errors.Is(err, domain.ErrConflict) {
		t.Errorf("cancel of a finished task: %v", err)
	}
}

func TestCancelQueuedTask(t *testing.T) {
	t.Parallel()
	b := setup(t, fakeOK)
	_, task := b.newSite(t)
	must(t, b.d.Cancel(context.Background(), task.ID, "bob"))
	got, err := b.st.GetTask(context.Background(), task.ID)
	must(t, err)
	if got.Status != domain.TaskCancelled || !strings.Contains(got.Explanation, "bob") {
		t.Fatalf("task %s: %s", got.Status, got.Explanation)
	}
	// Its log reads as finished and empty.
	lines, done, err := b.d.TaskLogs().Read(context.Background(), task.ID, "", 0, 0)
	if err != nil || !done || len(lines) != 0 {
		t.Errorf("log of a task cancelled while queued: %v %v %v", lines, done, err)
	}
	if _, _, err := b.d.TaskLogs().Read(context.Background(), domain.NewID(), "", 0, 0); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("log of an unknown task: %v", err)
	}
}

func TestTaskTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t, fakeHang, func(c *Config) { c.TaskTimeout = 300 * time.Millisecond })
	_, task := b.newSite(t)
	b.start(t)
	done := b.waitDone(t, task.ID)
	if done.Status != domain.TaskFailed || done.ErrorCode != "timeout" ||
		!strings.Contains(done.Explanation, "took longer than the timeout (300ms); the back end was stopped") {
		t.Fatalf("task %s %s: %s", done.Status, done.ErrorCode, done.Explanation)
	}
}

func TestRunnerKilledFailsTask(t *testing.T) {
	t.Parallel()
	b := setup(t, fakeGate)
	_, task := b.newSite(t)
	b.start(t)
	fakebackend.WaitForLine(t, b.bus, task.ID, "waiting for release")
	running := b.waitTask(t, task.ID, func(t *domain.Task) bool { return t.Runner != "" })
	pid := localRunnerPID(t, running.Runner)
	must(t, syscall.Kill(pid, syscall.SIGKILL)) // fault injection: the runner dies
	done := b.waitDone(t, task.ID)
	for _, want := range []string{"The back end was killed by signal killed without a result", "last log lines:", "waiting for release"} {
		if !strings.Contains(done.Explanation, want) {
			t.Errorf("explanation %q lacks %q", done.Explanation, want)
		}
	}
	if done.Status != domain.TaskFailed || done.ErrorCode != "runner_failed" || done.FixHint == "" {
		t.Errorf("task %s %s hint %q", done.Status, done.ErrorCode, done.FixHint)
	}
}

func TestRecoverFailsTasksWhoseRunnerIsGone(t *testing.T) {
	t.Parallel()
	b := setup(t, fakeGate)
	ctx := context.Background()
	_, gone := b.newSite(t)
	_, alive := b.newSite(t)
	// A previous aegir process started both; one runner died with it.
	goneTask := gone
	must(t, b.st.StartTask(ctx, goneTask, fmt.Sprintf("local:%s:%d:1", hostname(t), 1<<22), 7))
	_, _ = b.bus.Append(ctx, gone.ID, logbus.Line{Msg: "half way"})
	pctx, err := EncodeContext(mustContext(t, b, *alive))
	must(t, err)
	run, err := b.exec.Start(ctx, *alive, pctx)
	must(t, err)
	must(t, b.st.StartTask(ctx, alive, run.Runner(), 8))

	must(t, b.d.Recover(ctx))
	got := b.waitDone(t, gone.ID)
	want := "The runner of this task (" + goneTask.Runner + ") is gone — the aegir process or machine restarted while it ran; nothing was applied."
	if got.Status != domain.TaskFailed || got.Explanation != want || got.FixHint != "Check the site and retry the task." {
		t.Fatalf("task %s: %q hint %q", got.Status, got.Explanation, got.FixHint)
	}
	if log := b.logText(t, gone.ID); len(log) != 2 || log[0] != "info half way" {
		t.Errorf("archived log of the failed task: %q", log)
	}
	if still, _ := b.st.GetTask(ctx, alive.ID); still.Status != domain.TaskRunning {
		t.Fatalf("task with a live runner is %s", still.Status)
	}
	// Once that runner ends too, the next pass fails its task.
	b.release(t)
	_, _ = run.Wait()
	must(t, b.d.Recover(ctx))
	if got := b.waitDone(t, alive.ID); got.ErrorCode != "runner_gone" {
		t.Errorf("task %s %s", got.Status, got.ErrorCode)
	}
}

func mustContext(t testing.TB, b *bundle, task domain.Task) *provision.Context {
	t.Helper()
	pc, err := BuildContext(context.Background(), b.st, task, b.d.cfg.Env)
	must(t, err)
	return pc
}

func TestResultWithIllegalChangeStillFinishes(t *testing.T) {
	t.Parallel()
	b := setup(t, fakeIllegal)
	site, task := b.newSite(t)
	b.start(t)
	done := b.waitDone(t, task.ID)
	if done.Status != domain.TaskFailed || done.ErrorCode != "result_not_applied" {
		t.Fatalf("task %s %s: %s", done.Status, done.ErrorCode, done.Explanation)
	}
	for _, want := range []string{"reported the task succeeded (fake install)", "could not be applied", `site cannot go from "pending" to "disabled"`} {
		if !strings.Contains(done.Explanation, want) {
			t.Errorf("explanation %q lacks %q", done.Explanation, want)
		}
	}
	if s := b.site(t, site.ID); s.Status != domain.SitePending {
		t.Errorf("site is %s; nothing should have been applied", s.Status)
	}
}

func TestContextFailureFailsTaskWithoutRunning(t *testing.T) {
	t.Parallel()
	b := setup(t, fakeOK)
	site, install := b.newSite(t)
	b.start(t)
	b.waitDone(t, install.ID)
	missing := domain.NewID()
	task, err := b.st.RequestSiteTask(context.Background(), site.ID, domain.TaskMigrate, map[string]string{"platform_id": missing}, "test")
	must(t, err)
	done := b.waitDone(t, task.ID)
	if done.Status != domain.TaskFailed || done.ErrorCode != "missing_record" || done.Runner != "" ||
		!strings.Contains(done.Explanation, "Platform "+missing+" of site "+site.Domain+" does not exist") || done.FixHint == "" {
		t.Fatalf("task %s %s runner %q: %s (%s)", done.Status, done.ErrorCode, done.Runner, done.Explanation, done.FixHint)
	}
	if _, err := os.Stat(filepath.Join(b.dir, task.ID+".start")); err == nil {
		t.Error("the back end ran")
	}
}

// A dispatcher whose context ends stops its local back ends, and Run
// returns only after their tasks are finished, saying why by the context's
// cause: a stop (aegir_stopped); a lost leadership, Redis down
// (leadership_lost); a leader stepping down for an older server in a
// rolling upgrade, as on a stop (aegir_stopped saying it stepped down, not
// blaming Redis).
func TestStopEndsRunningTasks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		cause         error
		code          string
		says, notSays string
	}{
		{"shutdown", context.Canceled, "aegir_stopped", "", ""},
		{"leadership lost", ErrLeadershipLost, "leadership_lost", "Redis", ""},
		{"stepped down", fmt.Errorf("%w: aegir server x (release 1.0.0, schema 1) is live and older", ErrSteppedDown),
			"aegir_stopped", "stepped down", "Redis"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, fakeGate)
			_, task := b.newSite(t)
			ctx, cancel := context.WithCancelCause(context.Background())
			stopped := make(chan error)
			go func() { stopped <- b.d.Run(ctx) }()
			b.waitStarted(t, task.ID)
			cancel(tc.cause)
			select {
			case err := <-stopped:
				must(t, err)
			case <-time.After(30 * time.Second):
				t.Fatal("Run did not return after its context ended")
			}
			// Run returned only after the task was finished: nothing stays running.
			got, err := b.st.GetTask(context.Background(), task.ID)
			must(t, err)
			if got.Status != domain.TaskFailed || got.ErrorCode != tc.code ||
				!strings.Contains(got.Explanation, tc.says) || (tc.notSays != "" && strings.Contains(got.Explanation, tc.notSays)) {
				t.Fatalf("task %s %s: %s", got.Status, got.ErrorCode, got.Explanation)
			}
		})
	}
}

// With an executor whose runners outlive aegir (Nomad's dispatched jobs),
// stopping the dispatcher does not stop a running back end: the task stays
// running with its runner recorded and its lock released, for the next
// dispatcher to follow (Recover), so restarting or upgrading aegir does not
// kill a long backup.
func TestShutdownHandsRunningTasksOver(t *testing.T) {
	t.Parallel()
	fake := &FakeReattacher{}
	b := setup(t, fakeGate, func(c *Config) {
		fake.Executor = c.Executor.(*localexec.Executor)
		c.Executor = fake
	})
	fake.b = b
	_, task := b.newSite(t)
	t.Cleanup(func() { b.releaseHandedOver(t, task.ID) })
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error)
	go func() { stopped <- b.d.Run(ctx) }()
	b.waitStarted(t, task.ID)
	b.waitTask(t, task.ID, func(x *domain.Task) bool { return x.Runner != "" })
	cancel()
	select {
	case err := <-stopped:
		must(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	got, err := b.st.GetTask(context.Background(), task.ID)
	must(t, err)
	if got.Status != domain.TaskRunning || got.Runner == "" {
		t.Fatalf("task %s, runner %q: want running with its runner recorded", got.Status, got.Runner)
	}
	lease, err := b.locker.TryAcquire(context.Background(), LockName(*got), time.Minute)
	if err != nil {
		t.Fatalf("the task's lock was not released for the next dispatcher: %v", err)
	}
	must(t, lease.Release(context.Background()))
	want := "info aegir: this aegir process is stopping; the back end keeps running and the next dispatcher follows it (" + got.Runner + ")"
	if log := b.logText(t, task.ID); !slices.Contains(log, want) {
		t.Errorf("log lacks the hand-over note %q: %q", want, log)
	}
}

// A stop that comes the moment the back end has started, before the
// dispatcher recorded its runner (the store refuses the cancelled
// context): the back end is still handed over, not stopped, and the log
// says so, naming the runner for the next dispatcher (which finds an
// unrecorded runner itself: TestRecoverFollowsUnrecordedRunnerAgain).
func TestStopAsTheBackEndStartsHandsItOver(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fake := &FaultStopOnStart{FakeReattacher: &FakeReattacher{}, stop: cancel}
	b := setup(t, fakeGate, func(c *Config) {
		fake.Executor = c.Executor.(*localexec.Executor)
		c.Executor = fake
	})
	fake.b = b
	_, task := b.newSite(t)
	t.Cleanup(func() { b.releaseHandedOver(t, task.ID) })
	stopped := make(chan error)
	go func() { stopped <- b.d.Run(ctx) }()
	select {
	case err := <-stopped:
		must(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	b.waitStarted(t, task.ID) // the back end runs on
	got, err := b.st.GetTask(context.Background(), task.ID)
	must(t, err)
	if got.Status != domain.TaskRunning {
		t.Fatalf("task %s %s: %s; want running, handed over", got.Status, got.ErrorCode, got.Explanation)
	}
	lease, err := b.locker.TryAcquire(context.Background(), LockName(*got), time.Minute)
	if err != nil {
		t.Fatalf("the task's lock was not released for the next dispatcher: %v", err)
	}
	must(t, lease.Release(context.Background()))
	const want = "info aegir: this aegir process is stopping; the back end keeps running and the next dispatcher follows it (local:"
	log := b.logText(t, task.ID)
	if !slices.ContainsFunc(log, func(l string) bool { return strings.HasPrefix(l, want) }) {
		t.Errorf("log lacks the hand-over note %q: %q", want, log)
	}
}

// FaultStopOnStart is fault injection: a FakeReattacher whose Start ends
// the dispatcher's context (stop) as soon as the back end has started, as
// a SIGTERM arriving between the start and the runner's record would.
type FaultStopOnStart struct {
	*FakeReattacher
	stop context.CancelFunc
}

func (f *FaultStopOnStart) Start(ctx context.Context, task domain.Task, pctx []byte) (runner.Run, error) {
	run, err := f.FakeReattacher.Start(ctx, task, pctx)
	f.stop()
	return run, err
}

// FakeReattacher is the LocalExecutor posing as an executor whose runners
// outlive aegir, as Nomad's dispatched jobs do (fault injection for the
// dispatcher's recovery): FindRunner answers found, and Attach starts the
// FakeBackend anew as the runner "followed again". Handles that do not
// start with "fake:" are not its own.
type FakeReattacher struct {
	*localexec.Executor
	b     *bundle
	found string

	mu              sync.Mutex
	finds, attaches []string // task ids asked about
}

var _ Executor = (*FakeReattacher)(nil)

func (f *FakeReattacher) CanReattach() bool { return true }

func (f *FakeReattacher) FindRunner(ctx context.Context, task domain.Task) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.finds = append(f.finds, task.ID)
	return f.found, nil
}

func (f *FakeReattacher) Attach(ctx context.Context, task domain.Task, handle string) (runner.Run, error) {
	if !strings.HasPrefix(handle, "fake:") {
		return nil, fmt.Errorf("runner %q: %w", handle, runner.ErrForeignRunner)
	}
	f.mu.Lock()
	f.attaches = append(f.attaches, task.ID)
	f.mu.Unlock()
	pc, err := BuildContext(ctx, f.b.st, task, f.b.d.cfg.Env)
	if err != nil {
		return nil, err
	}
	pctx, err := EncodeContext(pc)
	if err != nil {
		return nil, err
	}
	return f.Executor.Start(ctx, task, pctx)
}

func (f *FakeReattacher) calls() (finds, attaches int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.finds), len(f.attaches)
}

func setupReattacher(t *testing.T, found string) (*bundle, *FakeReattacher) {
	t.Helper()
	fake := &FakeReattacher{found: found}
	b := setup(t, fakeOK, func(c *Config) {
		fake.Executor = c.Executor.(*localexec.Executor)
		c.Executor = fake
	})
	fake.b = b
	return b, fake
}

// A dispatcher that stopped between starting a task and recording its
// runner, with an executor whose runners outlive it, and nothing was
// dispatched: Recover asks the executor, finds nothing and fails the task
// saying so. A runner the executor cannot follow (a local one) is judged
// by Alive as before.
func TestRecoverFailsTaskWhoseRunnerWasNeverDispatched(t *testing.T) {
	t.Parallel()
	b, fake := setupReattacher(t, "")
	ctx := context.Background()
	_, unrecorded := b.newSite(t)
	_, local := b.newSite(t)
	must(t, b.st.StartTask(ctx, unrecorded, "", 7))
	must(t, b.st.StartTask(ctx, local, fmt.Sprintf("local:%s:%d:1", hostname(t), 1<<22), 8))

	// The periodic reap leaves a task without a runner alone for a while:
	// its dispatcher may be about to record it.
	must(t, b.d.reap(ctx, false))
	if finds, _ := fake.calls(); finds != 0 {
		t.Fatalf("the periodic reap looked for the runner of a task started just now")
	}
	must(t, b.d.Recover(ctx))
	got := b.waitDone(t, unrecorded.ID)
	if got.Status != domain.TaskFailed || got.ErrorCode != "runner_gone" || got.Runner != "" ||
		!strings.Contains(got.Explanation, "Nomad has no job dispatched for the task") || got.FixHint == "" {
		t.Errorf("task %s %s runner %q: %s (%s)", got.Status, got.ErrorCode, got.Runner, got.Explanation, got.FixHint)
	}
	if got := b.waitDone(t, local.ID); got.Status != domain.TaskFailed || got.ErrorCode != "runner_gone" || !strings.Contains(got.Explanation, "(local:") {
		t.Errorf("task with a dead local runner: %s %s: %s", got.Status, got.ErrorCode, got.Explanation)
	}
	if finds, attaches := fake.calls(); finds != 1 || attaches != 0 {
		t.Errorf("FindRunner called %d times, Attach %d, want 1 and 0", finds, attaches)
	}
}

// The runner of the unrecorded task exists: Recover records it
// (check-and-set), follows it under the target's lock — not while another
// holder still has the lock — and the task ends with its result.
func TestRecoverFollowsUnrecordedRunnerAgain(t *testing.T) {
	t.Parallel()
	b, fake := setupReattacher(t, "fake:job-1")
	ctx := context.Background()
	site, task := b.newSite(t)
	must(t, b.st.StartTask(ctx, task, "", 7))
	held, err := b.locker.TryAcquire(ctx, LockName(*task), time.Minute)
	must(t, err)

	must(t, b.d.Recover(ctx))
	got, err := b.st.GetTask(ctx, task.ID)
	must(t, err)
	if got.Status != domain.TaskRunning || got.Runner != "fake:job-1" {
		t.Fatalf("while its lock is held elsewhere the task is %s with runner %q; want running, runner recorded", got.Status, got.Runner)
	}
	if _, attaches := fake.calls(); attaches != 0 {
		t.Fatal("followed a runner while another holder has the task's lock")
	}
	must(t, held.Release(ctx))
	must(t, b.d.Recover(ctx))
	done := b.waitDone(t, task.ID)
	if done.Status != domain.TaskSucceeded || done.Summary != "fake install" || done.Runner != "fake:job-1" {
		t.Fatalf("task %s %q runner %q: %s", done.Status, done.Summary, done.Runner, done.Explanation)
	}
	if s := b.site(t, site.ID); s.Status != domain.SiteEnabled {
		t.Errorf("site is %s: the result was not applied", s.Status)
	}
	if finds, attaches := fake.calls(); finds != 1 || attaches != 1 {
		t.Errorf("FindRunner called %d times, Attach %d, want 1 and 1", finds, attaches)
	}
	if log := b.logText(t, task.ID); !slices.Contains(log, "info aegir: following the back end an earlier aegir process started (fake:job-1)") {
		t.Errorf("log lacks the follow-again note: %q", log)
	}
}

// A leader killed while its task ran holds the task's lock until the
// lock's TTL runs out: the next leader follows the runner again soon after
// that, not a ReapInterval later (before: a minute after the kill with a
// lease of seconds).
func TestRunFollowsAgainSoonAfterTheLockRunsOut(t *testing.T) {
	t.Parallel()
	fake := &FakeReattacher{found: "fake:job-1"}
	b := setup(t, fakeOK, func(c *Config) {
		fake.Executor = c.Executor.(*localexec.Executor)
		c.Executor = fake
		c.ReapInterval = time.Hour
		c.LockTTL = 2 * time.Second
	})
	fake.b = b
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, task := b.newSite(t)
	must(t, b.st.StartTask(ctx, task, "", 7))
	// The dead leader's lock, freed 2s later as when its TTL runs out.
	held, err := b.locker.TryAcquire(ctx, LockName(*task), 2*time.Second)
	must(t, err)
	go func() { _ = b.d.Run(ctx) }()
	time.Sleep(2 * time.Second)
	must(t, held.Release(ctx))
	start := time.Now()
	done := b.waitDone(t, task.ID)
	if done.Status != domain.TaskSucceeded || done.Runner != "fake:job-1" {
		t.Fatalf("task %s runner %q: %s", done.Status, done.Runner, done.Explanation)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("followed again %s after the lock ran out; want within seconds", took)
	}
}

// A task's lock lost (Redis did not answer its renewals) while its runner
// outlives aegir (Nomad): the back end is handed over, not stopped and
// failed lock_lost as a local one is, and the dispatcher looks for it
// again soon. (Before, the lock's loss stopped the Nomad job of a backup
// doing its work.) The fake's runner is a local process, which it cannot
// follow again, so the task's end is the fault suite's to check
// (TestServerFaults/redis-down-30s).
func TestLostLockHandsTheRunnerOver(t *testing.T) {
	t.Parallel()
	fake := &FakeReattacher{}
	b := setup(t, fakeGate, func(c *Config) {
		fake.Executor = c.Executor.(*localexec.Executor)
		c.Executor = fake
		c.ReapInterval = time.Hour
	})
	fake.b = b
	_, task := b.newSite(t)
	t.Cleanup(func() { b.releaseHandedOver(t, task.ID) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = b.d.Run(ctx) }()
	b.waitStarted(t, task.ID)
	running := b.waitTask(t, task.ID, func(x *domain.Task) bool { return x.Runner != "" })
	if !b.locker.Revoke(LockName(*running)) {
		t.Fatal("the task's lock was not held")
	}
	want := "info aegir: this aegir process lost the task's lock; the back end keeps running and the next dispatcher follows it (" + running.Runner + ")"
	for deadline := time.Now().Add(10 * time.Second); !slices.Contains(b.logText(t, task.ID), want); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("log lacks the hand-over note %q: %q", want, b.logText(t, task.ID))
		}
	}
	got, err := b.st.GetTask(ctx, task.ID)
	must(t, err)
	if got.Status != domain.TaskRunning {
		t.Fatalf("after the lost lock the task is %s %s: %s; want running, handed over", got.Status, got.ErrorCode, got.Explanation)
	}
}
