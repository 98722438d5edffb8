package cli

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aegirhq/aegir/dashboard"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/locks"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/store/boltkv"
	"github.com/aegirhq/aegir/scheduler/queue"
)

// queueAPI is the real API with real queues on bbolt and two enabled
// sites, and no dispatcher: the tasks a pass queues wait until the test
// ends them, as the dispatcher would.
type queueAPI struct {
	st    *store.Store
	sites []*domain.Site
	env   map[string]string // AEGIR_ADDR, and AEGIR_TOKEN: the queue jobs' token
	admin string            // an admin's token
}

func setupQueueAPI(t *testing.T) *queueAPI {
	t.Helper()
	ctx := context.Background()
	kv, err := boltkv.Open(filepath.Join(t.TempDir(), "aegir.db"), &boltkv.Config{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := store.New(kv, &store.Config{Logger: quiet})
	t.Cleanup(func() { _ = st.Close() })
	q, err := queue.New(queue.Config{Store: st, Locker: locks.NewMemory(), Logger: quiet, Poll: 5 * time.Millisecond, Progress: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)
	srv, err := dashboard.New(&dashboard.Config{Store: st, Logger: quiet, Queues: q})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	admin, _, err := st.EnsureAdmin(ctx)
	must(err)
	_, secret, err := queue.NewJobToken(ctx, st)
	must(err)
	qa := &queueAPI{st: st, admin: admin, env: map[string]string{"AEGIR_ADDR": ln.Addr().String(), "AEGIR_TOKEN": secret}}
	cl := &domain.Client{Name: "acme"}
	must(st.CreateClient(ctx, cl))
	web := &domain.Server{Name: "local", Address: "127.0.0.1"}
	_, err = st.CreateServer(ctx, web, []domain.Service{{Kind: domain.KindBuiltin, Port: 8080}, {Kind: domain.KindSQLite}}, "test")
	must(err)
	p := &domain.Platform{Name: "static", Path: t.TempDir(), WebServerID: web.ID, Type: domain.PlatformStatic}
	_, err = st.CreatePlatform(ctx, p, "test")
	must(err)
	for _, d := range []string{"a.example.com", "b.example.com"} {
		s := &domain.Site{Domain: d, PlatformID: p.ID, DBServerID: web.ID, ClientID: cl.ID}
		task, err := st.CreateSite(ctx, s, "test")
		must(err)
		must(st.StartTask(ctx, task, "test", 0))
		must(st.FinishTask(ctx, task, domain.TaskSucceeded, store.SetSiteStatus(s.ID, domain.SiteEnabled)))
		qa.sites = append(qa.sites, s)
	}
	// Every site in every pass.
	for _, name := range []string{queue.Cron, queue.Stats} {
		set, err := q.Settings(ctx, name)
		must(err)
		set.Interval = set.Frequency
		_, err = q.PutSettings(ctx, name, set)
		must(err)
	}
	return qa
}

// finishTasks ends each queued task of typ as status until stop is
// closed, as the dispatcher would.
func (qa *queueAPI) finishTasks(t *testing.T, typ domain.TaskType, status domain.TaskStatus) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			p, err := qa.st.ListTasks(ctx, store.TaskFilter{Type: typ, Status: domain.TaskQueued})
			if err == nil {
				for i := range p.Items {
					if qa.st.StartTask(ctx, &p.Items[i], "test", 0) == nil {
						_ = qa.st.FinishTask(ctx, &p.Items[i], status)
					}
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return func() { cancel(); <-done }
}

// `aegir queue run`, as the Nomad queue job runs it with the queue jobs'
// token, waits for the pass it started and reports its outcome;
// -no-wait returns at once and `queue pass -wait` follows the pass.
func TestQueueRunWaitsForThePass(t *testing.T) {
	t.Parallel()
	qa := setupQueueAPI(t)
	b := &bundle{t: t, env: qa.env}

	stop := qa.finishTasks(t, domain.TaskCron, domain.TaskSucceeded)
	r := b.run("queue", "run", "cron").want(t, ExitOK)
	stop()
	contains(t, "stdout", r.stdout, "queue cron pass ", " done: 2 eligible, 2 due", "2 succeeded, 0 failed")
	contains(t, "stderr", r.stderr, "Started pass ")

	// -no-wait: the pass runs on without the command.
	r = b.run("queue", "run", "stats", "-no-wait").want(t, ExitOK)
	contains(t, "stdout", r.stdout, "Started pass ", "follow it with: aegir queue pass stats ")
	id := strings.Fields(r.stdout)[2]
	if !domain.ValidID(id) {
		t.Fatalf("no pass id in %q", r.stdout)
	}
	// While it runs, a second start is refused and says what to follow,
	// and an admin sees it in the queue's overview.
	r = b.run("queue", "run", "stats").want(t, ExitFailed)
	contains(t, "stderr", r.stderr, "already running", "aegir queue pass stats "+id+" -wait")
	admin := &bundle{t: t, env: map[string]string{"AEGIR_ADDR": qa.env["AEGIR_ADDR"], "AEGIR_TOKEN": qa.admin}}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(r.stdout, `"due": 2`); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the pass was not planned: %s", r.stdout)
		}
		r = b.run("queue", "pass", "stats", id, "-json").want(t, ExitOK)
	}
	r = admin.run("queue", "show", "stats").want(t, ExitOK)
	contains(t, "stdout", r.stdout, "running pass", id+" since ")
	r = admin.run("queue", "list").want(t, ExitOK)
	contains(t, "stdout", r.stdout, "running 0/2")
	r = admin.run("queue", "pass", "stats").want(t, ExitOK)
	contains(t, "stdout", r.stdout, id, "running", "0/2 sites")
	// An operator's own queue user, for queue jobs run by hand.
	admin.run("user", "create", "my-queues", "-role", "queue", "-client", "acme").want(t, ExitUsage)
	admin.run("user", "create", "my-queues", "-role", "queue").want(t, ExitOK)
	r = admin.run("token", "create", "-user", "my-queues", "-q").want(t, ExitOK)
	mine := &bundle{t: t, env: map[string]string{"AEGIR_ADDR": qa.env["AEGIR_ADDR"], "AEGIR_TOKEN": strings.TrimSpace(r.stdout)}}
	r = mine.run("queue", "pass", "stats", id).want(t, ExitOK)
	contains(t, "stdout", r.stdout, "running")
	mine.run("token", "list").want(t, ExitForbidden)
	// A failed site fails the command, once the pass has ended.
	stop = qa.finishTasks(t, domain.TaskStats, domain.TaskFailed)
	r = b.run("queue", "pass", "stats", id, "-wait").want(t, ExitFailed)
	stop()
	contains(t, "stdout", r.stdout, "state", "done", "2/2 sites (0 succeeded, 2 failed, 0 skipped)")
	contains(t, "stderr", r.stderr, "2 sites failed in the stats pass")
	// The queue token reads nothing else.
	r = b.run("queue", "pass", "stats").want(t, ExitForbidden) // the pass list is admins'
	r = b.run("site", "list").want(t, ExitForbidden)
	contains(t, "stderr", r.stderr, "forbidden")
}

// Following a pass rides out a flaky API, and a pass that ends other than
// done fails the command with the reason.
func TestQueueRunFollowsThroughFailures(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const id = "06h17z8c4w2m0a1b2c3d"
	started := queue.PassReport{ID: id, Queue: "backup", State: queue.PassRunning, Started: time.Now().UTC()}
	b.api.on("POST", "/queues/backup/run", 202, started)
	var polls atomic.Int32
	b.api.handle("GET", "/queues/backup/passes/"+id, func(w http.ResponseWriter, r *http.Request) {
		switch n := polls.Add(1); {
		case n <= 2:
			writeJSON(w, 503, apiErr("unavailable", "the store did not answer in time"))
		case n <= 4:
			p := started
			p.Due, p.Eligible, p.Done, p.Succeeded = 10, 10, int(n), int(n)
			writeJSON(w, 200, p)
		default:
			p := started
			p.State, p.Error, p.Due, p.Done = queue.PassLost, "the aegir process running this pass stopped reporting", 10, 4
			writeJSON(w, 200, p)
		}
	})
	r := b.run("queue", "run", "backup").want(t, ExitFailed)
	contains(t, "stderr", r.stderr, "backup pass "+id+": 3/10 sites", "ended lost: the aegir process running this pass stopped reporting")

	// An API that is gone for good: the pass goes on there, and the
	// message says how to pick it up again.
	b2 := setup(t)
	b2.api.on("POST", "/queues/backup/run", 202, started)
	b2.api.on("GET", "/queues/backup/passes/"+id, 502, apiErr("http_502", "bad gateway"))
	r = b2.run("queue", "run", "backup").want(t, ExitUnreachable)
	contains(t, "stderr", r.stderr, "lost track of pass "+id, "aegir queue pass backup "+id+" -wait")
	if n := len(b2.api.requests("POST", "/queues/backup/run")); n != 1 {
		t.Errorf("the pass was started %d times", n)
	}
}

// A pass the server could not start because Consul or Redis was away
// (503 store_unavailable or bus_unavailable) is asked for again with
// backoff; other errors, and -retry 0, are answered at once.
func TestQueueRunRetriesAStartAnOutageRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const id = "06h17z8c4w2m0a1b2c3d"
	started := queue.PassReport{ID: id, Queue: "stats", State: queue.PassRunning, Started: time.Now().UTC()}
	var posts atomic.Int32
	b.api.handle("POST", "/queues/stats/run", func(w http.ResponseWriter, r *http.Request) {
		switch posts.Add(1) {
		case 1:
			writeJSON(w, 503, apiErr("store_unavailable", "the store is unavailable"))
		case 2:
			writeJSON(w, 503, apiErr("bus_unavailable", "the lock service (Redis) did not answer"))
		default:
			writeJSON(w, 202, started)
		}
	})
	done := started
	done.State = queue.PassDone
	b.api.on("GET", "/queues/stats/passes/"+id, 200, done)
	r := b.run("queue", "run", "stats").want(t, ExitOK)
	contains(t, "stderr", r.stderr, "could not start (the store is unavailable); asking again")
	if n := posts.Load(); n != 3 {
		t.Errorf("%d POSTs, want 3", n)
	}

	b2 := setup(t)
	b2.api.on("POST", "/queues/stats/run", 503, apiErr("store_unavailable", "the store is unavailable"))
	b2.run("queue", "run", "-retry", "0", "stats").want(t, ExitFailed)
	b2.api.on("POST", "/queues/cron/run", 500, apiErr("internal", "internal error"))
	b2.run("queue", "run", "cron").want(t, ExitFailed)
	if n := len(b2.api.requests("POST", "/queues/stats/run")) + len(b2.api.requests("POST", "/queues/cron/run")); n != 2 {
		t.Errorf("%d POSTs, want 2 (no retry)", n)
	}
}
