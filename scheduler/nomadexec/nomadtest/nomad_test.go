package nomadtest

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/aegirhq/aegir/dashboard"
	"github.com/aegirhq/aegir/internal/config"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/locks"
	"github.com/aegirhq/aegir/internal/logbus"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/testharness"
	"github.com/aegirhq/aegir/scheduler/dispatch"
	"github.com/aegirhq/aegir/scheduler/nomadexec"
	"github.com/aegirhq/aegir/scheduler/queue"
	"github.com/aegirhq/aegir/scheduler/runner"
)

// TestNomad runs the tests that share one cluster (server + aegir-a,
// aegir-b) and one Redis; each has its own store, data dir and aegir
// servers (and so its own aegir-task jobs).
func TestNomad(t *testing.T) {
	t.Parallel()
	c := newCluster(t, testharness.NomadOptions{})
	t.Run("SitesOnTheirServersNodes", func(t *testing.T) { t.Parallel(); testSitesOnTheirNodes(t, c) })
	t.Run("Lifecycle", func(t *testing.T) { t.Parallel(); testLifecycle(t, c) })
	t.Run("DispatchIsIdempotent", func(t *testing.T) { t.Parallel(); testIdempotent(t, c) })
	t.Run("RecoverFollowsUnrecordedDispatch", func(t *testing.T) { t.Parallel(); testRecoverUnrecordedDispatch(t, c) })
	t.Run("RecoverPurgedOrNeverDispatched", func(t *testing.T) { t.Parallel(); testRecoverPurgedOrNeverDispatched(t, c) })
	t.Run("HandOverOnShutdown", func(t *testing.T) { t.Parallel(); testHandOverOnShutdown(t, c) })
	t.Run("MissingNamespace", func(t *testing.T) { t.Parallel(); testMissingNamespace(t, c) })
	t.Run("KilledBackEndFails", func(t *testing.T) { t.Parallel(); testKilled(t, c) })
	t.Run("NeverPlacedFails", func(t *testing.T) { t.Parallel(); testUnplaced(t, c) })
	t.Run("ServerJobRegisteredOnce", func(t *testing.T) { t.Parallel(); testEnsureServerJob(t, c) })
	t.Run("QueueJobs", func(t *testing.T) { t.Parallel(); testQueues(t, c) })
	t.Run("ResultFromStdout", func(t *testing.T) { t.Parallel(); testResultFromStdout(t, c) })
	t.Run("StderrCopiedWhenRedisSinkFails", func(t *testing.T) { t.Parallel(); testStderrCopied(t, c) })
}

// FakeLostResults is a result store that lost every record (a Redis
// restarted without persistence, or one the back end could not reach):
// fault injection for the stdout fallback.
type FakeLostResults struct{ nomadexec.ResultStore }

func (FakeLostResults) Result(context.Context, string) (*provision.Result, error) { return nil, nil }

// A back end whose result is not in Redis still ends its task with its
// real result, read from the allocation's stdout: the site is installed
// and recorded as such, not failed "without leaving a result".
func testResultFromStdout(t *testing.T, c *cluster) {
	b := setup(t, c, options{nodes: []string{"aegir-a"}, nomad: func(cfg *nomadexec.Config) {
		cfg.Results = FakeLostResults{cfg.Results}
	}})
	site, task := b.newSite(t, "aegir-a")
	done := b.succeed(t, task, nil)
	if code, _ := b.get(t, site.Domain, "/"); code != 200 {
		t.Fatalf("installed site answers %d", code)
	}
	got, err := b.st.GetSite(context.Background(), site.ID)
	must(t, err)
	if got.Status != domain.SiteEnabled || done.Summary == "" {
		t.Errorf("site %s, task summary %q", got.Status, done.Summary)
	}
	// Its log lines reached Redis: nothing is copied from its stderr.
	lines, _, err := b.d.TaskLogs().Read(context.Background(), done.ID, "", 1000, 0)
	must(t, err)
	if note, _, notes := copyNote(lines); notes > 0 {
		t.Errorf("lines were copied from the stderr of a back end whose lines reached the log: %q", lines[note].Msg)
	}
}

// A back end whose Redis sink fails (Redis refuses its credentials, as it
// refuses a password file Nomad 1.4.3 rendered empty, hashicorp/nomad#16259)
// runs its task anyway and prints its result on stdout. Its log lines,
// only on its stderr, are copied into the task's log before the task
// ends, after one line of the dispatcher's saying how many and from
// where, in order and as its sink would have sent them.
func testStderrCopied(t *testing.T, c *cluster) {
	const wrong = "not-the-redis-password"
	// setup's verify-platform task runs the same way: it must succeed.
	b := setup(t, c, options{nodes: []string{"aegir-a"}, nomad: func(cfg *nomadexec.Config) {
		cfg.Redis = config.RedisConfig{Username: "aegir-no-such-user", Password: wrong}
	}})
	site, task := b.newSite(t, "aegir-a")
	done := b.succeed(t, task, nil)
	if code, _ := b.get(t, site.Domain, "/"); code != 200 {
		t.Errorf("installed site answers %d", code)
	}
	lines, _, err := b.d.TaskLogs().Read(context.Background(), done.ID, "", 1000, 0)
	must(t, err)
	log := make([]string, len(lines))
	for i, l := range lines {
		log[i] = l.Level + " " + l.Msg
	}
	t.Logf("the task's log:\n%s", strings.Join(log, "\n"))
	note, copied, notes := copyNote(lines)
	if notes != 1 {
		t.Fatalf("%d lines, not one, say the back end's lines were copied from its stderr:\n%s", notes, strings.Join(log, "\n"))
	}
	alloc := c.allocOf(t, done.Runner)
	if !strings.Contains(lines[note].Msg, "allocation "+alloc.ID[:8]+"'s stderr") || strings.Contains(lines[note].Msg, "capped") {
		t.Errorf("the note: %q", lines[note].Msg)
	}
	var fromBackEnd []logbus.Line
	var sinkFailed, started, succeeded bool
	for i, l := range lines {
		if strings.Contains(l.Msg, wrong) {
			t.Errorf("line %d holds the password: %q", i, l.Msg)
		}
		if strings.HasPrefix(l.Msg, "aegir: ") {
			continue
		}
		if i < note {
			t.Errorf("a back end line before the note: %q", l.Msg)
		}
		fromBackEnd = append(fromBackEnd, l)
		switch {
		case strings.HasPrefix(l.Msg, "cannot send the log and result to redis"):
			sinkFailed = l.Level == "error" && !started
		case strings.HasPrefix(l.Msg, "task started"):
			started = true
		case strings.HasPrefix(l.Msg, "task succeeded"):
			succeeded = started
		}
	}
	if len(fromBackEnd) != copied || !sinkFailed || !started || !succeeded {
		t.Errorf("%d back end lines, the note says %d; the sink's error first: %v, started: %v, then succeeded: %v\n%s",
			len(fromBackEnd), copied, sinkFailed, started, succeeded, strings.Join(log, "\n"))
	}
	if last := lines[len(lines)-1].Msg; !strings.HasPrefix(last, "aegir: task succeeded") {
		t.Errorf("the log's last line is %q, not the task's end", last)
	}
}

// copyNote finds the dispatcher's lines saying it copied the back end's
// lines from its stderr: the first one's index and the count it gives,
// and how many there are.
func copyNote(lines []logbus.Line) (at, copied, notes int) {
	for i, l := range lines {
		if rest, ok := strings.CutPrefix(l.Msg, "aegir: "); ok && strings.Contains(rest, " log lines copied from allocation ") {
			if notes == 0 {
				at = i
				copied, _ = strconv.Atoi(strings.Fields(rest)[0])
			}
			notes++
		}
	}
	return at, copied, notes
}

// A site on server A and one on server B: each install ran on its
// server's node, and both sites answer.
func testSitesOnTheirNodes(t *testing.T, c *cluster) {
	b := setup(t, c, options{})
	siteA, taskA := b.newSite(t, "aegir-a")
	siteB, taskB := b.newSite(t, "aegir-b")
	for _, x := range []struct {
		site *domain.Site
		task *domain.Task
		node string
	}{{siteA, taskA, "aegir-a"}, {siteB, taskB, "aegir-b"}} {
		done := b.succeed(t, x.task, nil)
		if a := c.allocOf(t, done.Runner); a.NodeName != x.node {
			t.Errorf("install of %s ran on node %s, want %s", x.site.Domain, a.NodeName, x.node)
		}
		if code, body := b.get(t, x.site.Domain, "/"); code != 200 || !strings.Contains(body, "aegir-static-fixture") {
			t.Errorf("%s answers %d %q", x.site.Domain, code, body)
		}
		lines, _, err := b.d.TaskLogs().Read(context.Background(), done.ID, "", 1000, 0)
		must(t, err)
		var fromBackEnd int
		for _, l := range lines {
			if !strings.HasPrefix(l.Msg, "aegir: ") {
				fromBackEnd++
			}
		}
		if fromBackEnd == 0 {
			t.Errorf("the log of %s has no line from the back end: %v", done.ID, lines)
		}
	}
}

// install, backup, disable, enable, delete through Nomad.
func testLifecycle(t *testing.T, c *cluster) {
	ctx := context.Background()
	b := setup(t, c, options{nodes: []string{"aegir-b"}})
	site, task := b.newSite(t, "aegir-b")
	b.succeed(t, task, nil)
	if code, _ := b.get(t, site.Domain, "/"); code != 200 {
		t.Fatalf("installed site answers %d", code)
	}
	run := func(typ domain.TaskType) *domain.Task {
		t.Helper()
		task, err := b.st.RequestSiteTask(ctx, site.ID, typ, nil, "test")
		return b.succeed(t, task, err)
	}
	run(domain.TaskBackup)
	backups, err := b.st.ListBackups(ctx, site.ID, nil)
	must(t, err)
	if len(backups) != 1 {
		t.Fatalf("%d backups after a backup task", len(backups))
	}
	run(domain.TaskDisable)
	if code := b.eventually(t, site.Domain, 0); code == 200 {
		t.Errorf("disabled site answers 200")
	}
	run(domain.TaskEnable)
	if code := b.eventually(t, site.Domain, 200); code != 200 {
		t.Errorf("enabled site answers %d", code)
	}
	done := run(domain.TaskDelete)
	// The web server drops the route on its next look at the routes dir.
	if code := b.eventually(t, site.Domain, 404); code != 404 {
		t.Errorf("deleted site answers %d", code)
	}
	if a := c.allocOf(t, done.Runner); a.NodeName != "aegir-b" {
		t.Errorf("delete ran on %s", a.NodeName)
	}
}

// A dispatcher that crashed after dispatching and before recording the
// runner dispatches again with the same task: Nomad runs it once.
func testIdempotent(t *testing.T, c *cluster) {
	ctx := context.Background()
	b := setup(t, c, options{nodes: []string{"aegir-a"}, noVerify: true})
	tasks, _, err := b.st.ActiveTasks(ctx)
	must(t, err)
	var task domain.Task
	for _, x := range tasks {
		if x.Type == domain.TaskVerifyServer {
			task = x
		}
	}
	pc, err := dispatch.BuildContext(ctx, b.st, task, b.env)
	must(t, err)
	pctx, err := dispatch.EncodeContext(pc)
	must(t, err)
	first, err := b.exec.Start(ctx, task, pctx)
	must(t, err)
	second, err := b.exec.Start(ctx, task, pctx)
	must(t, err)
	if first.Runner() != second.Runner() {
		t.Fatalf("two dispatches of one task: %s and %s", first.Runner(), second.Runner())
	}
	for _, r := range []runner.Run{first, second} {
		res, err := r.Wait()
		must(t, err)
		if res.Status != domain.TaskSucceeded {
			t.Errorf("verify-server: %s %s", res.Status, res.Explanation)
		}
	}
	children, _, err := c.api.Jobs().List(&api.QueryOptions{Prefix: nomadexec.TaskJobID(b.servers["aegir-a"].Name) + "/"})
	must(t, err)
	if len(children) != 1 {
		t.Errorf("%d dispatched jobs for one task, want 1", len(children))
	}
	c.allocOf(t, first.Runner()) // exactly one allocation
	if alive, err := b.exec.Alive(ctx, first.Runner()); err != nil || alive {
		t.Errorf("Alive of a finished dispatch = %v, %v", alive, err)
	}
}

// A back end killed on its node ends failed, with Nomad's reason and the
// node's name.
func testKilled(t *testing.T, c *cluster) {
	b := setup(t, c, options{nodes: []string{"aegir-a"}, binary: fakeBackend(t), noVerify: true})
	b.start(t)
	tasks, _, err := b.st.ActiveTasks(context.Background())
	must(t, err)
	var id string
	for _, x := range tasks {
		if x.Type == domain.TaskVerifyServer {
			id = x.ID
		}
	}
	task, alloc := b.waitRunningAlloc(t, id)
	if alive, err := b.exec.Alive(context.Background(), task.Runner); err != nil || !alive {
		t.Errorf("Alive of a running dispatch = %v, %v", alive, err)
	}
	for _, pid := range pidsOfAlloc(alloc.ID) {
		must(t, syscall.Kill(pid, syscall.SIGKILL))
	}
	done := b.waitDone(t, id)
	t.Logf("killed: %s: %s", done.Status, done.Explanation)
	if done.Status != domain.TaskFailed || !strings.Contains(done.Explanation, "aegir-a") || !strings.Contains(done.Explanation, "Signal: 9") {
		t.Errorf("killed back end: %s %q", done.Status, done.Explanation)
	}
}

// A task whose server's node does not exist fails after the placement
// timeout, saying why Nomad placed nothing.
func testUnplaced(t *testing.T, c *cluster) {
	ctx := context.Background()
	b := setup(t, c, options{nodes: []string{"aegir-a"}, noVerify: true})
	srv := &domain.Server{Name: "t-nowhere-" + b.servers["aegir-a"].Name, Address: "127.0.0.1", NomadNode: "aegir-nowhere"}
	task, err := b.st.CreateServer(ctx, srv, nil, "test")
	must(t, err)
	pc, err := dispatch.BuildContext(ctx, b.st, *task, b.env)
	must(t, err)
	pctx, err := dispatch.EncodeContext(pc)
	must(t, err)
	run, err := b.exec.Start(ctx, *task, pctx)
	must(t, err)
	_, err = run.Wait()
	var nerr *nomadexec.NomadRunError
	t.Logf("unplaced: %v", err)
	if !errors.As(err, &nerr) || nerr.Status != "unplaced" {
		t.Fatalf("unplaceable task: %v", err)
	}
	for _, want := range []string{"aegir-nowhere", "no Nomad client named", "filtered by constraint"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("explanation lacks %q: %v", want, err)
		}
	}
}

// The task job is registered once, and again only when it changes.
func testEnsureServerJob(t *testing.T, c *cluster) {
	ctx := context.Background()
	b := setup(t, c, options{nodes: []string{"aegir-b"}, noVerify: true})
	srv := b.servers["aegir-b"]
	info := provision.ServerInfo{ID: srv.ID, Name: srv.Name, Address: srv.Address, NomadNode: srv.NomadNode}
	changed, err := b.exec.EnsureServerJob(ctx, info)
	must(t, err)
	if !changed {
		t.Error("first EnsureServerJob registered nothing")
	}
	// A second executor (another aegir process) finds it registered.
	other, err := nomadexec.New(nomadexec.Config{Address: c.nomad.HTTPAddr, Binary: aegirBin, DataDir: b.dataDir, RedisAddr: c.redis.Addr, Results: nomadexec.NewRedisResults(c.rdb, "")})
	must(t, err)
	if changed, err := other.EnsureServerJob(ctx, info); err != nil || changed {
		t.Errorf("unchanged job re-registered: %v %v", changed, err)
	}
	moved, err := nomadexec.New(nomadexec.Config{Address: c.nomad.HTTPAddr, Binary: "/opt/aegir/bin/aegir", DataDir: b.dataDir, RedisAddr: c.redis.Addr, Results: nomadexec.NewRedisResults(c.rdb, "")})
	must(t, err)
	if changed, err := moved.EnsureServerJob(ctx, info); err != nil || !changed {
		t.Errorf("changed job not re-registered: %v %v", changed, err)
	}
	job, _, err := c.api.Jobs().Info(nomadexec.TaskJobID(srv.Name), nil)
	must(t, err)
	if got := job.TaskGroups[0].Tasks[0].Config["command"]; got != "/opt/aegir/bin/aegir" {
		t.Errorf("registered command %v", got)
	}
	info.NomadNode = ""
	if _, err := b.exec.EnsureServerJob(ctx, info); err == nil || !strings.Contains(err.Error(), "nomad_node") {
		t.Errorf("server without a node: %v", err)
	}
}

// Each queue's periodic job, forced, runs `aegir queue run NAME` against a
// real aegir API: the pass authenticates with the token aegir put in the
// job's Nomad Variable (never in the job), a queue user's as aegir server
// gives them (it may only start and follow passes), and the job ends when
// the pass it started has ended, which the API records.
func testQueues(t *testing.T, c *cluster) {
	ctx := context.Background()
	b := setup(t, c, options{nodes: []string{"aegir-a"}, noVerify: true})
	queues, err := queue.New(queue.Config{Store: b.st, Locker: locks.NewMemory(), Logger: testLogger(t)})
	must(t, err)
	srv, err := dashboard.New(&dashboard.Config{Store: b.st, Queues: queues, Logger: testLogger(t)})
	must(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	apiAddr := "http://" + ln.Addr().String()
	admin, created, err := b.st.EnsureAdmin(ctx)
	must(t, err)
	if !created {
		t.Fatal("a new store already had an admin")
	}
	_, token, err := queue.NewJobToken(ctx, b.st)
	must(t, err)
	e, err := nomadexec.New(nomadexec.Config{
		Address: c.nomad.HTTPAddr, Binary: aegirBin, DataDir: b.dataDir, RedisAddr: c.redis.Addr,
		Results: nomadexec.NewRedisResults(c.rdb, ""), APIAddr: apiAddr, QueueToken: token, Logger: testLogger(t),
	})
	must(t, err)

	if err := b.exec.RegisterQueueJobs(ctx, nomadexec.DefaultQueues()); err == nil || !strings.Contains(err.Error(), "QueueToken") {
		t.Errorf("registered queue jobs without a token: %v", err)
	}
	must(t, e.RegisterQueueJobs(ctx, nomadexec.DefaultQueues()))
	for _, q := range nomadexec.DefaultQueues() {
		// The token is in the variable and nowhere in the job.
		v, _, err := c.api.Variables().Read(nomadexec.QueueVarPath(q.Name), nil)
		must(t, err)
		if v.Items[nomadexec.QueueTokenItem] != token {
			t.Errorf("variable %s does not hold the queue token", v.Path)
		}
		job, _, err := c.api.Jobs().Info(nomadexec.QueueJobID(q.Name), nil)
		must(t, err)
		raw, err := json.Marshal(job)
		must(t, err)
		if strings.Contains(string(raw), token) {
			t.Errorf("the job %s holds the API token", *job.ID)
		}
	}
	for _, q := range nomadexec.DefaultQueues() {
		forced := time.Now().UTC()
		child, err := e.PeriodicForce(ctx, q.Name)
		must(t, err)
		if !strings.HasPrefix(child, nomadexec.QueueJobID(q.Name)+"/periodic-") {
			t.Errorf("forced child job %s", child)
		}
		a := waitAllocDone(t, c, child)
		if a.ClientStatus != api.AllocClientStatusComplete {
			t.Errorf("queue %s pass: %s %s", q.Name, a.ClientStatus, taskEvents(a.TaskStates["pass"]))
			continue
		}
		var st queue.Status
		if code := apiGet(t, apiAddr+"/api/v1/queues/"+q.Name, admin, &st); code != 200 {
			t.Fatalf("GET queue %s: %d", q.Name, code)
		}
		if st.LastPass == nil || st.LastPass.Queue != q.Name || st.LastPass.State != queue.PassDone || st.LastPass.Started.Before(forced.Add(-time.Second)) {
			t.Errorf("queue %s: the forced pass was not recorded as done: %+v", q.Name, st.LastPass)
		}
	}

	// A new token (a new leader's) replaces the variable's; a changed
	// schedule updates the job; a disabled queue loses its job and its
	// variable.
	_, rotated, err := queue.NewJobToken(ctx, b.st)
	must(t, err)
	qs := nomadexec.DefaultQueues()
	qs[0].Schedule, qs[1].Disabled = "*/7 * * * *", true
	e.SetQueueToken(rotated)
	must(t, e.RegisterQueueJobs(ctx, qs))
	v, _, err := c.api.Variables().Read(nomadexec.QueueVarPath(qs[0].Name), nil)
	must(t, err)
	if v.Items[nomadexec.QueueTokenItem] != rotated {
		t.Errorf("variable %s kept the old token", v.Path)
	}
	job, _, err := c.api.Jobs().Info(nomadexec.QueueJobID(qs[0].Name), nil)
	must(t, err)
	if job.Periodic == nil || *job.Periodic.Spec != "*/7 * * * *" {
		t.Errorf("schedule not updated: %+v", job.Periodic)
	}
	job, _, err = c.api.Jobs().Info(nomadexec.QueueJobID(qs[1].Name), nil)
	if err == nil && (job.Stop == nil || !*job.Stop) {
		t.Errorf("disabled queue %s still has a running job", qs[1].Name)
	}
	if v, _, err := c.api.Variables().Peek(nomadexec.QueueVarPath(qs[1].Name), nil); err != nil || v != nil {
		t.Errorf("disabled queue %s kept its token variable: %v %v", qs[1].Name, v != nil, err)
	}
}

// apiGet GETs url from the aegir API with token and decodes the answer.
func apiGet(t testing.TB, url, token string, v any) int {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	must(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	if resp.StatusCode == 200 {
		must(t, json.NewDecoder(resp.Body).Decode(v))
	}
	return resp.StatusCode
}

// taskEvents is what Nomad says happened to a task, for failure messages.
func taskEvents(ts *api.TaskState) string {
	if ts == nil {
		return "no task state"
	}
	var out []string
	for _, ev := range ts.Events {
		out = append(out, ev.Type+": "+ev.DisplayMessage)
	}
	return strings.Join(out, "; ")
}

// waitAllocDone follows a job's allocation with blocking queries until it ends.
func waitAllocDone(t testing.TB, c *cluster, jobID string) *api.AllocationListStub {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	var index uint64
	for time.Now().Before(deadline) {
		allocs, meta, err := c.api.Jobs().Allocations(jobID, true, &api.QueryOptions{WaitIndex: index, WaitTime: 10 * time.Second})
		must(t, err)
		index = meta.LastIndex
		for _, a := range allocs {
			switch a.ClientStatus {
			case api.AllocClientStatusComplete, api.AllocClientStatusFailed, api.AllocClientStatusLost:
				return a
			}
		}
	}
	t.Fatalf("job %s never ended", jobID)
	return nil
}

// A client agent stopped mid-task: the task ends failed (lost) within a
// bounded time, never stuck running. Its own cluster: the node stays down.
func TestNomadLostNode(t *testing.T) {
	t.Parallel()
	c := newCluster(t, testharness.NomadOptions{NodeNames: []string{"aegir-lost"}})
	b := setup(t, c, options{binary: fakeBackend(t), noVerify: true})
	b.start(t)
	tasks, _, err := b.st.ActiveTasks(context.Background())
	must(t, err)
	var id string
	for _, x := range tasks {
		if x.Type == domain.TaskVerifyServer {
			id = x.ID
		}
	}
	_, alloc := b.waitRunningAlloc(t, id)
	t.Cleanup(func() {
		for _, pid := range pidsOfAlloc(alloc.ID) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	c.nomad.StopClient(t, "aegir-lost")
	start := time.Now()
	done := b.waitTask(t, id, 3*time.Minute, func(t *domain.Task) bool { return t.Status.Done() })
	t.Logf("task ended %s %s after the client stopped: %s", done.Status, time.Since(start).Round(time.Second), done.Explanation)
	if done.Status != domain.TaskFailed || !strings.Contains(done.Explanation, "lost") || !strings.Contains(done.Explanation, "aegir-lost") {
		t.Errorf("task on a lost node: %s %q", done.Status, done.Explanation)
	}
}

// A client agent stopped mid-task while Redis (the bus: log lines, results,
// the abandoned mark) is down when aegir gives the task up: the task still
// fails (lost) within a bounded time, its dispatched job is purged all the
// same, its explanation says the back end is told to stop once Redis
// answers, and once Redis is back the abandoned mark is set (so a back end
// still running stops and removes what it made) and the dispatcher's log
// lines written meanwhile are in the task's archived log. Its own cluster
// and Redis: the node stays down and Redis is stopped.
func TestNomadLostNodeRedisDown(t *testing.T) {
	t.Parallel()
	c := newCluster(t, testharness.NomadOptions{NodeNames: []string{"aegir-lost"}})
	b := setup(t, c, options{binary: fakeBackend(t), noVerify: true,
		nomad: func(cfg *nomadexec.Config) { cfg.ResultRetry = 15 * time.Second }})
	b.start(t)
	tasks, _, err := b.st.ActiveTasks(context.Background())
	must(t, err)
	var id string
	for _, x := range tasks {
		if x.Type == domain.TaskVerifyServer {
			id = x.ID
		}
	}
	running, alloc := b.waitRunningAlloc(t, id)
	t.Cleanup(func() {
		for _, pid := range pidsOfAlloc(alloc.ID) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	c.nomad.StopClient(t, "aegir-lost")
	c.redis.Stop(t)
	start := time.Now()
	done := b.waitTask(t, id, 3*time.Minute, func(t *domain.Task) bool { return t.Status.Done() })
	t.Logf("task ended %s %s after the client and Redis stopped: %s", done.Status, time.Since(start).Round(time.Second), done.Explanation)
	if done.Status != domain.TaskFailed || !strings.Contains(done.Explanation, "lost") {
		t.Errorf("task on a lost node: %s %q", done.Status, done.Explanation)
	}
	for _, want := range []string{"once Redis answers again", "purged the dispatched job"} {
		if !strings.Contains(done.Explanation, want) {
			t.Errorf("explanation lacks %q: %s", want, done.Explanation)
		}
	}
	jobID := strings.TrimPrefix(running.Runner, "nomad:")
	if j, _, err := c.api.Jobs().Info(jobID, nil); err == nil && j.Stop != nil && !*j.Stop {
		t.Errorf("the given-up task's job %s is still registered, not stopped", jobID)
	}

	c.redis.Restart(t)
	back := time.Now()
	key := provision.AbandonedKey("", id)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		if n, err := c.rdb.Exists(context.Background(), key).Result(); err == nil && n == 1 {
			t.Logf("abandoned mark set %s after Redis came back", time.Since(back).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no abandoned mark %s a minute after Redis came back", key)
		}
	}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		lines, ok, err := b.d.Archive().Lines(context.Background(), id)
		if err == nil && ok {
			found := false
			for _, l := range lines {
				found = found || strings.HasPrefix(l.Msg, "aegir: task failed") && strings.Contains(l.Msg, "lost")
			}
			if !found {
				t.Errorf("the archived log lacks the dispatcher's last line:\n%v", lines)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the task's log was not archived two minutes after Redis came back: %v", err)
		}
	}
}
