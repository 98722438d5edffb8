package dispatch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/locks"
	"github.com/aegirhq/aegir/internal/logbus"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/scheduler/runner"
	"github.com/aegirhq/aegir/scheduler/tasklog"
)

// Config configures a Dispatcher.
type Config struct {
	// Store holds the tasks and everything they act on. Required.
	Store *store.Store
	// Executor runs the back end. Required.
	Executor Executor
	// Bus carries task logs; the dispatcher adds its own lines ("aegir: ...")
	// and archives each finished task's log from it. Required.
	Bus logbus.Bus
	// Locker gives one running task per target. Required.
	Locker locks.Locker
	// Archive keeps finished tasks' logs. Default: tasklog.NewArchive(Store, Bus, Logger).
	Archive *tasklog.Archive
	// MaxParallel is how many tasks run at once. Default: 4.
	MaxParallel int
	// TaskTimeout stops a back end that runs longer; its task fails.
	// Default: 1h.
	TaskTimeout time.Duration
	// LockTTL is the lease time of a target's lock (renewed by the locker
	// while held). Default: 30s.
	LockTTL time.Duration
	// ReapInterval is how often running tasks this dispatcher does not run
	// itself are checked for a runner that is gone. Default: 1m.
	ReapInterval time.Duration
	// RetryInterval is how soon a task that could not start (its lock held
	// elsewhere, the store unreachable) is tried again. Default: 1s.
	RetryInterval time.Duration
	// StoreRetry is how long a task's start or result that the store did
	// not take (a Consul restart, a leader election) is retried, with
	// backoff from RetryInterval up to 30s, before the task is left to
	// the next pass or reap (storeretry.go). Default: 5m.
	StoreRetry time.Duration
	// KeepDir is where results the store still did not take when the
	// dispatcher stops are written, for the next start to record
	// (keep.go). Default: none; such tasks fail runner_gone at the next
	// start.
	KeepDir string
	// Env is copied into every context. Default: zero.
	Env provision.EnvInfo
	// Router is the router in front of the web servers. With one, a
	// migrate leaves the old place serving (Env.ReleaseLater is set) and
	// its release-old-place task starts only once the router no longer
	// sends the site there (router.go). Default: none; a migrate removes
	// the old place at once.
	Router Router
	// RouterGrace is how long after the router's catalog let a site's
	// old place go that the old place is removed: at least the router's
	// own refresh interval (Traefik's refreshInterval plus its
	// providersThrottleDuration). Default: 10s.
	RouterGrace time.Duration
	// RouterWait is how long after a move the old place waits for the
	// router to let it go before its release fails and the old place is
	// kept. Default: 10m.
	RouterWait time.Duration
	// Logger receives the dispatcher's logs. Default: slog.Default().
	Logger *slog.Logger
	// Events hears of every task that ends failed, once its ending is
	// stored (the notifications' outbox, internal/notify). Default: none.
	Events TaskEvents
}

// TaskEvents is told of tasks that ended failed. The dispatcher logs its
// errors; they never change how a task ended.
type TaskEvents interface {
	TaskFailed(ctx context.Context, task domain.Task) error
}

// Dispatcher takes queued tasks oldest first and runs them through the
// Executor, one at a time per target and up to MaxParallel at once, then
// applies their results and archives their logs. See the package doc for
// the state model and its failure modes.
type Dispatcher struct {
	cfg     Config
	st      *store.Store
	exec    Executor
	bus     logbus.Bus
	locker  locks.Locker
	archive *tasklog.Archive
	log     *slog.Logger

	mu      sync.Mutex
	running map[string]*job   // by task id: tasks this dispatcher has taken
	busy    map[string]string // lock name → task id, for the tasks in running
	// unrecorded are the endings of tasks whose result the store did not
	// take within StoreRetry, by task id; reap records them.
	unrecorded map[string]ending
	last       passStatus // what the last pass read, for Status
	wake       chan struct{}
	wg         sync.WaitGroup
	// reapSoon is set by a reap that could not follow a running task's
	// runner yet (its lock still held by its old dispatcher, or the store
	// or Nomad not answering): Run reaps again soon.
	reapSoon atomic.Bool
}

// job is a task this dispatcher has taken.
type job struct {
	cancelOnce sync.Once
	cancel     chan string // who cancelled
	batch      bool        // a batch parent (batch.go): it takes no MaxParallel slot
}

// New checks cfg, fills its defaults and returns a Dispatcher. Start it
// with Run.
func New(cfg Config) (*Dispatcher, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("dispatcher: Store is required")
	case cfg.Executor == nil:
		return nil, errors.New("dispatcher: Executor is required")
	case cfg.Bus == nil:
		return nil, errors.New("dispatcher: Bus is required")
	case cfg.Locker == nil:
		return nil, errors.New("dispatcher: Locker is required")
	}
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	cfg.MaxParallel = cmp.Or(cfg.MaxParallel, 4)
	cfg.TaskTimeout = cmp.Or(cfg.TaskTimeout, time.Hour)
	cfg.LockTTL = cmp.Or(cfg.LockTTL, 30*time.Second)
	cfg.ReapInterval = cmp.Or(cfg.ReapInterval, time.Minute)
	cfg.RetryInterval = cmp.Or(cfg.RetryInterval, time.Second)
	cfg.StoreRetry = cmp.Or(cfg.StoreRetry, 5*time.Minute)
	cfg.RouterGrace = cmp.Or(cfg.RouterGrace, 10*time.Second)
	cfg.RouterWait = cmp.Or(cfg.RouterWait, 10*time.Minute)
	if cfg.Router != nil {
		cfg.Env.ReleaseLater = true
	}
	if cfg.Archive == nil {
		cfg.Archive = tasklog.NewArchive(cfg.Store, cfg.Bus, cfg.Logger)
	}
	return &Dispatcher{
		cfg: cfg, st: cfg.Store, exec: cfg.Executor, bus: cfg.Bus, locker: cfg.Locker,
		archive: cfg.Archive, log: cfg.Logger.With("component", "dispatcher"),
		running: map[string]*job{}, busy: map[string]string{}, unrecorded: map[string]ending{}, wake: make(chan struct{}, 1),
	}, nil
}

// Archive returns the archive of finished tasks' logs (task retention
// deletes from it).
func (d *Dispatcher) Archive() *tasklog.Archive { return d.archive }

// TaskLogs returns the reader of task logs (archive, then live bus) for
// the API.
func (d *Dispatcher) TaskLogs() *tasklog.TaskLogs { return tasklog.NewTaskLogs(d.st, d.bus, d.archive) }

// CanReattach reports whether this dispatcher hands its running tasks
// over when it stops and follows their runners again after a restart:
// whether its executor's runners outlive aegir (Executor.CanReattach).
func (d *Dispatcher) CanReattach() bool { return d.exec.CanReattach() }

// LockName is the lock a task holds while it runs: one running task per
// site, platform or server.
func LockName(t domain.Task) string { return string(t.TargetKind) + "/" + t.TargetID }

func (d *Dispatcher) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// ErrLeadershipLost is the cause (context.WithCancelCause) with which the
// caller ends Run's context when this process lost the dispatcher's
// leadership rather than stopping: local back ends it stops then fail
// leadership_lost, not aegir_stopped.
var ErrLeadershipLost = errors.New("this aegir process lost the dispatcher's leadership")

// ErrSteppedDown is the cause with which the caller ends Run's context
// when this process gave the lead up of its own accord (an older aegir
// server is live during a rolling upgrade) and runs on as a follower:
// local back ends it stops then fail aegir_stopped, as on a stop, saying
// it stepped down; Nomad jobs are handed over as on a stop.
var ErrSteppedDown = errors.New("this aegir process stepped down from the dispatcher's lead")

// Run dispatches until ctx ends, then stops the back ends still running
// (their tasks fail with an explanation) and returns nil. It starts with
// a Recover pass, and repeats it every ReapInterval for running tasks it
// does not run itself. It waits for changes of the queue (no polling).
func (d *Dispatcher) Run(ctx context.Context) error {
	defer d.recordKeptOnStop()
	defer d.wg.Wait()
	if err := d.Recover(ctx); err != nil && ctx.Err() == nil {
		// The store not answering (a Consul restart as this process
		// starts leading): again soon, not a ReapInterval later.
		d.log.Error("recover running tasks; will retry", "err", err)
		d.reapSoon.Store(true)
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go d.watch(watchCtx)
	reap := time.NewTicker(d.cfg.ReapInterval)
	defer reap.Stop()
	// A running task whose lock a killed leader still holds is followed
	// again soon after that lock runs out (LockTTL), and one that could
	// not be followed for an outage, or was handed over when its lock was
	// lost, soon after, not a whole ReapInterval later.
	soonAfter := min(d.cfg.ReapInterval, max(d.cfg.LockTTL/10, d.cfg.RetryInterval))
	var retry, soon <-chan time.Time
	for {
		if again := d.pass(ctx); again && retry == nil {
			retry = time.After(d.cfg.RetryInterval)
		}
		if soon == nil && d.reapSoon.Swap(false) {
			soon = time.After(soonAfter)
		}
		select {
		case <-ctx.Done():
			d.log.Info("dispatcher stopping; stopping running back ends")
			return nil
		case <-d.wake:
		case <-retry:
			retry = nil
		case <-soon:
			soon = nil
			if err := d.reap(ctx, false); err != nil && ctx.Err() == nil {
				d.log.Error("reap running tasks; will retry", "err", err)
				d.reapSoon.Store(true)
			}
		case <-reap.C:
			if err := d.reap(ctx, false); err != nil && ctx.Err() == nil {
				d.log.Error("reap running tasks; will retry", "err", err)
				d.reapSoon.Store(true)
			}
		}
	}
}

// watch pokes the loop whenever the queue changes.
func (d *Dispatcher) watch(ctx context.Context) {
	var idx uint64
	for ctx.Err() == nil {
		n, err := d.st.WatchQueue(ctx, idx)
		if err != nil {
			if ctx.Err() == nil {
				d.log.Warn("watch the task queue", "err", err)
				select {
				case <-time.After(d.cfg.RetryInterval):
				case <-ctx.Done():
				}
				d.poke()
			}
			continue
		}
		if n != idx {
			idx = n
			d.poke()
		}
	}
}

// pass starts every queued task it can, oldest first. It reports whether a
// task was held back for a reason that needs a retry (lock held elsewhere,
// store error).
func (d *Dispatcher) pass(ctx context.Context) (retry bool) {
	tasks, _, err := d.st.ActiveTasks(ctx)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error("list active tasks", "err", err)
			d.mu.Lock()
			d.passSeen(nil, err)
			d.mu.Unlock()
		}
		return true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	defer d.passSeen(tasks, nil) // once started, with the lock held
	taken := map[string]bool{}
	for name := range d.busy {
		taken[name] = true
	}
	// A running task we don't run (another dispatcher's, or one Recover
	// has not yet failed) still owns its target.
	for _, t := range tasks {
		if t.Status == domain.TaskRunning && d.running[t.ID] == nil {
			taken[LockName(t)] = true
		}
	}
	for _, t := range tasks {
		if t.Status != domain.TaskQueued || d.running[t.ID] != nil {
			continue
		}
		name := LockName(t)
		if taken[name] {
			continue
		}
		// The oldest queued task of a target claims it for this pass, so a
		// newer one never overtakes it.
		taken[name] = true
		batch := isBatch(t)
		// A batch parent only waits for its children: it takes no slot,
		// or a batch with as many children as slots would wait forever.
		if !batch && d.runners() >= d.cfg.MaxParallel {
			continue
		}
		lease, err := d.locker.TryAcquire(ctx, name, d.cfg.LockTTL)
		if err != nil {
			if !errors.Is(err, locks.ErrHeld) && ctx.Err() == nil {
				d.log.Error("take task lock", "task", t.ID, "lock", name, "err", err)
			}
			retry = true
			continue
		}
		j := &job{cancel: make(chan string, 1), batch: batch}
		d.running[t.ID], d.busy[name] = j, t.ID
		d.wg.Add(1)
		go d.runJob(ctx, t, lease, j)
	}
	return retry
}

// runners counts the running tasks that take a MaxParallel slot (all but
// batch parents). d.mu must be held.
func (d *Dispatcher) runners() int {
	n := 0
	for _, j := range d.running {
		if !j.batch {
			n++
		}
	}
	return n
}

// runJob runs one task start to finish, holding its lock.
func (d *Dispatcher) runJob(ctx context.Context, task domain.Task, lease locks.Lease, j *job) {
	defer d.wg.Done()
	defer d.endJob(ctx, task, lease)
	e, started := d.execute(ctx, task, lease, j)
	if !started && e == nil {
		// Left queued (store trouble) or taken by someone else: hold the
		// lock a moment so a failing store is not hammered.
		select {
		case <-time.After(d.cfg.RetryInterval):
		case <-ctx.Done():
		}
		return
	}
	d.conclude(ctx, task.ID, *e)
}

// endJob releases a job's lock, forgets the job and pokes the loop, once
// its task is finished (or left queued).
func (d *Dispatcher) endJob(ctx context.Context, task domain.Task, lease locks.Lease) {
	_ = lease.Release(context.WithoutCancel(ctx))
	d.mu.Lock()
	delete(d.running, task.ID)
	delete(d.busy, LockName(task))
	d.mu.Unlock()
	d.poke()
}

// conclude finishes a task whose run ended as e and archives its log.
func (d *Dispatcher) conclude(ctx context.Context, taskID string, e ending) {
	// Finishing must happen even when the dispatcher is stopping; its
	// time starts now, not when the task started (a back end that ran
	// longer left a task that could never be finished). A store that does
	// not answer is retried for StoreRetry.
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.cfg.StoreRetry+time.Minute)
	defer cancel()
	final, err := d.finishRetrying(bg, taskID, e)
	if transient(err) {
		// The store is still away: the reap records the result when it
		// is back (while this process leads), and archives the log then.
		d.log.Error("finish task; its result is kept for the next reap", "task", taskID, "err", err)
		d.mu.Lock()
		delete(d.running, taskID)
		d.unrecorded[taskID] = e
		d.mu.Unlock()
		return
	}
	if err != nil {
		d.log.Error("finish task; it stays running until the next reap", "task", taskID, "err", err)
	} else {
		d.note(taskID, "info", "task "+string(final.status)+finishNote(&final))
	}
	// Finished: Cancel and reap treat it as any finished task now, while
	// the target stays locked until its log is archived.
	d.mu.Lock()
	delete(d.running, taskID)
	d.mu.Unlock()
	if err := d.archive.Archive(bg, taskID); err != nil {
		d.log.Error("archive task log; it stays on the live bus", "task", taskID, "err", err)
	}
}

func finishNote(e *ending) string {
	if e.status == domain.TaskSucceeded {
		if e.summary != "" {
			return ": " + e.summary
		}
		return ""
	}
	if e.explanation != "" {
		return ": " + e.explanation
	}
	return ""
}

// note adds a line of the dispatcher's own to the task's log.
func (d *Dispatcher) note(taskID, level, msg string) {
	if _, err := d.bus.Append(context.Background(), taskID, logbus.Line{Level: level, Msg: "aegir: " + msg}); err != nil {
		d.log.Debug("log line not delivered", "task", taskID, "err", err)
	}
}

// execute starts the back end for a queued task and waits for it. It
// returns how the task ends, or nil when the task must be left alone
// (someone else started it, or the store failed before it started: it
// stays queued and is tried again; or the dispatcher stopped and handed
// the running task over: it stays running for the next one).
func (d *Dispatcher) execute(ctx context.Context, task domain.Task, lease locks.Lease, j *job) (*ending, bool) {
	select {
	case by := <-j.cancel:
		return &ending{status: domain.TaskCancelled, code: "cancelled", explanation: "Cancelled by " + by + " before it started."}, false
	default:
	}
	if j.batch {
		return d.coordinate(ctx, task, lease, j)
	}
	if e, ok := d.awaitRouter(ctx, task, j); !ok || e != nil {
		return e, false
	}
	pc, err := BuildContext(ctx, d.st, task, d.cfg.Env)
	var pctx []byte
	if err == nil {
		pctx, err = EncodeContext(pc)
	}
	if ce := (*ContextError)(nil); errors.As(err, &ce) {
		d.note(task.ID, "error", "cannot run the task: "+ce.Explanation)
		return &ending{status: domain.TaskFailed, code: ce.Code, explanation: ce.Explanation, hint: ce.FixHint}, false
	}
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error("build task context; will retry", "task", task.ID, "err", err)
		}
		return nil, false
	}
	if err := d.st.StartTask(ctx, &task, "", lease.Fence()); err != nil {
		if !transient(err) || ctx.Err() != nil {
			return nil, false
		}
		// The store may have applied the start it answered an error for.
		if !d.settleStart(ctx, &task, lease, err) {
			d.log.Error("start task; will retry", "task", task.ID, "err", err)
			return nil, false
		}
	}
	d.note(task.ID, "info", fmt.Sprintf("running %s on %s", task.Type, task.TargetName))
	run, err := d.exec.Start(ctx, task, pctx)
	if err != nil {
		code, hint := "runner_start", "Check that the aegir binary is installed and executable on this machine, then retry the task."
		if f := (*runner.Failure)(nil); errors.As(err, &f) {
			code, hint = f.Code, f.Hint
		}
		return &ending{status: domain.TaskFailed, code: code,
			explanation: sentence("the back end could not be started: " + err.Error()), hint: hint}, true
	}
	if err := d.st.SetTaskRunner(ctx, &task, run.Runner()); err != nil {
		d.log.Warn("record task runner", "task", task.ID, "runner", run.Runner(), "err", err)
	}
	o := d.wait(ctx, run, lease, j)
	d.janitorSeen(task.ID, o.res)
	if o.handedOver {
		d.handOver(ctx, task, run)
		return nil, false
	}
	e := endingOf(task, o, d.cfg.TaskTimeout)
	e.runner = run.Runner()
	return &e, true
}

// handOver notes that this dispatcher stopped while task's runner keeps
// running; the task stays running for the next dispatcher to follow.
func (d *Dispatcher) handOver(ctx context.Context, task domain.Task, run runner.Run) {
	d.log.Info("stopping: the back end keeps running for the next dispatcher to follow", "task", task.ID, "runner", run.Runner())
	why := "this aegir process is stopping"
	switch {
	case errors.Is(context.Cause(ctx), ErrLeadershipLost):
		// Not a stop: the process runs on, as a follower.
		why = "this aegir process lost the dispatcher's leadership"
	case errors.Is(context.Cause(ctx), ErrSteppedDown):
		why = "this aegir process stepped down from the dispatcher's lead for an older aegir server (a rolling upgrade)"
	case ctx.Err() == nil:
		// The task's lock was lost: this dispatcher, if it still leads,
		// follows the runner again once it has the lock.
		why = "this aegir process lost the task's lock"
		d.reapSoon.Store(true)
		d.poke()
	}
	d.note(task.ID, "info", why+"; the back end keeps running and the next dispatcher follows it ("+run.Runner()+")")
}

// wait waits for the run to end, stopping it on cancel, timeout, lost lock
// or shutdown.
func (d *Dispatcher) wait(ctx context.Context, run runner.Run, lease locks.Lease, j *job) outcome {
	return d.waitFor(ctx, run, lease, j, d.cfg.TaskTimeout)
}

// waitFor is wait with the time left before the task times out.
func (d *Dispatcher) waitFor(ctx context.Context, run runner.Run, lease locks.Lease, j *job, timeout time.Duration) outcome {
	type waited struct {
		res *provision.Result
		err error
	}
	done := make(chan waited, 1)
	go func() {
		res, err := run.Wait()
		done <- waited{res, err}
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var o outcome
	select {
	case w := <-done:
		o.res, o.err = w.res, w.err
		return o
	case by := <-j.cancel:
		o.cancelledBy = by
	case <-timer.C:
		o.timedOut = true
	case <-lease.Lost():
		if d.exec.CanReattach() {
			// The lock went with Redis (or to a dispatcher that follows
			// the runner now): the runner keeps running and whoever holds
			// the lock next follows it, as on a stop below. Stopping it
			// would fail a back end that was doing its work.
			run.Detach()
			<-done
			o.handedOver = true
			return o
		}
		o.lost = true
	case <-ctx.Done():
		if d.exec.CanReattach() {
			// A runner that outlives this process (a Nomad job) keeps
			// running: the next dispatcher follows it again (Recover), so a
			// restart or upgrade of aegir does not kill a long backup. The
			// caller leaves the task running and releases its lock; this
			// process stops following the runner (a leader that only lost
			// its leadership keeps running as a follower).
			run.Detach()
			<-done
			o.handedOver = true
			return o
		}
		switch cause := context.Cause(ctx); {
		case errors.Is(cause, ErrLeadershipLost):
			o.leaderLost = true
		case errors.Is(cause, ErrSteppedDown):
			o.steppedDown = true
		default:
			o.shutdown = true
		}
	}
	run.Cancel()
	w := <-done
	o.res, o.err = w.res, w.err
	return o
}

// Cancel cancels a task: a running one of this dispatcher's has its back
// end stopped (SIGTERM, then SIGKILL) and ends cancelled; a queued one is
// cancelled at once. It returns once the cancel is under way, not when the
// task has ended. A finished task, or one running under another aegir
// process, gives an error wrapping domain.ErrConflict.
func (d *Dispatcher) Cancel(ctx context.Context, taskID, by string) error {
	for try := 0; ; try++ {
		d.mu.Lock()
		j := d.running[taskID]
		d.mu.Unlock()
		if j != nil {
			j.cancelOnce.Do(func() { j.cancel <- by })
			return nil
		}
		task, err := d.st.GetTask(ctx, taskID)
		if err != nil {
			return err
		}
		switch task.Status {
		case domain.TaskQueued:
			err := d.st.CancelQueued(ctx, task, by)
			if errors.Is(err, domain.ErrConflict) && try < 3 {
				continue // it was just taken: cancel the run instead
			}
			return err
		case domain.TaskRunning:
			return fmt.Errorf("task %s is running under another aegir process (runner %s); cancel it there: %w", taskID, task.Runner, domain.ErrConflict)
		default:
			return fmt.Errorf("task %s has already %s: %w", taskID, task.Status, domain.ErrConflict)
		}
	}
}

// Recover deals with the running tasks this dispatcher does not run: after
// a restart of aegir, the tasks its previous process was running. With an
// Executor whose runners outlive aegir (CanReattach: Nomad) it follows
// each task's runner again, finding it first when it was not recorded,
// and the task ends with the runner's real result; it fails a task whose
// runner is gone.
// Run calls it first; calling it before Run too is harmless. Runs it
// follows again stop when ctx ends, as Run's do.
func (d *Dispatcher) Recover(ctx context.Context) error { return d.reap(ctx, true) }

// reapGrace is how long a running task without a recorded runner is left
// alone by the periodic reap: its dispatcher may be between starting it
// and recording the runner.
const reapGrace = time.Minute

// reap fails running tasks this dispatcher does not run whose runner is
// gone, and follows again those whose runner the executor can follow. At
// startup (all) even tasks with no runner recorded are dealt with at once.
func (d *Dispatcher) reap(ctx context.Context, all bool) error {
	tasks, _, err := d.st.ActiveTasks(ctx)
	if err != nil {
		return err
	}
	reattach := d.exec.CanReattach()
	for _, t := range tasks {
		if t.Status != domain.TaskRunning {
			continue
		}
		d.mu.Lock()
		mine := d.running[t.ID] != nil
		kept, isKept := d.unrecorded[t.ID]
		d.mu.Unlock()
		if mine {
			continue
		}
		if !isKept && all {
			// A result an earlier process could not record before it stopped.
			if kept, isKept = d.readKept(t); isKept {
				d.log.Info("recording a task result kept on disk when aegir stopped", "task", t.ID)
				d.mu.Lock()
				d.unrecorded[t.ID] = kept // until the store takes it
				d.mu.Unlock()
			}
		}
		if isKept {
			d.recordKept(ctx, t.ID, kept)
			continue
		}
		if t.Runner == "" && !all && t.StartedAt != nil && time.Since(*t.StartedAt) < reapGrace {
			continue
		}
		if isBatch(t) {
			// A batch runs in the dispatcher that started it; not in this
			// one, so that process is gone.
			d.failGone(ctx, t, ending{status: domain.TaskFailed, code: "runner_gone",
				explanation: "The aegir process that ran this batch stopped while it ran. The child tasks it had queued ran on their own (see their tasks); the sites it had not queued were not started.",
				hint:        "Run the batch again for the sites still on " + t.TargetName + ": those already migrated are no longer on it."})
			continue
		}
		if reattach {
			followed, err := d.reattach(ctx, &t)
			if err != nil {
				if ctx.Err() == nil {
					d.log.Warn("cannot follow the runner of a running task again now; will retry", "task", t.ID, "runner", t.Runner, "err", err)
				}
				d.reapSoon.Store(true)
				continue
			}
			if followed {
				continue
			}
		}
		alive, err := d.exec.Alive(ctx, t.Runner)
		if err != nil {
			d.log.Warn("cannot tell whether a task's runner is alive", "task", t.ID, "runner", t.Runner, "err", err)
			continue
		}
		if alive {
			continue
		}
		runner := t.Runner
		if runner == "" {
			runner = "none recorded"
		}
		e := ending{status: domain.TaskFailed, code: "runner_gone",
			explanation: "The runner of this task (" + runner + ") is gone — the aegir process or machine restarted while it ran; nothing was applied.",
			hint:        "Check the site and retry the task."}
		if reattach && t.Runner == "" {
			e.explanation = "The aegir process that started this task stopped before it recorded the back end's runner, and Nomad has no job dispatched for the task: the back end never started (or its job was purged since); nothing was applied."
		}
		d.failGone(ctx, t, e)
	}
	return nil
}

// failGone ends a running task whose runner is gone with e, and archives
// its log.
func (d *Dispatcher) failGone(ctx context.Context, t domain.Task, e ending) {
	if _, err := d.finish(ctx, t.ID, e); err != nil {
		d.log.Error("fail task whose runner is gone", "task", t.ID, "err", err)
		return
	}
	d.log.Warn("failed a task whose runner is gone", "task", t.ID, "runner", t.Runner)
	d.note(t.ID, "error", e.explanation)
	if err := d.archive.Archive(ctx, t.ID); err != nil {
		d.log.Error("archive task log", "task", t.ID, "err", err)
	}
}

// recordKeptOnStop tries once more, for a few seconds, to record the
// results the store did not take, before the dispatcher stops; those it
// still cannot record are written to KeepDir for the next start's Recover
// (keep.go). Without KeepDir they are lost, and their tasks fail
// runner_gone at the next leader's reap.
func (d *Dispatcher) recordKeptOnStop() {
	d.mu.Lock()
	kept := maps.Clone(d.unrecorded)
	d.mu.Unlock()
	if len(kept) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for id, e := range kept {
		d.recordKept(ctx, id, e)
	}
	d.mu.Lock()
	left := maps.Clone(d.unrecorded)
	d.mu.Unlock()
	written := 0
	for id, e := range left {
		if d.writeKept(id, e) {
			written++
		}
	}
	if n := len(left); n > 0 {
		d.log.Error("stopping with task results the store did not take; those kept on disk are recorded at the next start, the others fail runner_gone",
			"tasks", n, "kept_on_disk", written, "dir", d.cfg.KeepDir)
	}
}

// recordKept records the result of a task that the store did not take
// when its back end ended (runJob kept it in unrecorded).
func (d *Dispatcher) recordKept(ctx context.Context, taskID string, e ending) {
	final, err := d.finish(ctx, taskID, e)
	if transient(err) {
		d.log.Warn("the store still does not take a task's result; will retry", "task", taskID, "err", err)
		return
	}
	d.mu.Lock()
	delete(d.unrecorded, taskID)
	d.mu.Unlock()
	d.dropKept(taskID)
	if err != nil {
		d.log.Error("finish task; it stays running", "task", taskID, "err", err)
		return
	}
	d.note(taskID, "info", "task "+string(final.status)+finishNote(&final)+" (recorded once the store answered again)")
	if err := d.archive.Archive(ctx, taskID); err != nil {
		d.log.Error("archive task log", "task", taskID, "err", err)
	}
}

// reattach finds (when not recorded) and follows again the runner of a
// running task this dispatcher does not run. followed false, err nil: no
// runner the executor can follow; the caller asks Alive as for any
// executor. On an error the task is left as it is for the next reap.
func (d *Dispatcher) reattach(ctx context.Context, t *domain.Task) (followed bool, err error) {
	if t.Runner == "" {
		runner, err := d.exec.FindRunner(ctx, *t)
		if err != nil || runner == "" {
			return false, err
		}
		// Check-and-set on the version read: a task that changed since
		// (finished, or recorded by its own dispatcher) is left alone.
		if err := d.st.SetTaskRunner(ctx, t, runner); err != nil {
			t.Runner = ""
			return false, fmt.Errorf("record the runner %s found for the task: %w", runner, err)
		}
		d.log.Info("found the unrecorded runner of a running task", "task", t.ID, "runner", runner)
	}
	name := LockName(*t)
	d.mu.Lock()
	if d.running[t.ID] != nil || d.busy[name] != "" {
		d.mu.Unlock()
		return true, nil
	}
	j := &job{cancel: make(chan string, 1)}
	d.running[t.ID], d.busy[name] = j, t.ID
	d.mu.Unlock()
	unclaim := func() {
		d.mu.Lock()
		delete(d.running, t.ID)
		delete(d.busy, name)
		d.mu.Unlock()
	}
	lease, err := d.locker.TryAcquire(ctx, name, d.cfg.LockTTL)
	if err != nil {
		unclaim()
		if errors.Is(err, locks.ErrHeld) {
			// Its old holder's lease has not run out yet: a reap soon.
			d.log.Info("the lock of a running task is still held; will follow its runner again later", "task", t.ID, "lock", name)
			d.reapSoon.Store(true)
			return true, nil
		}
		return false, fmt.Errorf("take task lock %s: %w", name, err)
	}
	run, err := d.exec.Attach(ctx, *t, t.Runner)
	if err != nil {
		_ = lease.Release(context.WithoutCancel(ctx))
		unclaim()
		if errors.Is(err, runner.ErrForeignRunner) {
			return false, nil
		}
		return false, err
	}
	d.note(t.ID, "info", "following the back end an earlier aegir process started ("+t.Runner+")")
	d.wg.Add(1)
	go d.followAgain(ctx, *t, lease, j, run)
	return true, nil
}

// followAgain waits for a run Attach found and finishes its task as runJob
// does. The task's timeout counts from when it started, not from now, but
// the run gets at least a minute to report.
func (d *Dispatcher) followAgain(ctx context.Context, task domain.Task, lease locks.Lease, j *job, run runner.Run) {
	defer d.wg.Done()
	defer d.endJob(ctx, task, lease)
	timeout := d.cfg.TaskTimeout
	if task.StartedAt != nil {
		timeout = max(timeout-time.Since(*task.StartedAt), time.Minute)
	}
	o := d.waitFor(ctx, run, lease, j, timeout)
	if o.handedOver {
		d.handOver(ctx, task, run)
		return
	}
	d.conclude(ctx, task.ID, endingOf(task, o, d.cfg.TaskTimeout))
}
