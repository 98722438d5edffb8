package nomadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/testharness"
	"github.com/aegirhq/aegir/scheduler/dispatch"
	"github.com/aegirhq/aegir/scheduler/nomadexec"
)

// benchCount reads a count from the environment, so CI runs a small
// version and a full run sets e.g. AEGIR_BENCH_LATENCY_TASKS=100.
func benchCount(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// backEndStart is when the back end of a finished task logged its first
// line: `aegir provision` running.
func (b *bundle) backEndStart(tb testing.TB, id string) time.Time {
	tb.Helper()
	lines, _, err := b.d.TaskLogs().Read(context.Background(), id, "", 1000, 0)
	must(tb, err)
	for _, l := range lines {
		if !strings.HasPrefix(l.Msg, "aegir: ") {
			return l.Time
		}
	}
	tb.Fatalf("task %s: no line from the back end", id)
	return time.Time{}
}

// stages splits queued → back end started through Nomad: queued → job
// dispatched (aegir: queue watch, lock, context, start record, dispatch
// call), dispatched → task started (Nomad: placement, the client starting
// the task), task started → first line (the aegir binary starting).
type stages struct{ aegir, nomad, binary []time.Duration }

// latencies queues n verify-server tasks one after another, alternating
// the servers, and returns queued → back end started for each; with st,
// also each one's stages (Nomad runs only).
func (b *bundle) latencies(tb testing.TB, n int, st *stages) []time.Duration {
	ctx := context.Background()
	var servers []*domain.Server
	for _, s := range b.servers {
		servers = append(servers, s)
	}
	var out []time.Duration
	for i := range n {
		t0 := time.Now()
		task, err := b.st.RequestServerTask(ctx, servers[i%len(servers)].ID, domain.TaskVerifyServer, "bench")
		b.succeed(tb, task, err)
		first := b.backEndStart(tb, task.ID)
		out = append(out, first.Sub(t0))
		if st != nil {
			done, err := b.st.GetTask(ctx, task.ID)
			must(tb, err)
			jobID := strings.TrimPrefix(done.Runner, "nomad:")
			job, _, err := b.c.api.Jobs().Info(jobID, nil)
			must(tb, err)
			started := taskStarted(tb, b.c, jobID)
			submitted := time.Unix(0, *job.SubmitTime)
			st.aegir = append(st.aegir, submitted.Sub(t0))
			st.nomad = append(st.nomad, started.Sub(submitted))
			st.binary = append(st.binary, first.Sub(started))
		}
	}
	return out
}

// taskStarted is when Nomad started the task of a dispatched job's
// allocation.
func taskStarted(tb testing.TB, c *cluster, jobID string) time.Time {
	tb.Helper()
	a := waitAllocDone(tb, c, jobID)
	for _, st := range a.TaskStates {
		if !st.StartedAt.IsZero() {
			return st.StartedAt
		}
	}
	tb.Fatalf("job %s: no task started: %+v", jobID, a)
	return time.Time{}
}

// bareAegirDispatch dispatches the aegir-task job of a server directly
// (what `nomad job dispatch` does), with the context aegir would send,
// n times, and returns dispatch → back end started (its first log line),
// the same end point as latencies: the floor for aegir's Nomad path.
func (b *bundle) bareAegirDispatch(tb testing.TB, n int) []time.Duration {
	tb.Helper()
	ctx := context.Background()
	var servers []*domain.Server
	for _, s := range b.servers {
		servers = append(servers, s)
	}
	var out []time.Duration
	for i := range n {
		srv := servers[i%len(servers)]
		task := domain.Task{ID: domain.NewID(), Type: domain.TaskVerifyServer, TargetKind: domain.TargetServer, TargetID: srv.ID, TargetName: srv.Name}
		pc, err := dispatch.BuildContext(ctx, b.st, task, b.env)
		must(tb, err)
		pc.Env.LogSink, pc.Env.ResultSink, pc.Env.RedisAddr = "redis", "redis", b.c.redis.Addr
		payload, err := json.Marshal(pc)
		must(tb, err)
		t0 := time.Now()
		resp, _, err := b.c.api.Jobs().DispatchOpts(&api.DispatchOptions{JobID: nomadexec.TaskJobID(srv.Name),
			Meta: map[string]string{"task_id": task.ID}, Payload: payload}, nil)
		must(tb, err)
		waitAllocDone(tb, b.c, resp.DispatchedJobID)
		lines, _, err := b.bus.Read(ctx, task.ID, "", 1000, 0)
		must(tb, err)
		if len(lines) == 0 {
			tb.Fatalf("bare dispatch %s: the back end logged nothing", resp.DispatchedJobID)
		}
		out = append(out, lines[0].Time.Sub(t0))
	}
	return out
}

// BenchmarkNomadDispatchLatency: task queued → `aegir provision` started,
// through the dispatcher and Nomad, next to the floor (a bare dispatch of
// a parameterized raw_exec job running /bin/true, to its task start) and
// next to the local executor, all in the same run.
//
//	AEGIR_BENCH_LATENCY_TASKS=100 go test -run '^$' -bench NomadDispatchLatency -benchtime 1x ./scheduler/nomadexec/nomadtest/
func BenchmarkNomadDispatchLatency(b *testing.B) {
	n := benchCount("AEGIR_BENCH_LATENCY_TASKS", 20)
	c := newCluster(b, testharness.NomadOptions{})
	nomadB := setup(b, c, options{})
	localB := setup(b, c, options{local: true, nodes: []string{"aegir-a"}})
	var viaNomad, bareAegir, floor, local []time.Duration
	var st stages
	for b.Loop() {
		viaNomad = append(viaNomad, nomadB.latencies(b, n, &st)...)
		bareAegir = append(bareAegir, nomadB.bareAegirDispatch(b, n)...)
		floor = append(floor, bareDispatch(b, c, n)...)
		local = append(local, localB.latencies(b, n, nil)...)
	}
	for _, m := range []struct {
		name string
		d    []time.Duration
	}{
		{"nomad", viaNomad}, {"bare-aegir-dispatch", bareAegir}, {"bare-noop-dispatch", floor}, {"local", local},
		{"stage-aegir", st.aegir}, {"stage-nomad", st.nomad}, {"stage-binary", st.binary},
	} {
		b.ReportMetric(ms(percentile(m.d, 0.50)), m.name+"-p50-ms")
		b.ReportMetric(ms(percentile(m.d, 0.99)), m.name+"-p99-ms")
	}
	// The goal: aegir's path within 1.2× of dispatching its job by hand.
	b.ReportMetric(float64(percentile(viaNomad, 0.50))/float64(percentile(bareAegir, 0.50)), "ratio-p50")
	b.ReportMetric(float64(percentile(viaNomad, 0.99))/float64(percentile(bareAegir, 0.99)), "ratio-p99")
}

// bareDispatch registers a parameterized no-op job and measures dispatch →
// task started, n times: Nomad's own floor.
func bareDispatch(tb testing.TB, c *cluster, n int) []time.Duration {
	tb.Helper()
	job := api.NewBatchJob("bench-noop", "bench-noop", "global", 50)
	job.Datacenters = []string{"dc1"}
	job.ParameterizedJob = &api.ParameterizedJobConfig{Payload: "optional"}
	tg := api.NewTaskGroup("noop", 1)
	tg.RestartPolicy = &api.RestartPolicy{Attempts: new(int), Mode: new(string)}
	*tg.RestartPolicy.Mode = "fail"
	task := api.NewTask("noop", "raw_exec")
	task.Config = map[string]any{"command": "/bin/true"}
	task.Resources = &api.Resources{CPU: new(int), MemoryMB: new(int)}
	*task.Resources.CPU, *task.Resources.MemoryMB = 20, 16
	tg.AddTask(task)
	job.AddTaskGroup(tg)
	_, _, err := c.api.Jobs().Register(job, nil)
	must(tb, err)
	var out []time.Duration
	for range n {
		t0 := time.Now()
		resp, _, err := c.api.Jobs().Dispatch("bench-noop", nil, nil, "", nil)
		must(tb, err)
		a := waitAllocDone(tb, c, resp.DispatchedJobID)
		st := a.TaskStates["noop"]
		if st == nil || st.StartedAt.IsZero() {
			tb.Fatalf("no-op dispatch never started: %+v", a)
		}
		out = append(out, st.StartedAt.Sub(t0))
	}
	return out
}

// BenchmarkNomadThroughput: many tasks at once across two nodes through
// the executor (MaxInFlight 50, the rest queued by aegir), tasks/s, and
// the Nomad server's RSS before, after, and after purging the children.
//
//	AEGIR_BENCH_THROUGHPUT_TASKS=500 go test -run '^$' -bench NomadThroughput -benchtime 1x ./scheduler/nomadexec/nomadtest/
func BenchmarkNomadThroughput(b *testing.B) {
	n := benchCount("AEGIR_BENCH_THROUGHPUT_TASKS", 50)
	ctx := context.Background()
	c := newCluster(b, testharness.NomadOptions{})
	bd := setup(b, c, options{nomad: func(cfg *nomadexec.Config) { cfg.PurgeAfter = time.Nanosecond }})
	pid := nomadServerPID(b, c)
	var servers []domain.Server
	for _, s := range bd.servers {
		servers = append(servers, *s)
	}
	rssBefore, heapBefore := rssKiB(b, pid), heapMiB(b, c)
	var elapsed time.Duration
	for b.Loop() {
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				srv := servers[i%len(servers)]
				task := domain.Task{ID: domain.NewID(), Type: domain.TaskVerifyServer, TargetKind: domain.TargetServer, TargetID: srv.ID, TargetName: srv.Name}
				pc, err := dispatch.BuildContext(ctx, bd.st, task, bd.env)
				if err != nil {
					errs <- err
					return
				}
				pctx, err := dispatch.EncodeContext(pc)
				if err != nil {
					errs <- err
					return
				}
				run, err := bd.exec.Start(ctx, task, pctx)
				if err != nil {
					errs <- err
					return
				}
				res, err := run.Wait()
				if err == nil && res.Status != domain.TaskSucceeded {
					err = fmt.Errorf("task %s: %s", res.Status, res.Explanation)
				}
				if err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		elapsed += time.Since(start)
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
	}
	rssAfter, heapAfter := rssKiB(b, pid), heapMiB(b, c)
	purged, err := bd.exec.Purge(ctx)
	must(b, err)
	must(b, c.api.System().GarbageCollect())
	time.Sleep(11 * time.Second) // the server's metrics sink aggregates over 10s intervals
	rssPurged, heapPurged := rssKiB(b, pid), heapMiB(b, c)
	b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "tasks/s")
	b.ReportMetric(float64(rssBefore)/1024, "server-rss-before-MiB")
	b.ReportMetric(float64(rssAfter)/1024, "server-rss-after-MiB")
	b.ReportMetric(float64(rssPurged)/1024, "server-rss-purged-MiB")
	b.ReportMetric(float64(purged), "purged-jobs")
	// RSS shows what the OS sees (Go keeps freed memory); the live heap
	// shows what the purge freed.
	b.ReportMetric(heapBefore, "server-heap-before-MiB")
	b.ReportMetric(heapAfter, "server-heap-after-MiB")
	b.ReportMetric(heapPurged, "server-heap-purged-MiB")
}

// nomadServerPID finds the cluster's server agent: the `nomad agent`
// process whose config file is a server's with the cluster's HTTP port.
func nomadServerPID(tb testing.TB, c *cluster) int {
	tb.Helper()
	port := c.nomad.Addr[strings.LastIndexByte(c.nomad.Addr, ':')+1:]
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(bytes.TrimRight(cmd, "\x00")), "\x00")
		i := slices.Index(args, "-config")
		if len(args) < 3 || args[1] != "agent" || i < 0 || i+1 >= len(args) {
			continue
		}
		conf, err := os.ReadFile(args[i+1])
		if err == nil && bytes.Contains(conf, []byte("bootstrap_expect")) && bytes.Contains(conf, []byte("http = "+port+"\n")) {
			return pid
		}
	}
	tb.Fatal("nomad server agent process not found")
	return 0
}

func rssKiB(tb testing.TB, pid int) int {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	must(tb, err)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	tb.Fatal("no VmRSS")
	return 0
}

// heapMiB is the Nomad server's live Go heap (nomad.runtime.alloc_bytes).
func heapMiB(tb testing.TB, c *cluster) float64 {
	tb.Helper()
	m, _, err := c.api.Operator().MetricsSummary(nil)
	must(tb, err)
	for _, g := range m.Gauges {
		if strings.HasSuffix(g.Name, "runtime.alloc_bytes") {
			return float64(g.Value) / (1 << 20)
		}
	}
	tb.Fatal("no runtime.alloc_bytes gauge in the server's metrics")
	return 0
}
