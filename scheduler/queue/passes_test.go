package queue

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/locks"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/store/boltkv"
)

// handBundle is a store with enabled sites and no dispatcher: the tasks
// a pass queues stay queued until the test finishes them by hand, so a
// pass can be watched half-way.
type handBundle struct {
	st    *store.Store
	q     *Queues
	lk    *locks.Memory
	clock *testClock
	sites []*domain.Site
	kv    *FakeFailingKV
}

// FakeFailingKV is a real KV whose List fails, while failing is set, for
// prefixes that start with it.
type FakeFailingKV struct {
	store.KV
	failing atomic.Pointer[string]
}

func (f *FakeFailingKV) List(ctx context.Context, prefix string) ([]*store.Pair, uint64, error) {
	if p := f.failing.Load(); p != nil && strings.HasPrefix(prefix, *p) {
		return nil, 0, errors.New("FakeFailingKV: the store does not answer")
	}
	return f.KV.List(ctx, prefix)
}

func setupByHand(t *testing.T, n int) *handBundle {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	bolt, err := boltkv.Open(filepath.Join(t.TempDir(), "aegir.db"), &boltkv.Config{NoSync: true})
	must(t, err)
	kv := &FakeFailingKV{KV: bolt}
	st := store.New(kv, &store.Config{Logger: log})
	t.Cleanup(func() { _ = st.Close() })
	clock := &testClock{now: t0}
	lk := locks.NewMemory()
	q, err := New(Config{Store: st, Locker: lk, Logger: log, Now: clock.Now, Poll: 5 * time.Millisecond, Progress: 5 * time.Millisecond})
	must(t, err)
	t.Cleanup(q.Close) // before the store closes
	srv := &domain.Server{Name: "local", Address: "127.0.0.1"}
	_, err = st.CreateServer(ctx, srv, []domain.Service{{Kind: domain.KindBuiltin, Port: 8080}, {Kind: domain.KindSQLite}}, "test")
	must(t, err)
	p := &domain.Platform{Name: "static", Path: t.TempDir(), WebServerID: srv.ID, Type: domain.PlatformStatic}
	_, err = st.CreatePlatform(ctx, p, "test")
	must(t, err)
	client := &domain.Client{Name: "acme"}
	must(t, st.CreateClient(ctx, client))
	b := &handBundle{st: st, q: q, lk: lk, clock: clock, kv: kv}
	for i := range n {
		s := &domain.Site{Domain: "s" + strconv.Itoa(i) + ".example.com", PlatformID: p.ID, DBServerID: srv.ID, ClientID: client.ID}
		task, err := st.CreateSite(ctx, s, "test")
		must(t, err)
		must(t, st.StartTask(ctx, task, "test", 0))
		must(t, st.FinishTask(ctx, task, domain.TaskSucceeded, store.SetSiteStatus(s.ID, domain.SiteEnabled)))
		b.sites = append(b.sites, s)
	}
	return b
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// queued returns the queued tasks of typ.
func (b *handBundle) queued(t *testing.T, typ domain.TaskType) []domain.Task {
	t.Helper()
	all, _, err := b.st.ActiveTasks(context.Background())
	must(t, err)
	var out []domain.Task
	for _, task := range all {
		if task.Type == typ && task.Status == domain.TaskQueued {
			out = append(out, task)
		}
	}
	return out
}

// finish ends k queued tasks of typ as status, waiting for them to be
// queued first.
func (b *handBundle) finish(t *testing.T, typ domain.TaskType, k int, status domain.TaskStatus) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for k > 0 {
		ts := b.queued(t, typ)
		if len(ts) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("no queued %s task to finish", typ)
			}
			time.Sleep(5 * time.Millisecond)
			continue
		}
		for i := range ts[:min(k, len(ts))] {
			must(t, b.st.StartTask(ctx, &ts[i], "test", 0))
			must(t, b.st.FinishTask(ctx, &ts[i], status))
			k--
		}
	}
}

// waitPass polls the pass until ok holds.
// startWhenFree starts a pass of queue name once the previous one has let
// go of the queue's lock: a pass writes its final record before it
// releases the lock, so right after a pass reads done, a new one may still
// be told one is running.
func (b *handBundle) startWhenFree(t *testing.T, name string) *PassReport {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, err := b.q.StartPass(context.Background(), name)
		if err == nil {
			return p
		}
		if !errors.Is(err, ErrPassRunning) || time.Now().After(deadline) {
			t.Fatalf("start a %s pass: %v", name, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (b *handBundle) waitPass(t *testing.T, name, id string, what string, ok func(*PassReport) bool) *PassReport {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, err := b.q.Pass(context.Background(), name, id)
		must(t, err)
		if ok(p) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("pass %s: %s did not happen; last %+v", id, what, p)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A started pass runs in the background, with its progress in its
// record, no matter what becomes of the context that started it; a
// second start meanwhile names the running pass.
func TestStartPassRunsInTheBackground(t *testing.T) {
	t.Parallel()
	b := setupByHand(t, 4)
	ctx, cancel := context.WithCancel(context.Background())
	s, err := b.q.Settings(ctx, Cron)
	must(t, err)
	s.Interval, s.Concurrency = s.Frequency, 2
	_, err = b.q.PutSettings(ctx, Cron, s)
	must(t, err)

	p, err := b.q.StartPass(ctx, Cron)
	must(t, err)
	cancel() // the client went away: the pass goes on
	if p.State != PassRunning || p.ID == "" || p.Queue != Cron {
		t.Fatalf("started pass %+v", p)
	}
	_, err = b.q.StartPass(context.Background(), Cron)
	var running *PassRunningError
	if !errors.As(err, &running) || running.PassID != p.ID || !errors.Is(err, ErrPassRunning) || !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("second start: %v", err)
	}
	if _, err := b.q.RunPass(context.Background(), Cron); !errors.Is(err, ErrPassRunning) {
		t.Fatalf("RunPass during a started pass: %v", err)
	}

	b.finish(t, domain.TaskCron, 1, domain.TaskSucceeded)
	b.finish(t, domain.TaskCron, 1, domain.TaskFailed)
	mid := b.waitPass(t, Cron, p.ID, "half-way progress", func(r *PassReport) bool { return r.Done == 2 })
	if mid.State != PassRunning || mid.Due != 4 || mid.Succeeded != 1 || mid.Failed != 1 || !mid.Finished.IsZero() {
		t.Fatalf("half-way: %+v", mid)
	}
	st, err := b.q.Status(context.Background(), Cron)
	must(t, err)
	if st.Current == nil || st.Current.ID != p.ID {
		t.Fatalf("status while running: current %+v", st.Current)
	}
	raw, err := json.Marshal(mid)
	must(t, err)
	if strings.Contains(string(raw), `"finished"`) {
		t.Errorf("a running pass reports a finish time: %s", raw)
	}

	b.finish(t, domain.TaskCron, 2, domain.TaskSucceeded)
	end := b.waitPass(t, Cron, p.ID, "the end", func(r *PassReport) bool { return r.State != PassRunning })
	if end.State != PassDone || end.Done != 4 || end.Succeeded != 3 || end.Failed != 1 || end.Finished.IsZero() {
		t.Fatalf("ended: %+v", end)
	}
	// The pass ran once: one cron task per site.
	tasks, err := b.st.ListTasks(context.Background(), store.TaskFilter{Type: domain.TaskCron})
	must(t, err)
	if tasks.Total != 4 {
		t.Errorf("%d cron tasks, want 4", tasks.Total)
	}
	st, err = b.q.Status(context.Background(), Cron)
	must(t, err)
	if st.Current != nil || st.LastPass == nil || st.LastPass.ID != p.ID || st.LastPass.State != PassDone {
		t.Fatalf("status after: current %+v last %+v", st.Current, st.LastPass)
	}
	// The lock is free again (just after the record says done: the pass
	// writes its end before it lets go of the lock).
	var p2 *PassReport
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		if p2, err = b.q.StartPass(context.Background(), Cron); !errors.Is(err, ErrPassRunning) || time.Now().After(deadline) {
			break
		}
	}
	must(t, err)
	b.waitPass(t, Cron, p2.ID, "an empty pass's end", func(r *PassReport) bool { return r.State == PassDone && r.Due == 0 })
	all, err := b.q.Passes(context.Background(), Cron)
	must(t, err)
	if len(all) != 2 || all[0].ID != p2.ID || all[1].ID != p.ID {
		t.Fatalf("passes, newest first: %+v", all)
	}
}

// Close interrupts the started passes and waits for them to record how
// far they got; a closed Queues starts none.
func TestCloseInterruptsStartedPasses(t *testing.T) {
	t.Parallel()
	b := setupByHand(t, 3)
	ctx := context.Background()
	s, err := b.q.Settings(ctx, Stats)
	must(t, err)
	s.Interval = s.Frequency
	_, err = b.q.PutSettings(ctx, Stats, s)
	must(t, err)
	p, err := b.q.StartPass(ctx, Stats)
	must(t, err)
	b.finish(t, domain.TaskStats, 1, domain.TaskSucceeded)
	b.waitPass(t, Stats, p.ID, "one site done", func(r *PassReport) bool { return r.Done == 1 })
	b.q.Close()
	end, err := b.q.Pass(ctx, Stats, p.ID)
	must(t, err)
	if end.State != PassInterrupted || end.Done != 1 || end.Succeeded != 1 || end.Error == "" || end.Finished.IsZero() {
		t.Fatalf("interrupted pass: %+v", end)
	}
	runs, err := b.q.Runs(ctx, Stats)
	must(t, err)
	if len(runs) != 1 {
		t.Errorf("%d runs recorded, want the 1 that ran", len(runs))
	}
	if _, err := b.q.StartPass(ctx, Stats); !errors.Is(err, ErrClosed) {
		t.Errorf("start after Close: %v", err)
	}
	// The lock was released: a pass runs (synchronously) again, once the
	// tasks the stopped pass left to the dispatcher have ended.
	b.finish(t, domain.TaskStats, 2, domain.TaskSucceeded)
	done := make(chan error, 1)
	go func() { _, err := b.q.RunPass(ctx, Stats); done <- err }()
	b.finish(t, domain.TaskStats, 2, domain.TaskSucceeded)
	must(t, <-done)
}

// A pass whose process died stops reporting: readers see it lost once
// 2 × LockTTL passed, and the next pass marks its record lost for good.
// Old records are pruned to KeepPasses.
func TestLostPassesAndPruning(t *testing.T) {
	t.Parallel()
	b := setupByHand(t, 0)
	ctx := context.Background()
	// A pass that took the lock and died: its record says running.
	p, err := b.q.begin(ctx, Cron)
	must(t, err)
	if got, err := b.q.Pass(ctx, Cron, p.rep.ID); err != nil || got.State != PassRunning {
		t.Fatalf("fresh pass: %+v %v", got, err)
	}
	b.clock.Add(2*time.Minute + time.Second)
	got, err := b.q.Pass(ctx, Cron, p.rep.ID)
	must(t, err)
	if got.State != PassLost || got.Error == "" {
		t.Fatalf("silent pass: %+v", got)
	}
	if st, err := b.q.Status(ctx, Cron); err != nil || st.Current != nil {
		t.Fatalf("a lost pass is not current: %+v %v", st, err)
	}
	// Its lease ran out (here: revoked, as an expired Redis key is gone).
	b.lk.Revoke("queue/" + Cron)
	rep, err := b.q.RunPass(ctx, Cron)
	must(t, err)
	var rec PassReport
	_, ok, err := b.q.getJSON(ctx, store.QueuePasses(Cron).Key(p.rep.ID), &rec)
	if err != nil || !ok || rec.State != PassLost {
		t.Fatalf("dead pass after the next one: %+v %v %v", rec, ok, err)
	}
	// The dead pass cannot overwrite what the next pass wrote.
	p.update(func(r *PassReport) { r.State = PassDone })
	must(t, b.q.savePass(ctx, p))
	if got, _ := b.q.Pass(ctx, Cron, p.rep.ID); got.State != PassLost {
		t.Fatalf("a dead pass's late write landed: %+v", got)
	}

	for range KeepPasses + 3 {
		_, err := b.q.RunPass(ctx, Cron)
		must(t, err)
	}
	all, err := b.q.Passes(ctx, Cron)
	must(t, err)
	if len(all) != KeepPasses {
		t.Fatalf("%d pass records kept, want %d", len(all), KeepPasses)
	}
	if _, err := b.q.Pass(ctx, Cron, rep.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("pruned pass: %v", err)
	}
	for _, bad := range [][2]string{{"mail", rep.ID}, {Cron, "../settings"}, {Cron, ""}} {
		if _, err := b.q.Pass(ctx, bad[0], bad[1]); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("Pass(%q, %q): %v", bad[0], bad[1], err)
		}
	}
}

// A pass that cannot read the store ends failed, says why, and lets go of
// the lock.
func TestFailedPass(t *testing.T) {
	t.Parallel()
	b := setupByHand(t, 1)
	ctx := context.Background()
	prefix := "platforms/"
	b.kv.failing.Store(&prefix)
	rep, err := b.q.RunPass(ctx, Cron)
	if err == nil || rep == nil || rep.State != PassFailed || !strings.Contains(rep.Error, "does not answer") || rep.Finished.IsZero() {
		t.Fatalf("pass on a failing store: %+v %v", rep, err)
	}
	if got, err := b.q.Pass(ctx, Cron, rep.ID); err != nil || got.State != PassFailed {
		t.Fatalf("its record: %+v %v", got, err)
	}
	b.kv.failing.Store(nil)
	if _, err := b.q.StartPass(ctx, Cron); err != nil {
		t.Fatalf("the next pass: %v", err)
	}
}
