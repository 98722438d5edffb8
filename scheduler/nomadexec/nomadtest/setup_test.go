// Package nomadtest tests the Nomad executor end to end: a real Nomad
// cluster (one server, clients aegir-a and aegir-b with raw_exec), real
// Redis, a real bbolt store, and the real aegir binary as the back end.
// It is its own package because it needs its own TestMain (building
// aegir), while the scheduler package's TestMain plays a fake back end.
package nomadtest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
	"github.com/redis/go-redis/v9"

	"github.com/aegirhq/aegir/internal/builtinweb"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/locks"
	"github.com/aegirhq/aegir/internal/logbus"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/store/boltkv"
	"github.com/aegirhq/aegir/internal/testharness"
	"github.com/aegirhq/aegir/scheduler/dispatch"
	"github.com/aegirhq/aegir/scheduler/localexec"
	"github.com/aegirhq/aegir/scheduler/nomadexec"
)

// aegirBin is the real aegir binary the Nomad clients run: built once in
// TestMain, or $AEGIR_TEST_BIN when set (a binary CI already built).
var aegirBin string

func TestMain(m *testing.M) {
	if bin := os.Getenv("AEGIR_TEST_BIN"); bin != "" {
		aegirBin = bin
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "aegir-nomadtest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	aegirBin = filepath.Join(dir, "aegir")
	build := exec.Command("go", "build", "-o", aegirBin, "github.com/aegirhq/aegir")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build aegir:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// cluster is what several tests share: one Nomad cluster, one Redis.
type cluster struct {
	nomad *testharness.NomadCluster
	redis *testharness.RedisServer
	rdb   *redis.Client
	api   *api.Client
	n     atomic.Int64 // names servers uniquely across the tests sharing it
}

func newCluster(t testing.TB, opts testharness.NomadOptions) *cluster {
	t.Helper()
	c := &cluster{nomad: testharness.Nomad(t, opts), redis: testharness.Redis(t)}
	c.rdb = redis.NewClient(&redis.Options{Addr: c.redis.Addr, ContextTimeoutEnabled: true, PoolSize: 64})
	t.Cleanup(func() { _ = c.rdb.Close() })
	ac := api.DefaultConfig()
	ac.Address = c.nomad.HTTPAddr
	var err error
	c.api, err = api.NewClient(ac)
	must(t, err)
	return c
}

// bundle is one aegir installation on the cluster: a bbolt store, the
// Redis bus, a Nomad executor and a dispatcher, a data dir shared by the
// nodes (they are on this machine), a builtin web server on its routes,
// and one aegir server with a static platform per Nomad node.
type bundle struct {
	c         *cluster
	st        *store.Store
	bus       *logbus.BufferedBus
	exec      *nomadexec.Executor
	ncfg      nomadexec.Config // exec's, for a second executor (a crashed process's)
	d         *dispatch.Dispatcher
	dataDir   string
	env       provision.EnvInfo
	webAddr   string
	client    *domain.Client
	servers   map[string]*domain.Server   // by node name
	platforms map[string]*domain.Platform // by node name
	n         atomic.Int64
}

type options struct {
	nodes    []string // default the cluster's
	binary   string   // default the real aegir
	noVerify bool     // leave the seed tasks queued and don't start the dispatcher
	local    bool     // the local executor (child processes) instead of Nomad, for comparison
	nomad    func(*nomadexec.Config)
}

func setup(t testing.TB, c *cluster, o options) *bundle {
	t.Helper()
	ctx := context.Background()
	if o.nodes == nil {
		for _, n := range c.nomad.Nodes {
			o.nodes = append(o.nodes, n.Name)
		}
	}
	b := &bundle{c: c, servers: map[string]*domain.Server{}, platforms: map[string]*domain.Platform{}}
	root := t.TempDir()
	b.dataDir = filepath.Join(root, "data")
	must(t, os.MkdirAll(b.dataDir, 0o755))

	kv, err := boltkv.Open(filepath.Join(root, "aegir.db"), nil)
	must(t, err)
	b.st = store.New(kv, &store.Config{Logger: testLogger(t)})
	t.Cleanup(func() { _ = b.st.Close() })

	web, err := builtinweb.New(builtinweb.Config{RoutesDir: builtinweb.RoutesDir(b.dataDir), ReloadInterval: 10 * time.Millisecond})
	must(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	go func() { _ = web.Serve(ln) }()
	t.Cleanup(func() { _ = ln.Close() })
	b.webAddr = ln.Addr().String()
	port := ln.Addr().(*net.TCPAddr).Port

	b.bus = logbus.NewBufferedBus(logbus.NewRedis(c.rdb, nil), nil)
	t.Cleanup(b.bus.Close)
	ncfg := nomadexec.Config{
		Address: c.nomad.HTTPAddr, Binary: cmpStr(o.binary, aegirBin), DataDir: b.dataDir,
		RedisAddr: c.redis.Addr, Results: nomadexec.NewRedisResults(c.rdb, ""), Bus: b.bus,
		PlacementTimeout: 20 * time.Second, Logger: testLogger(t),
	}
	if o.nomad != nil {
		o.nomad(&ncfg)
	}
	b.ncfg = ncfg
	b.exec, err = nomadexec.New(ncfg)
	must(t, err)
	var executor dispatch.Executor = b.exec
	if o.local {
		executor, err = localexec.New(localexec.Config{Binary: aegirBin, Bus: b.bus, Logger: testLogger(t)})
		must(t, err)
	}
	b.env = provision.EnvInfo{DataDir: b.dataDir, BackupDir: filepath.Join(b.dataDir, "backups"), SecretsBackend: "file"}
	b.d, err = dispatch.New(dispatch.Config{
		Store: b.st, Executor: executor, Bus: b.bus, Locker: locks.NewMemory(), Logger: testLogger(t),
		MaxParallel: 16, TaskTimeout: 5 * time.Minute, Env: b.env,
	})
	must(t, err)

	b.client = &domain.Client{Name: "acme"}
	must(t, b.st.CreateClient(ctx, b.client))
	id := c.n.Add(1)
	for _, node := range o.nodes {
		srv := &domain.Server{Name: fmt.Sprintf("t%d-%s", id, node), Address: "127.0.0.1", NomadNode: node}
		_, err := b.st.CreateServer(ctx, srv, []domain.Service{
			{Kind: domain.KindBuiltin, Port: port},
			{Kind: domain.KindSQLite},
		}, "test")
		must(t, err)
		b.servers[node] = srv
		path := filepath.Join(root, "platforms", node)
		copyDir(t, testharness.PlatformFixture("static"), path)
		p := &domain.Platform{Name: "static-" + node, Path: path, WebServerID: srv.ID, Type: domain.PlatformStatic}
		_, err = b.st.CreatePlatform(ctx, p, "test")
		must(t, err)
		b.platforms[node] = p
	}
	if o.noVerify {
		return b
	}
	b.start(t)
	b.waitIdle(t)
	for node, p := range b.platforms {
		p, err := b.st.GetPlatform(ctx, p.ID)
		must(t, err)
		if p.Status != domain.PlatformReady {
			t.Fatalf("platform on %s is %s after its verify task", node, p.Status)
		}
		b.platforms[node] = p
	}
	return b
}

func cmpStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (b *bundle) start(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- b.d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// waitIdle waits until no task is queued or running, and fails the test
// if one of them failed.
func (b *bundle) waitIdle(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		all, err := b.st.ListTasks(context.Background(), store.TaskFilter{})
		must(t, err)
		active := 0
		for _, task := range all.Items {
			if !task.Status.Done() {
				active++
			}
		}
		if active == 0 {
			for _, task := range all.Items {
				if task.Status != domain.TaskSucceeded {
					t.Fatalf("task %s (%s on %s) %s: %s", task.ID, task.Type, task.TargetName, task.Status, task.Explanation)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d tasks still active", active)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitTask waits until the task satisfies ok, for at most d.
func (b *bundle) waitTask(t testing.TB, id string, d time.Duration, ok func(*domain.Task) bool) *domain.Task {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		task, err := b.st.GetTask(context.Background(), id)
		must(t, err)
		if ok(task) {
			return task
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s is still %s after %s (runner %q)", id, task.Status, d, task.Runner)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (b *bundle) waitDone(t testing.TB, id string) *domain.Task {
	t.Helper()
	return b.waitTask(t, id, 2*time.Minute, func(t *domain.Task) bool { return t.Status.Done() })
}

func (b *bundle) succeed(t testing.TB, task *domain.Task, err error) *domain.Task {
	t.Helper()
	must(t, err)
	done := b.waitDone(t, task.ID)
	if done.Status != domain.TaskSucceeded {
		t.Fatalf("%s of %s %s: %s", done.Type, done.TargetName, done.Status, done.Explanation)
	}
	return done
}

// newSite queues the install of a site on the platform of node.
func (b *bundle) newSite(t testing.TB, node string) (*domain.Site, *domain.Task) {
	t.Helper()
	site := &domain.Site{
		Domain:     fmt.Sprintf("site%d-%s.example.com", b.n.Add(1), node),
		PlatformID: b.platforms[node].ID, DBServerID: b.servers[node].ID, ClientID: b.client.ID,
	}
	task, err := b.st.CreateSite(context.Background(), site, "test")
	must(t, err)
	return site, task
}

// allocOf is the allocation of the dispatched job named by a task's runner.
func (c *cluster) allocOf(t testing.TB, runner string) *api.AllocationListStub {
	t.Helper()
	jobID, ok := strings.CutPrefix(runner, "nomad:")
	if !ok {
		t.Fatalf("runner %q is not a Nomad dispatch", runner)
	}
	allocs, _, err := c.api.Jobs().Allocations(jobID, true, nil)
	must(t, err)
	if len(allocs) != 1 {
		t.Fatalf("dispatched job %s has %d allocations, want 1", jobID, len(allocs))
	}
	return allocs[0]
}

// get fetches path of domain from the builtin web server.
func (b *bundle) get(t testing.TB, domain, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+b.webAddr+path, nil)
	must(t, err)
	req.Host = domain
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, data, 0o644)
	})
	must(t, err)
}

// fakeBackend writes a shell script standing in for aegir on the nodes: it
// logs a line and sleeps, so a test can kill it or lose its node mid-task.
func fakeBackend(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sleepy-aegir")
	script := "#!/bin/sh\necho '{\"level\":\"info\",\"msg\":\"fake back end sleeping\"}' >&2\nexec sleep 120\n"
	must(t, os.WriteFile(p, []byte(script), 0o755))
	return p
}

// pidsOfAlloc finds the processes of an allocation by NOMAD_ALLOC_ID in
// their environment.
func pidsOfAlloc(allocID string) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	needle := []byte("NOMAD_ALLOC_ID=" + allocID + "\x00")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err == nil && strings.Contains(string(env), string(needle)) {
			out = append(out, pid)
		}
	}
	return out
}

// waitRunningAlloc waits until the task runs and its allocation is running.
func (b *bundle) waitRunningAlloc(t testing.TB, id string) (*domain.Task, *api.AllocationListStub) {
	t.Helper()
	task := b.waitTask(t, id, time.Minute, func(t *domain.Task) bool { return t.Status == domain.TaskRunning && t.Runner != "" })
	deadline := time.Now().Add(time.Minute)
	for {
		a := b.c.allocOfMaybe(task.Runner)
		if a != nil && a.ClientStatus == api.AllocClientStatusRunning && len(pidsOfAlloc(a.ID)) > 0 {
			return task, a
		}
		if time.Now().After(deadline) {
			t.Fatalf("allocation of task %s never ran", id)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *cluster) allocOfMaybe(runner string) *api.AllocationListStub {
	jobID, _ := strings.CutPrefix(runner, "nomad:")
	allocs, _, err := c.api.Jobs().Allocations(jobID, true, nil)
	if err != nil || len(allocs) == 0 {
		return nil
	}
	return allocs[0]
}

// eventually gets / of domain until it answers want (any non-200 for 0),
// for at most 2s, and returns the last status.
func (b *bundle) eventually(t testing.TB, domain string, want int) int {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		code, _ := b.get(t, domain, "/")
		if code == want || (want == 0 && code != 200) || time.Now().After(deadline) {
			return code
		}
		time.Sleep(20 * time.Millisecond)
	}
}
