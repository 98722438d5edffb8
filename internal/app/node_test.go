package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aegirhq/aegir/internal/config"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/logbus"
	"github.com/aegirhq/aegir/internal/testharness"
)

// TestServerOnNomadFollowsRunnersAgain builds the dispatcher exactly as
// `aegir server` with the Nomad executor does (openNode: the executor
// wrapped by the periodic queues' Observe) and proves that it hands tasks
// over and follows their runners again. Before, Observe's wrapper hid the
// Nomad executor's reattach methods from the dispatcher's type assertion,
// so a stopping server stopped following its jobs without handing them
// over, and the next one failed their tasks as "runner gone" without
// asking Nomad.
func TestServerOnNomadFollowsRunnersAgain(t *testing.T) {
	t.Parallel()
	// A Nomad that knows no jobs, recording the job lists it is asked for.
	var mu sync.Mutex
	var lists []string
	nomad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/jobs" {
			mu.Lock()
			lists = append(lists, r.URL.Query().Get("filter"))
			mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, "[]")
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(nomad.Close)
	redis := testharness.Redis(t) // the Nomad executor's results and the shared log bus
	env := map[string]string{
		"AEGIR_DATA_DIR": t.TempDir(), "AEGIR_STORE": "bolt", "AEGIR_EXECUTOR": "nomad", "AEGIR_SECRETS": "file",
		"AEGIR_REDIS_ADDR": redis.Addr, "NOMAD_ADDR": nomad.URL,
	}
	cfg, err := config.Load(config.ModeServer, "", func(k string) string { return env[k] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	n, err := openNode(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.close)

	if !n.disp.CanReattach() {
		t.Fatal("the server's dispatcher on Nomad cannot reattach: it would stop following its jobs on a clean stop instead of handing them over")
	}

	// A task an earlier process started and stopped before recording its
	// runner: the dispatcher asks Nomad for the job dispatched for it.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	task := runningTask(t, n)
	if err := n.disp.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	asked := strings.Join(lists, "\n")
	mu.Unlock()
	if !strings.Contains(asked, task.ID) {
		t.Fatalf("Recover did not ask Nomad for the job dispatched for task %s (job lists asked: %q)", task.ID, asked)
	}
	got, err := n.store.GetTask(ctx, task.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != domain.TaskFailed || !strings.Contains(got.Explanation, "Nomad has no job dispatched for the task") {
		t.Fatalf("task %s: %q; want failed because Nomad has no job for it", got.Status, got.Explanation)
	}
}

// TestNodeCloseSendsTheLastLogLines: the line the dispatcher writes last
// when a server stops (its note that it hands a running Nomad task over)
// reaches Redis before the node closes its bus and Redis client. Before,
// closing dropped whatever the log bus had not sent yet, a millisecond
// after that note, and TestServerOnNomadHandsOverOnStop found "handed
// over 0" in about one CI run in nine. Redis holds writes for a moment
// (CLIENT PAUSE WRITE), so the line is surely unsent when close starts.
func TestNodeCloseSendsTheLastLogLines(t *testing.T) {
	t.Parallel()
	srv := testharness.Redis(t)
	env := map[string]string{
		"AEGIR_DATA_DIR": t.TempDir(), "AEGIR_STORE": "bolt", "AEGIR_EXECUTOR": "local", "AEGIR_SECRETS": "file",
		"AEGIR_REDIS_ADDR": srv.Addr,
	}
	cfg, err := config.Load(config.ModeServer, "", func(k string) string { return env[k] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	n, err := openNode(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.close) // a no-op once closed
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	if err := rdb.Do(ctx, "CLIENT", "PAUSE", "500", "WRITE").Err(); err != nil {
		t.Fatal(err)
	}
	const note = "aegir: this aegir process is stopping; the back end keeps running"
	if _, err := n.bus.Append(ctx, "task-1", logbus.Line{Level: "info", Msg: note}); err != nil {
		t.Fatal(err)
	}
	n.close()
	lines, _, err := logbus.NewRedis(rdb, nil).Read(ctx, "task-1", "", 10, 0)
	if err != nil || len(lines) != 1 || lines[0].Msg != note {
		t.Fatalf("the task's log in Redis after close: %v, %v; want the line written just before", lines, err)
	}
}

// runningTask makes a site whose install is running without a recorded
// runner, as an aegir process that stopped right after starting it left it.
func runningTask(t *testing.T, n *node) *domain.Task {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	client := &domain.Client{Name: "acme"}
	must(n.store.CreateClient(ctx, client))
	server := &domain.Server{Name: "web1", Address: "127.0.0.1"}
	_, err := n.store.CreateServer(ctx, server, []domain.Service{
		{Kind: domain.KindBuiltin, Port: 8080},
		{Kind: domain.KindSQLite, Settings: map[string]string{"dir": "/srv/sqlite"}},
	}, "test")
	must(err)
	platform := &domain.Platform{Name: "p1", Path: "/srv/platforms/p1", WebServerID: server.ID, Type: domain.PlatformStatic}
	_, err = n.store.CreatePlatform(ctx, platform, "test")
	must(err)
	tasks, _, err := n.store.ActiveTasks(ctx)
	must(err)
	if len(tasks) == 0 {
		t.Fatal("no task queued")
	}
	task := tasks[0]
	must(n.store.StartTask(ctx, &task, "", 1))
	return &task
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
