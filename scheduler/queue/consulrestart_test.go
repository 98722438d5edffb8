package queue

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/locks"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/store/consulkv"
	"github.com/aegirhq/aegir/internal/testharness"
)

// A real Consul (keeping its data on disk) stops the moment the pass
// has seen its site's task end, so the pass's end — its runs, its record,
// the last pass — meets the outage; Consul comes back 3 s later (longer
// than the store's read retry). The pass ends done with the site's run
// recorded, not failed and not lost, and the next pass starts.
func TestPassEndsOverConsulRestart(t *testing.T) {
	t.Parallel()
	consul := testharness.ConsulPersistent(t)
	kv, err := consulkv.New(consulkv.Config{Address: consul.HTTPAddr, Prefix: testharness.UniquePrefix(t)})
	must(t, err)
	logs := &logRecorder{t: t}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	st := store.New(kv, &store.Config{Logger: log, ReadRetry: time.Second})
	t.Cleanup(func() { _ = st.Close() })
	ctx := context.Background()
	site := seedSite(t, st)

	// The pass reads the clock for the site's run right after it saw the
	// task end: that is when Consul goes.
	var armed atomic.Bool
	stopped := make(chan struct{})
	now := func() time.Time {
		if armed.CompareAndSwap(true, false) {
			consul.Stop()
			close(stopped)
		}
		return time.Now()
	}
	q, err := New(Config{Store: st, Locker: locks.NewMemory(), Logger: log, Now: now,
		Poll: 50 * time.Millisecond, Progress: time.Minute, EndRetry: time.Minute})
	must(t, err)
	t.Cleanup(q.Close)

	type result struct {
		rep *PassReport
		err error
	}
	ended := make(chan result, 1)
	go func() {
		rep, err := q.RunPass(ctx, Stats)
		ended <- result{rep, err}
	}()
	task := waitQueued(t, st, domain.TaskStats)
	armed.Store(true)
	must(t, st.StartTask(ctx, &task, "test", 0))
	must(t, st.FinishTask(ctx, &task, domain.TaskSucceeded))
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("the pass never saw its task end")
	}
	began := time.Now()
	consul.Restart(t, 3*time.Second)
	t.Logf("Consul back after %s", time.Since(began).Round(time.Millisecond))

	var res result
	select {
	case res = <-ended:
	case <-time.After(90 * time.Second):
		t.Fatal("the pass did not end within 90 s of Consul's restart")
	}
	if res.err != nil || res.rep.State != PassDone || res.rep.Succeeded != 1 {
		t.Fatalf("pass over a Consul restart: %+v, %v", res.rep, res.err)
	}
	if !logs.has("failed; retrying once the store answers") {
		t.Error("the pass's end never met the outage; the test did not test it")
	}
	got, err := q.Pass(ctx, Stats, res.rep.ID)
	if err != nil || got.State != PassDone || got.Finished.IsZero() {
		t.Fatalf("its record after the restart: %+v, %v", got, err)
	}
	runs, err := q.Runs(ctx, Stats)
	must(t, err)
	if r := runs[site.ID]; !r.OK || r.TaskID != task.ID {
		t.Fatalf("the site's run: %+v", r)
	}
	go func() {
		rep, err := q.RunPass(ctx, Stats)
		ended <- result{rep, err}
	}()
	select {
	case res = <-ended:
	case <-time.After(30 * time.Second):
		t.Fatal("the next pass did not end")
	}
	if res.err != nil || res.rep.State != PassDone {
		t.Fatalf("the next pass: %+v, %v", res.rep, res.err)
	}
}

// seedSite creates one enabled static site in st.
func seedSite(t *testing.T, st *store.Store) *domain.Site {
	t.Helper()
	ctx := context.Background()
	srv := &domain.Server{Name: "local", Address: "127.0.0.1"}
	_, err := st.CreateServer(ctx, srv, []domain.Service{{Kind: domain.KindBuiltin, Port: 8080}, {Kind: domain.KindSQLite}}, "test")
	must(t, err)
	p := &domain.Platform{Name: "static", Path: t.TempDir(), WebServerID: srv.ID, Type: domain.PlatformStatic}
	_, err = st.CreatePlatform(ctx, p, "test")
	must(t, err)
	client := &domain.Client{Name: "acme"}
	must(t, st.CreateClient(ctx, client))
	s := &domain.Site{Domain: "s0.example.com", PlatformID: p.ID, DBServerID: srv.ID, ClientID: client.ID}
	task, err := st.CreateSite(ctx, s, "test")
	must(t, err)
	must(t, st.StartTask(ctx, task, "test", 0))
	must(t, st.FinishTask(ctx, task, domain.TaskSucceeded, store.SetSiteStatus(s.ID, domain.SiteEnabled)))
	return s
}

// waitQueued waits for a queued task of typ and returns it.
func waitQueued(t *testing.T, st *store.Store, typ domain.TaskType) domain.Task {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		all, _, err := st.ActiveTasks(context.Background())
		must(t, err)
		for _, task := range all {
			if task.Type == typ && task.Status == domain.TaskQueued {
				return task
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %s task queued", typ)
	return domain.Task{}
}
