package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/locks"
	"github.com/aegirhq/aegir/internal/logbus"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/store/boltkv"
	"github.com/aegirhq/aegir/scheduler/internal/fakebackend"
	"github.com/aegirhq/aegir/scheduler/localexec"
)

// bundle is what a dispatcher test needs: a real store on bbolt, the
// in-process bus and locker, a FakeBackend executor and the records a site
// needs (client, a server with builtin http and sqlite db, a platform).
type bundle struct {
	st       *store.Store
	bus      *logbus.Memory
	locker   *locks.Memory
	exec     *localexec.Executor
	d        *Dispatcher
	dir      string // the FakeBackend's AEGIR_FAKE_DIR
	client   *domain.Client
	server   *domain.Server
	platform *domain.Platform
	n        atomic.Int64
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func newStore(t testing.TB) *store.Store {
	t.Helper()
	kv, err := boltkv.Open(filepath.Join(t.TempDir(), "aegir.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(kv, &store.Config{Logger: testLogger(t)})
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// setup builds the bundle with the FakeBackend in mode. The seed tasks
// (verify-server, verify-platform) are finished directly, so a dispatcher
// sees only the tasks the test queues.
func setup(t testing.TB, mode string, configure ...func(*Config)) *bundle {
	t.Helper()
	ctx := context.Background()
	b := &bundle{st: newStore(t), bus: logbus.NewMemory(nil), locker: locks.NewMemory(), dir: t.TempDir()}
	b.exec = fakeExecutor(t, b.bus, mode, b.dir)
	b.client = &domain.Client{Name: "acme"}
	must(t, b.st.CreateClient(ctx, b.client))
	b.server = &domain.Server{Name: "local", Address: "127.0.0.1"}
	_, err := b.st.CreateServer(ctx, b.server, []domain.Service{
		{Kind: domain.KindBuiltin, Port: 8080},
		{Kind: domain.KindSQLite, Settings: map[string]string{"dir": "/srv/sqlite"}},
	}, "test")
	must(t, err)
	b.platform = &domain.Platform{Name: "p1", Path: "/srv/platforms/p1", WebServerID: b.server.ID, Type: domain.PlatformStatic}
	_, err = b.st.CreatePlatform(ctx, b.platform, "test")
	must(t, err)
	b.settle(t)
	cfg := Config{
		Store: b.st, Executor: b.exec, Bus: b.bus, Locker: b.locker, Logger: testLogger(t),
		Env: provision.EnvInfo{DataDir: "/srv/aegir", BackupDir: "/srv/aegir/backups", SecretsBackend: "file"},
	}
	for _, f := range configure {
		f(&cfg)
	}
	b.d, err = New(cfg)
	must(t, err)
	return b
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// settle finishes every active task as the back end would have, without
// running anything.
func (b *bundle) settle(t testing.TB) {
	t.Helper()
	fakebackend.Settle(t, b.st)
	p, err := b.st.GetPlatform(context.Background(), b.platform.ID)
	must(t, err)
	b.platform = p
}

// newSite creates a site (queueing its install) and returns it and the task.
func (b *bundle) newSite(t testing.TB) (*domain.Site, *domain.Task) {
	t.Helper()
	site := &domain.Site{
		Domain:     fmt.Sprintf("site%d.example.com", b.n.Add(1)),
		PlatformID: b.platform.ID, DBServerID: b.server.ID, ClientID: b.client.ID,
	}
	task, err := b.st.CreateSite(context.Background(), site, "test")
	must(t, err)
	return site, task
}

// start runs the dispatcher until the test ends.
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

// waitTask waits until the task satisfies ok and returns it.
func (b *bundle) waitTask(t testing.TB, id string, ok func(*domain.Task) bool) *domain.Task {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		task, err := b.st.GetTask(context.Background(), id)
		must(t, err)
		if ok(task) {
			return task
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s is still %s (runner %q)", id, task.Status, task.Runner)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitDone waits until the task has finished and its log is archived
// (and deleted from the live bus).
func (b *bundle) waitDone(t testing.TB, id string) *domain.Task {
	t.Helper()
	task := b.waitTask(t, id, func(t *domain.Task) bool { return t.Status.Done() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, ok, err := b.d.archive.Lines(context.Background(), id)
		must(t, err)
		_, _, liveErr := b.bus.Read(context.Background(), id, "", 1, 0)
		if ok && errors.Is(liveErr, logbus.ErrNoLog) {
			return task
		}
		if time.Now().After(deadline) {
			t.Fatalf("log of task %s never archived", id)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (b *bundle) release(t testing.TB) {
	t.Helper()
	must(t, os.WriteFile(filepath.Join(b.dir, "release"), nil, 0o600))
}

// releaseHandedOver releases the gate for task id's back end, which the
// test handed over (no dispatcher of the test waits for it), and waits
// until it has ended: it writes id.end into the bundle's directory, and
// a write after the test's cleanup began removing that directory failed
// the test ("directory not empty").
func (b *bundle) releaseHandedOver(t testing.TB, id string) {
	t.Helper()
	b.release(t)
	if !b.started(id) {
		return
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(b.dir, id+".end")); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("the handed-over back end of task %s did not end within 30 s of its release", id)
			return
		}
	}
}

// started reports whether the FakeBackend (gate mode) started task id.
func (b *bundle) started(id string) bool {
	_, err := os.Stat(filepath.Join(b.dir, id+".start"))
	return err == nil
}

func (b *bundle) waitStarted(t testing.TB, id string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !b.started(id) {
		if time.Now().After(deadline) {
			t.Fatalf("back end of task %s never started", id)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (b *bundle) site(t testing.TB, id string) *domain.Site {
	t.Helper()
	s, err := b.st.GetSite(context.Background(), id)
	must(t, err)
	return s
}

// logText reads a task's whole log (archive or live) as "level msg" lines.
func (b *bundle) logText(t testing.TB, id string) []string {
	t.Helper()
	lines, _, err := b.d.TaskLogs().Read(context.Background(), id, "", 100000, 0)
	must(t, err)
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.Level + " " + l.Msg
	}
	return out
}
