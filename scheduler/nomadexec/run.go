package nomadexec

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/scheduler/runner"
)

// NomadRunError says how a dispatched back end ended without a result, in
// words for the task's explanation.
type NomadRunError struct {
	// JobID is the dispatched job, AllocID its allocation ("" when never
	// placed), Node the node it ran on or was meant for.
	JobID, AllocID, Node string
	// Status is the allocation's client status ("failed", "lost",
	// "complete"), or "unplaced", "cancelled" or "gone".
	Status string
	// Reason is what Nomad said.
	Reason string
	// Abandoned says what aegir did so that a lost back end has no
	// effect (abandon), for a lost allocation.
	Abandoned string
}

func (e *NomadRunError) Error() string {
	where := "on Nomad node " + e.Node
	if e.AllocID != "" {
		where += " (allocation " + shortID(e.AllocID) + ")"
	}
	switch e.Status {
	case "unplaced":
		return fmt.Sprintf("Nomad did not place the back end on node %s: %s; the dispatched job %s was stopped", e.Node, e.Reason, e.JobID)
	case api.AllocClientStatusLost:
		return fmt.Sprintf("Nomad lost the back end %s: %s; it may have done part of its work, nothing was recorded%s", where, e.Reason, suffixSentence(e.Abandoned))
	case api.AllocClientStatusComplete:
		return fmt.Sprintf("the back end exited %s without leaving a result%s", where, suffix(e.Reason))
	case "cancelled":
		return "the dispatched job " + e.JobID + " was stopped before Nomad placed it"
	case "gone":
		return fmt.Sprintf("the dispatched job %s is no longer in Nomad (stopped and purged by someone, or garbage-collected by Nomad after it ended) and its back end left no result%s; it may have done part or all of its work, nothing was recorded", e.JobID, suffix(e.Reason))
	}
	return fmt.Sprintf("the back end failed %s without a result: %s", where, e.Reason)
}

func suffixSentence(s string) string {
	if s == "" {
		return ""
	}
	return ". " + s
}

func suffix(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

func shortID(id string) string { return id[:min(8, len(id))] }

// nomadRun is one dispatched back end, followed from Start until its
// allocation ends.
type nomadRun struct {
	e      *Executor
	taskID string
	jobID  string
	server string
	node   string
	// slot: the run holds one of the executor's in-flight slots, freed
	// when it ends. adopted: Attach follows a job an earlier aegir process
	// dispatched.
	slot, adopted bool

	cancelOnce sync.Once
	cancelCh   chan struct{}
	done       chan struct{}
	// detachCh, closed by Detach: stop following, leave the job running.
	detachOnce sync.Once
	detachCh   chan struct{}

	mu      sync.Mutex
	allocID string // the allocation followed, once placed
	res     *provision.Result
	err     error
}

func (r *nomadRun) Runner() string { return nomadRunnerPrefix + r.jobID }

func (r *nomadRun) Wait() (*provision.Result, error) {
	<-r.done
	return r.res, r.err
}

// Cancel stops the dispatched job: Nomad sends the back end its kill
// signal, and SIGKILL after the job's kill_timeout.
func (r *nomadRun) Cancel() {
	r.cancelOnce.Do(func() {
		close(r.cancelCh)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if _, _, err := r.e.api.Jobs().Deregister(r.jobID, false, (&api.WriteOptions{}).WithContext(ctx)); err != nil && !isNotFound(err) {
				r.e.log.Warn("stop dispatched job", "task", r.taskID, "job", r.jobID, "err", err)
			}
		}()
	})
}

// Detach stops following the job without stopping it: Wait returns
// errDetached at once (the dispatcher handed the task over to the next
// one, which follows the job again).
func (r *nomadRun) Detach() { r.detachOnce.Do(func() { close(r.detachCh) }) }

// errDetached is Wait's error after Detach.
var errDetached = errors.New("stopped following the job (handed over); it keeps running")

func (r *nomadRun) detached() bool {
	select {
	case <-r.detachCh:
		return true
	default:
		return false
	}
}

func (r *nomadRun) cancelled() bool {
	select {
	case <-r.cancelCh:
		return true
	default:
		return false
	}
}

// follow watches the job's allocations with blocking queries until one
// ends, then decides the result, and frees the in-flight slot.
func (r *nomadRun) follow() {
	defer close(r.done)
	defer func() {
		if r.slot {
			<-r.e.slots
		}
	}()
	res, err := r.watch()
	r.mu.Lock()
	r.res, r.err = res, err
	r.mu.Unlock()
}

// maxBlock bounds one blocking query; Nomad adds up to 1/16 jitter.
const maxBlock = 5 * time.Minute

func (r *nomadRun) watch() (*provision.Result, error) {
	jobs := r.e.api.Jobs()
	deadline := time.Now().Add(r.e.cfg.PlacementTimeout)
	var index uint64
	backoff := time.Duration(0)
	sawCancel := false
	for {
		wait := maxBlock
		if r.allocID == "" {
			wait = max(min(wait, time.Until(deadline)), time.Millisecond)
		}
		// A cancel wakes a query that waits for a placement that will
		// never come (the job is stopped); once seen, queries just block.
		ctx, stop := context.WithCancel(context.Background())
		if !sawCancel {
			go func() {
				select {
				case <-r.cancelCh:
					stop()
				case <-r.detachCh:
					stop()
				case <-ctx.Done():
				}
			}()
		}
		allocs, meta, err := jobs.Allocations(r.jobID, true, (&api.QueryOptions{WaitIndex: index, WaitTime: wait}).WithContext(ctx))
		stop()
		select {
		case <-r.detachCh:
			return nil, errDetached
		default:
		}
		if r.cancelled() && !sawCancel {
			sawCancel = true
			if err != nil {
				continue
			}
		}
		if err != nil {
			backoff = min(max(2*backoff, 100*time.Millisecond), 5*time.Second)
			r.e.log.Warn("follow dispatched job; retrying", "task", r.taskID, "job", r.jobID, "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-r.detachCh:
				return nil, errDetached
			}
			continue
		}
		backoff = 0
		first := index == 0
		if meta.LastIndex < index { // the index went backwards (new leader): start over
			index = 0
		} else {
			index = meta.LastIndex
		}
		a := latest(allocs)
		if a == nil {
			// Nomad answers an empty list, not 404, for a job it no longer
			// has: look at the job itself when an allocation vanished, when
			// an adopted job has none, and before calling it unplaced.
			if r.allocID != "" || (r.adopted && first) || time.Now().After(deadline) {
				if status := r.jobEnded(); status != "" {
					return r.endedWithout(status)
				}
			}
			switch {
			case sawCancel:
				return nil, &NomadRunError{JobID: r.jobID, Node: r.node, Status: "cancelled"}
			case r.allocID == "" && time.Now().After(deadline):
				reason := r.unplacedReason()
				r.Cancel()
				return nil, &NomadRunError{JobID: r.jobID, Node: r.node, Status: "unplaced", Reason: reason}
			}
			continue
		}
		r.mu.Lock()
		r.allocID = a.ID
		r.mu.Unlock()
		switch a.ClientStatus {
		case api.AllocClientStatusComplete, api.AllocClientStatusFailed:
			return r.finish(a)
		case api.AllocClientStatusLost:
			return r.lost(a)
		}
	}
}

func cmpNode(a *api.AllocationListStub, node string) string {
	if a.NodeName != "" {
		return a.NodeName
	}
	return node
}

// lost ends a run whose allocation Nomad lost (its node missed its
// heartbeats). The dispatched job is stopped and purged first, so Nomad
// does not run it again when the node rejoins, whatever Redis says. A
// back end that finished before the node went (its result is in Redis,
// read for up to ResultRetry while Redis does not answer) ends the task
// with that result, so what it made is recorded; otherwise the task is
// given up (abandon).
func (r *nomadRun) lost(a *api.AllocationListStub) (*provision.Result, error) {
	fail := &NomadRunError{JobID: r.jobID, AllocID: a.ID, Node: cmpNode(a, r.node), Status: a.ClientStatus, Reason: r.lostReason(a)}
	purged := r.purge()
	probe := *fail // result rewrites its Reason when Redis does not answer
	if res, err := r.result(&probe); err == nil {
		r.e.log.Info("a lost allocation had left its result; the task ends with it", "task", r.taskID, "job", r.jobID)
		return res, nil
	}
	marked := false
	fail.Abandoned, marked = r.abandon(purged)
	if marked {
		// The back end may have left its result just before the mark.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res, err := r.e.cfg.Results.Result(ctx, r.taskID)
		cancel()
		if err == nil && res != nil && res.ErrorCode != provision.CodeAbandoned {
			probe := *fail
			if res, err := r.result(&probe); err == nil {
				return res, nil
			}
		}
	}
	return nil, fail
}

// purge stops and purges the dispatched job; it reports whether the job is
// gone.
func (r *nomadRun) purge() bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, _, err := r.e.api.Jobs().Deregister(r.jobID, true, (&api.WriteOptions{}).WithContext(ctx)); err != nil && !isNotFound(err) {
		r.e.log.Warn("stop and purge the job of a lost task", "task", r.taskID, "job", r.jobID, "err", err)
		return false
	}
	return true
}

// abandon gives up a run whose allocation Nomad lost (its job already
// stopped and purged by lost: purged says whether that worked, so Nomad
// never places it again when the node rejoins, and the node's client
// stops the old allocation then): it marks the task abandoned in Redis,
// so a back end still running on the lost node stops and rolls back, and
// one that finished anyway removes its archives (provision.AbandonedKey).
// When Redis does not answer, the mark is set later (markAbandonedLater);
// what a back end makes meanwhile no record owns, and the janitor removes
// it. It returns what it did, for the task's explanation, and whether the
// mark is set.
func (r *nomadRun) abandon(purged bool) (string, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var did []string
	marked := true
	if err := r.e.cfg.Results.Abandon(ctx, r.taskID); err != nil {
		marked = false
		r.e.log.Warn("mark a lost task abandoned; Redis does not answer, retrying until it does", "task", r.taskID, "err", err)
		go r.e.markAbandonedLater(r.taskID)
		did = append(did, "Redis did not answer, so aegir tells the back end, should it still run, to stop and remove what it made once Redis answers again")
	} else {
		did = append(did, "the back end, should it still run, stops and removes what it made")
	}
	if purged {
		did = append(did, "aegir purged the dispatched job "+r.jobID+" so Nomad does not run it again")
	}
	r.e.log.Warn("gave up a task whose Nomad allocation was lost", "task", r.taskID, "job", r.jobID)
	return sentence(strings.Join(did, "; ")), marked
}

// abandonRetry bounds how long markAbandonedLater keeps trying: past
// it, a back end still running on a lost node would long have been
// stopped by Nomad (its job is purged) and its leftovers are the
// janitor's.
var abandonRetry = time.Hour

// markAbandonedLater sets task taskID's abandoned mark once Redis answers
// again, retrying with backoff (1 s doubling to 30 s) for abandonRetry.
func (e *Executor) markAbandonedLater(taskID string) {
	deadline := time.Now().Add(abandonRetry)
	backoff := time.Second
	for {
		time.Sleep(backoff)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := e.cfg.Results.Abandon(ctx, taskID)
		cancel()
		if err == nil {
			e.log.Info("marked a lost task abandoned now that Redis answers", "task", taskID)
			return
		}
		if time.Now().After(deadline) {
			e.log.Error("gave up marking a lost task abandoned: Redis did not answer; the janitor removes what its back end left", "task", taskID, "err", err)
			return
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// sentence capitalises s and ends it with a full stop.
func sentence(s string) string {
	if s == "" {
		return ""
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// latest is the newest allocation (a batch job without reschedules has
// one; a lost node's replacement would be newer).
func latest(allocs []*api.AllocationListStub) *api.AllocationListStub {
	var out *api.AllocationListStub
	for _, a := range allocs {
		if out == nil || a.CreateIndex > out.CreateIndex {
			out = a
		}
	}
	return out
}

// finish reads the result the back end left once its allocation ended.
func (r *nomadRun) finish(a *api.AllocationListStub) (*provision.Result, error) {
	fail := &NomadRunError{JobID: r.jobID, AllocID: a.ID, Node: cmpNode(a, r.node), Status: a.ClientStatus, Reason: taskReason(a)}
	return r.result(fail)
}

// endedWithout decides how a run ended whose job has no allocation and
// will get none (status "gone" or "cancelled", from jobEnded): by the
// result its back end may have left before the job went, or with fail.
func (r *nomadRun) endedWithout(status string) (*provision.Result, error) {
	return r.result(&NomadRunError{JobID: r.jobID, AllocID: r.allocID, Node: r.node, Status: status})
}

// result reads the result the back end left in Redis, else the one it
// printed on its allocation's stdout, or returns fail (its Reason saying
// why when there is a result aegir cannot use). Without a result in
// Redis, the back end's log lines are copied from its allocation's stderr
// into a task log that has none of them (copyStderr).
func (r *nomadRun) result(fail *NomadRunError) (*provision.Result, error) {
	res, err := r.readResult()
	if res == nil && fail.AllocID != "" && fail.Status != api.AllocClientStatusLost {
		// No result in Redis: the back end also printed it on its stdout.
		if out := r.resultFromStdout(fail.AllocID, fail.Status == api.AllocClientStatusComplete); out != nil {
			r.e.log.Warn("the back end left no result in Redis; the task ends with the result it printed on its stdout",
				"task", r.taskID, "job", r.jobID, "alloc", shortID(fail.AllocID), "redis_err", err)
			res, err = out, nil
		}
		// Its log lines may have missed Redis too (its sink failed):
		// copy them from its stderr before the task ends, also when it
		// left no result at all (a crash's trace says why).
		if err == nil && !r.detached() {
			r.copyStderr(fail.AllocID)
		}
	}
	if err != nil {
		fail.Reason = "its result could not be read: " + err.Error()
		return nil, &runner.Failure{Msg: fail.Error(), Code: "bus_unavailable",
			Hint: "Check that Redis answers aegir (the back end keeps its result there for 24h), then look at the target: the back end may have done its work, which was not recorded."}
	}
	if res == nil {
		return nil, fail
	}
	if res.Status != domain.TaskSucceeded && res.Status != domain.TaskFailed {
		fail.Reason = fmt.Sprintf("its result has unknown status %q", res.Status)
		return nil, fail
	}
	if res.TaskID != "" && res.TaskID != r.taskID {
		fail.Reason = "its result is the result of task " + res.TaskID
		return nil, fail
	}
	return res, nil
}

// readResult reads the result the back end left, retrying with backoff
// for up to ResultRetry while the result store (Redis) fails, unless
// the run is detached meanwhile.
func (r *nomadRun) readResult() (*provision.Result, error) {
	deadline := time.Now().Add(r.e.cfg.ResultRetry)
	wait := min(time.Second, r.e.cfg.ResultRetry/8)
	for try := 1; ; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		res, err := r.e.cfg.Results.Result(ctx, r.taskID)
		cancel()
		if err == nil || errors.Is(err, ErrBadResult) || time.Now().Add(wait).After(deadline) {
			return res, err
		}
		r.e.log.Warn("read a back end's result; retrying", "task", r.taskID, "job", r.jobID, "try", try, "err", err)
		select {
		case <-time.After(wait):
		case <-r.detachCh:
			return nil, err
		}
		wait = min(2*wait, 10*time.Second)
	}
}

// jobEnded says whether a job without allocations will never get one:
// "gone" (Nomad no longer has it), "cancelled" (stopped), or "" (it may
// still be placed, or Nomad cannot be asked now).
func (r *nomadRun) jobEnded() string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	job, _, err := r.e.api.Jobs().Info(r.jobID, (&api.QueryOptions{}).WithContext(ctx))
	switch {
	case isNotFound(err):
		return "gone"
	case err != nil:
		return ""
	case boolOf(job.Stop):
		return "cancelled"
	}
	return ""
}

// taskReason is what Nomad's task events say about how the back end ended:
// "Exit Code: 137, Signal: 9", "Driver Failure: ...".
func taskReason(a *api.AllocationListStub) string {
	var parts []string
	for _, name := range sortedKeys(a.TaskStates) {
		st := a.TaskStates[name]
		for _, ev := range st.Events {
			var p string
			switch ev.Type {
			case api.TaskTerminated:
				p = fmt.Sprintf("Exit Code: %d", ev.ExitCode)
				if ev.Signal != 0 {
					p += fmt.Sprintf(", Signal: %d", ev.Signal)
				}
				if ev.Message != "" && ev.Message != "Docker container exited with non-zero exit code: "+fmt.Sprint(ev.ExitCode) {
					p += ", " + ev.Message
				}
			case api.TaskDriverFailure:
				p = "Driver Failure: " + cmpStr(ev.DriverError, ev.DisplayMessage)
			case api.TaskSetupFailure:
				p = "Setup Failure: " + cmpStr(ev.SetupError, ev.DisplayMessage)
			case api.TaskKilled:
				p = "Killed: " + cmpStr(ev.KillError, ev.DisplayMessage, "by Nomad")
			case api.TaskNotRestarting: // says only that restarts are off, as configured
			default:
				if ev.FailsTask {
					p = ev.Type + ": " + ev.DisplayMessage
				}
			}
			if p != "" && !slices.Contains(parts, p) {
				parts = append(parts, p)
			}
		}
	}
	if len(parts) == 0 && a.ClientDescription != "" && a.ClientStatus != api.AllocClientStatusComplete {
		parts = append(parts, a.ClientDescription)
	}
	if len(parts) == 0 {
		return a.ClientStatus
	}
	return strings.Join(parts, "; ")
}

func cmpStr(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// lostReason is Nomad's word for a lost allocation plus its node's state.
func (r *nomadRun) lostReason(a *api.AllocationListStub) string {
	reason := cmpStr(a.DesiredDescription, "the allocation is lost")
	if st := r.nodeState(a.NodeID); st != "" {
		reason += "; " + st
	}
	return reason
}

// nodeState says why a node cannot run tasks, or "" when it can.
func (r *nomadRun) nodeState(nodeID string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q := (&api.QueryOptions{}).WithContext(ctx)
	var n *api.Node
	if nodeID != "" {
		n, _, _ = r.e.api.Nodes().Info(nodeID, q)
	} else {
		stubs, _, err := r.e.api.Nodes().List(q)
		if err != nil {
			return ""
		}
		for _, s := range stubs {
			if s.Name == r.node {
				n = &api.Node{Name: s.Name, Status: s.Status, SchedulingEligibility: s.SchedulingEligibility, Drain: s.Drain}
			}
		}
		if n == nil {
			return fmt.Sprintf("no Nomad client named %s has joined the cluster", r.node)
		}
	}
	if n == nil {
		return ""
	}
	switch {
	case n.Status != "ready":
		return fmt.Sprintf("node %s is %s", n.Name, n.Status)
	case n.Drain:
		return fmt.Sprintf("node %s is draining", n.Name)
	case n.SchedulingEligibility != "" && n.SchedulingEligibility != "eligible":
		return fmt.Sprintf("node %s is %s for scheduling", n.Name, n.SchedulingEligibility)
	}
	return ""
}

// unplacedReason says why Nomad placed nothing: the node's state and the
// evaluations' placement metrics.
func (r *nomadRun) unplacedReason() string {
	parts := []string{fmt.Sprintf("nothing placed within %s", runner.ShortDuration(r.e.cfg.PlacementTimeout))}
	if st := r.nodeState(""); st != "" {
		parts = append(parts, st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	evals, _, err := r.e.api.Jobs().Evaluations(r.jobID, (&api.QueryOptions{}).WithContext(ctx))
	if err == nil {
		for _, ev := range evals {
			for _, tg := range sortedKeys(ev.FailedTGAllocs) {
				if m := metricText(ev.FailedTGAllocs[tg]); m != "" && !slices.Contains(parts, m) {
					parts = append(parts, m)
				}
			}
		}
	}
	if len(parts) == 1 {
		parts = append(parts, "Nomad gave no reason (is the scheduler overloaded?)")
	}
	return strings.Join(parts, "; ")
}

// metricText renders Nomad's placement metrics as `nomad job status` does.
func metricText(m *api.AllocationMetric) string {
	if m == nil {
		return ""
	}
	var p []string
	p = append(p, fmt.Sprintf("%d nodes evaluated", m.NodesEvaluated))
	for _, k := range sortedKeys(m.ConstraintFiltered) {
		p = append(p, fmt.Sprintf("%d filtered by constraint %s", m.ConstraintFiltered[k], k))
	}
	for _, k := range sortedKeys(m.ClassFiltered) {
		p = append(p, fmt.Sprintf("%d filtered by class %s", m.ClassFiltered[k], k))
	}
	if m.NodesExhausted > 0 {
		p = append(p, fmt.Sprintf("%d exhausted", m.NodesExhausted))
	}
	for _, k := range sortedKeys(m.DimensionExhausted) {
		p = append(p, fmt.Sprintf("%d out of %s", m.DimensionExhausted[k], k))
	}
	for _, k := range sortedKeys(m.NodesAvailable) {
		if m.NodesAvailable[k] == 0 {
			p = append(p, "no node available in datacenter "+k)
		}
	}
	return "Nomad: " + strings.Join(p, ", ")
}

var _ runner.Run = (*nomadRun)(nil)
