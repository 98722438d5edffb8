package localexec

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/logbus"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/scheduler/runner"
)

// Config configures an Executor.
type Config struct {
	// Binary is the aegir executable to run. Default: os.Executable().
	Binary string
	// Args make Binary the back end reading its context on stdin.
	// Default: provision run --context -
	Args []string
	// Bus receives every line the back end writes on stderr, as it is
	// written. Required.
	Bus logbus.Bus
	// PassEnv names the variables of aegir's own environment the back end
	// gets, besides every AEGIR_* one; nothing else leaks through.
	// Default: PATH HOME USER LANG LC_ALL TZ TMPDIR VAULT_TOKEN VAULT_CACERT.
	PassEnv []string
	// Env adds KEY=VALUE entries to the back end's environment.
	Env []string
	// KillGrace is how long Cancel waits after SIGTERM before SIGKILL.
	// Default: 10s.
	KillGrace time.Duration
	// MaxResultSize bounds what the back end may print on stdout.
	// Default: 1 MiB.
	MaxResultSize int
	// MaxLineSize bounds one stderr line; longer lines are cut.
	// Default: 16 KiB.
	MaxLineSize int
	// TailLines is how many of the last log lines an explanation quotes
	// when the back end ends without a result. Default: 5.
	TailLines int
	// Logger receives the executor's own logs. Default: slog.Default().
	Logger *slog.Logger
}

// Executor runs the back end as a child process of this aegir
// process: the embedded default and the single-machine mode.
//
// Each back end runs in its own process group, so Cancel reaches whatever
// it started (a mysqldump, a drush); when it exits, anything left in its
// group is killed. The child also gets SIGKILL when aegir itself dies
// (Linux parent-death signal): its result could not be collected anyway,
// and after the restart Alive finds it gone and the task is failed with an
// explanation.
//
// The runner handle is "local:<host>:<pid>:<start>", start being the
// process start time from /proc, so a pid reused by another process is
// not mistaken for the back end. The local executor is single-machine: a
// handle naming another host (or this machine under an older host name, as
// in a recreated container) counts as gone.
type Executor struct {
	cfg  Config
	host string
	log  *slog.Logger
}

// New checks cfg, fills its defaults and returns the executor.
func New(cfg Config) (*Executor, error) {
	if cfg.Bus == nil {
		return nil, errors.New("local executor: Bus is required")
	}
	if cfg.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("local executor: find the aegir binary (set Binary): %w", err)
		}
		cfg.Binary = exe
	}
	if cfg.Args == nil {
		cfg.Args = []string{"provision", "run", "--context", "-"}
	}
	if cfg.PassEnv == nil {
		cfg.PassEnv = []string{"PATH", "HOME", "USER", "LANG", "LC_ALL", "TZ", "TMPDIR", "VAULT_TOKEN", "VAULT_CACERT"}
	}
	cfg.KillGrace = cmp.Or(cfg.KillGrace, 10*time.Second)
	cfg.MaxResultSize = cmp.Or(cfg.MaxResultSize, 1<<20)
	cfg.MaxLineSize = cmp.Or(cfg.MaxLineSize, 16*1024)
	cfg.TailLines = cmp.Or(cfg.TailLines, 5)
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	host, err := os.Hostname()
	if err != nil {
		return nil, fmt.Errorf("local executor: host name: %w", err)
	}
	return &Executor{cfg: cfg, host: host, log: cfg.Logger.With("component", "local-executor")}, nil
}

// environ is the back end's environment: the allowed variables of ours,
// every AEGIR_* one, and the configured extras.
func (e *Executor) environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "AEGIR_") || slices.Contains(e.cfg.PassEnv, name) {
			env = append(env, kv)
		}
	}
	return append(env, e.cfg.Env...)
}

// Start runs the back end with pctx on its stdin.
func (e *Executor) Start(ctx context.Context, task domain.Task, pctx []byte) (runner.Run, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cmd := exec.Command(e.cfg.Binary, e.cfg.Args...)
	cmd.Stdin = bytes.NewReader(pctx)
	cmd.Env = e.environ()
	cmd.SysProcAttr = sysProcAttr()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := startProcess(cmd); err != nil {
		return nil, fmt.Errorf("start the back end %s: %w", e.cfg.Binary, err)
	}
	pid := cmd.Process.Pid
	start, err := procStartTime(pid)
	if err != nil {
		// It may already have exited; the handle is then only informative.
		e.log.Debug("no start time for back end", "pid", pid, "err", err)
	}
	r := &localRun{
		e:      e,
		cmd:    cmd,
		pid:    pid,
		taskID: task.ID,
		runner: "local:" + e.host + ":" + strconv.Itoa(pid) + ":" + strconv.FormatUint(start, 10),
		exited: make(chan struct{}),
		done:   make(chan struct{}),

		detached: make(chan struct{}),
	}
	r.readers.Add(2)
	go r.readLog(stderr)
	go r.readResult(stdout)
	go r.supervise()
	e.log.Debug("back end started", "task", task.ID, "runner", r.runner)
	return r, nil
}

// Alive reports whether the back end named by runner is still running.
func (e *Executor) Alive(ctx context.Context, runner string) (bool, error) {
	host, pid, start, err := parseLocalRunner(runner)
	if err != nil {
		return false, nil // not a handle of ours (or none was recorded): nothing to wait for
	}
	if host != e.host {
		return false, nil
	}
	got, err := procStartTime(pid)
	if err != nil {
		return false, nil // no such process (or a zombie)
	}
	return got == start, nil
}

// CanReattach is false: a local back end dies with the aegir process that
// started it (parent-death signal), so there is nothing to hand over or
// follow again.
func (e *Executor) CanReattach() bool { return false }

// FindRunner finds nothing: a local back end is never followed again.
func (e *Executor) FindRunner(ctx context.Context, task domain.Task) (string, error) {
	return "", nil
}

// Attach refuses every handle (runner.ErrForeignRunner): a local back end
// is never followed again; the dispatcher asks Alive instead.
func (e *Executor) Attach(ctx context.Context, task domain.Task, handle string) (runner.Run, error) {
	return nil, fmt.Errorf("the local executor does not follow runner %q of task %s again: %w", handle, task.ID, runner.ErrForeignRunner)
}

// parseLocalRunner splits "local:<host>:<pid>:<start>".
func parseLocalRunner(runner string) (host string, pid int, start uint64, err error) {
	rest, ok := strings.CutPrefix(runner, "local:")
	if !ok {
		return "", 0, 0, fmt.Errorf("%q is not a local runner", runner)
	}
	parts := strings.Split(rest, ":")
	if len(parts) != 3 {
		return "", 0, 0, fmt.Errorf("malformed local runner %q", runner)
	}
	pid, err = strconv.Atoi(parts[1])
	if err != nil || pid <= 0 {
		return "", 0, 0, fmt.Errorf("malformed pid in runner %q", runner)
	}
	start, err = strconv.ParseUint(parts[2], 10, 64)
	if err != nil {
		return "", 0, 0, fmt.Errorf("malformed start time in runner %q", runner)
	}
	return parts[0], pid, start, nil
}

// NoResultError says a back end ended without a usable result, in words
// for the task's explanation.
type NoResultError struct {
	// Exit is how the process ended: "status 3", "signal killed".
	Exit string
	// Reason is set when it printed something that is not a result.
	Reason string
	// LastLines are the last lines it logged.
	LastLines []string
}

func (e *NoResultError) Error() string {
	var b strings.Builder
	if sig, ok := strings.CutPrefix(e.Exit, "signal "); ok {
		fmt.Fprintf(&b, "the back end was killed by signal %s", sig)
	} else {
		fmt.Fprintf(&b, "the back end exited with %s", e.Exit)
	}
	if e.Reason != "" {
		fmt.Fprintf(&b, " and printed no valid result (%s)", e.Reason)
	} else {
		b.WriteString(" without a result")
	}
	if len(e.LastLines) > 0 {
		b.WriteString("; last log lines: ")
		b.WriteString(strings.Join(e.LastLines, " | "))
	} else {
		b.WriteString("; it logged nothing")
	}
	return b.String()
}

type localRun struct {
	e      *Executor
	cmd    *exec.Cmd
	pid    int
	taskID string
	runner string

	readers sync.WaitGroup
	exited  chan struct{} // the group leader exited (not yet reaped)
	done    chan struct{} // reaped, result decided

	detachOnce sync.Once
	detached   chan struct{} // closed by Detach

	mu        sync.Mutex
	reaped    bool // the pid may be reused: never signal it again
	cancelled bool
	tail      []string
	stdout    []byte
	tooBig    bool

	res *provision.Result
	err error
}

func (r *localRun) Runner() string { return r.runner }

func (r *localRun) Wait() (*provision.Result, error) {
	select {
	case <-r.done:
	case <-r.detached:
		select {
		case <-r.done:
		default:
			return nil, errDetached
		}
	}
	return r.res, r.err
}

// Detach stops following the back end without stopping it: Wait returns
// errDetached at once. The dispatcher never detaches a local run (the
// executor cannot reattach); the back end still dies with aegir.
func (r *localRun) Detach() { r.detachOnce.Do(func() { close(r.detached) }) }

// errDetached is Wait's error after Detach.
var errDetached = errors.New("stopped following the back end; it keeps running until aegir stops")

// Cancel sends SIGTERM to the group, and SIGKILL after the grace period.
func (r *localRun) Cancel() {
	r.mu.Lock()
	if r.cancelled || r.reaped {
		r.mu.Unlock()
		return
	}
	r.cancelled = true
	r.mu.Unlock()
	r.signalGroup(syscall.SIGTERM)
	go func() {
		t := time.NewTimer(r.e.cfg.KillGrace)
		defer t.Stop()
		select {
		case <-r.exited:
		case <-t.C:
			r.e.log.Warn("back end ignored SIGTERM; killing it", "task", r.taskID, "runner", r.runner)
			r.signalGroup(syscall.SIGKILL)
		}
	}()
}

// signalGroup signals the back end's process group unless it was reaped.
func (r *localRun) signalGroup(sig syscall.Signal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.reaped {
		_ = syscall.Kill(-r.pid, sig)
	}
}

// supervise waits for the back end to exit, kills what it left in its
// group, collects its output and decides the result.
func (r *localRun) supervise() {
	defer close(r.done)
	if err := waitExited(r.pid); err != nil {
		r.e.log.Warn("wait for back end", "task", r.taskID, "err", err)
	}
	close(r.exited)
	// The leader is a zombie until reaped, so its pid (the group id) can't
	// be reused yet: kill what it left behind, which also closes the pipes
	// the stragglers held.
	r.signalGroup(syscall.SIGKILL)
	drained := make(chan struct{})
	go func() { r.readers.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(5 * time.Second):
		// A grandchild escaped the group and holds a pipe: stop reading.
		r.e.log.Warn("back end left a process holding its output open", "task", r.taskID)
	}
	r.mu.Lock()
	r.reaped = true
	r.mu.Unlock()
	waitErr := r.cmd.Wait() // reaps and closes the pipes
	<-drained
	r.res, r.err = r.decide(waitErr)
}

func (r *localRun) decide(waitErr error) (*provision.Result, error) {
	exit := "status 0"
	if st := r.cmd.ProcessState; st != nil {
		if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			exit = "signal " + ws.Signal().String()
		} else {
			exit = "status " + strconv.Itoa(st.ExitCode())
		}
	} else if waitErr != nil {
		exit = "an unknown status (" + waitErr.Error() + ")"
	}
	r.mu.Lock()
	out, tooBig, tail := bytes.TrimSpace(r.stdout), r.tooBig, slices.Clone(r.tail)
	r.mu.Unlock()
	fail := func(reason string) error { return &NoResultError{Exit: exit, Reason: reason, LastLines: tail} }
	if tooBig {
		return nil, fail(fmt.Sprintf("its output is larger than %d bytes", r.e.cfg.MaxResultSize))
	}
	if len(out) == 0 {
		return nil, fail("")
	}
	var res provision.Result
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, fail("not JSON: " + err.Error())
	}
	if res.Status != domain.TaskSucceeded && res.Status != domain.TaskFailed {
		return nil, fail(fmt.Sprintf("unknown status %q", res.Status))
	}
	if res.TaskID != "" && res.TaskID != r.taskID {
		return nil, fail(fmt.Sprintf("it is the result of task %s", res.TaskID))
	}
	return &res, nil
}

// readResult collects stdout, up to MaxResultSize, draining the rest.
func (r *localRun) readResult(stdout io.Reader) {
	defer r.readers.Done()
	b, _ := io.ReadAll(io.LimitReader(stdout, int64(r.e.cfg.MaxResultSize)+1))
	_, _ = io.Copy(io.Discard, stdout)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(b) > r.e.cfg.MaxResultSize {
		r.tooBig = true
		return
	}
	r.stdout = b
}

// readLog turns each stderr line into a bus line as soon as it arrives.
func (r *localRun) readLog(stderr io.Reader) {
	defer r.readers.Done()
	warned := false
	readLines(stderr, r.e.cfg.MaxLineSize, func(raw []byte) {
		l := parseLogLine(raw)
		if l.Msg == "" {
			return
		}
		r.mu.Lock()
		r.tail = append(r.tail, l.Msg)
		if len(r.tail) > r.e.cfg.TailLines {
			r.tail = r.tail[1:]
		}
		r.mu.Unlock()
		if _, err := r.e.cfg.Bus.Append(context.Background(), r.taskID, l); err != nil && !warned {
			warned = true
			r.e.log.Warn("log line not delivered to the bus", "task", r.taskID, "err", err)
		}
	})
}

// parseLogLine reads a JSON log line {time, level, msg}; anything else is
// an info line with the raw text.
func parseLogLine(raw []byte) logbus.Line { return logbus.ParseLine(raw) }

// readLines calls fn with each line of r (without its newline), cutting
// lines longer than max and marking them.
func readLines(r io.Reader, max int, fn func([]byte)) {
	br := bufio.NewReaderSize(r, 4096)
	var line []byte
	cut := false
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) > max {
			if !cut {
				line = append(line, chunk[:max-len(line)]...)
				line = append(line, "…[truncated]"...)
				cut = true
			}
		} else if !cut {
			line = append(line, chunk...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if len(line) > 0 {
			fn(line)
		}
		line, cut = line[:0], false
		if err != nil {
			return
		}
	}
}
