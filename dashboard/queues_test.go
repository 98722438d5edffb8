package dashboard

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aegirhq/aegir/dashboard/web"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/locks"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/scheduler/queue"
)

func withQueues(t *testing.T) func(c *Config) {
	return func(c *Config) {
		q, err := queue.New(queue.Config{Store: c.Store, Locker: locks.NewMemory(), Logger: c.Logger,
			Poll: 5 * time.Millisecond, Progress: 5 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(q.Close) // before the store closes
		c.Queues = q
	}
}

func setupQueues(t *testing.T) *bundle { return setup(t, withQueues(t)) }

// waitPass GETs a pass (at url, as token) until it is no longer running.
func (b *bundle) waitPass(url, token string) queue.PassReport {
	b.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, body := b.do("GET", url, token, "", nil)
		var p queue.PassReport
		if res.StatusCode != 200 {
			b.t.Fatalf("GET %s: %d %s", url, res.StatusCode, body)
		}
		decodeJSON(b.t, body, &p)
		if p.State != queue.PassRunning {
			return p
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("pass %s still running: %s", url, body)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// finishQueued ends the queued task of typ on site as the dispatcher would,
// once a pass has queued it.
func (b *bundle) finishQueued(siteID string, typ domain.TaskType, status domain.TaskStatus) {
	b.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, err := b.st.ListTasks(context.Background(), store.TaskFilter{TargetID: siteID, Type: typ, Status: domain.TaskQueued, Limit: 1})
		if err != nil {
			b.t.Fatal(err)
		}
		if len(p.Items) == 1 {
			b.finish(&p.Items[0], status)
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("no queued %s task on %s", typ, siteID)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestQueuesAPI(t *testing.T) {
	t.Parallel()
	b := setupQueues(t)
	// No site is enabled yet, so a pass has nothing to wait for.
	res, body := b.do("POST", "/api/v1/queues/backup/run", "admin", "", nil)
	if res.StatusCode != 202 || !strings.Contains(string(body), `"state":"running"`) || !strings.HasPrefix(res.Header.Get("Location"), "/api/v1/queues/backup/passes/") {
		t.Fatalf("run: %d %s (Location %q)", res.StatusCode, body, res.Header.Get("Location"))
	}
	if p := b.waitPass(res.Header.Get("Location"), "admin"); p.State != queue.PassDone || p.Due != 0 {
		t.Fatalf("empty pass: %+v", p)
	}
	b.enable(b.siteA.ID)
	// A backup of site A with its archive on disk.
	archive := filepath.Join(t.TempDir(), "a.tar.zst")
	if err := os.WriteFile(archive, []byte("zstd archive bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	bk := &domain.Backup{SiteID: b.siteA.ID, ClientID: b.siteA.ClientID, Domain: b.siteA.Domain, Path: archive, Size: 18, SHA256: "abc", Reason: "manual"}
	task, err := b.st.RequestSiteTask(t.Context(), b.siteA.ID, domain.TaskBackup, nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	b.finish(task, domain.TaskSucceeded, store.AddBackup(bk))
	b.ids["backup"] = bk.ID

	cases := []struct {
		name, method, url, token, body string
		status                         int
		contains                       string
	}{
		{"list", "GET", "/api/v1/queues", "admin", "", 200, `"name":"backup"`},
		{"list: admins only", "GET", "/api/v1/queues", "alice", "", 403, "forbidden"},
		{"show", "GET", "/api/v1/queues/cron", "admin", "", 200, `"eligible":1`},
		{"show: unknown queue", "GET", "/api/v1/queues/mail", "admin", "", 404, "not_found"},
		{"set", "PUT", "/api/v1/queues/cron", "admin", `{"enabled":true,"frequency":"2h","interval":"10m","concurrency":4,"version":0}`, 200, `"frequency":"2h0m0s"`},
		{"set: stale version", "PUT", "/api/v1/queues/cron", "admin", `{"enabled":true,"frequency":"2h","version":0}`, 409, "conflict"},
		{"set: invalid", "PUT", "/api/v1/queues/stats", "admin", `{"frequency":"1h","interval":"2h","version":0}`, 400, "interval"},
		{"set: bad duration", "PUT", "/api/v1/queues/stats", "admin", `{"frequency":"soon","version":0}`, 400, ""},
		{"set: clients may not", "PUT", "/api/v1/queues/cron", "alice", `{"version":0}`, 404, "not_found"},
		{"run: clients may not", "POST", "/api/v1/queues/backup/run", "alice", "", 404, "not_found"},
		{"passes", "GET", "/api/v1/queues/backup/passes", "admin", "", 200, `"state":"done"`},
		{"passes: clients may not", "GET", "/api/v1/queues/backup/passes", "alice", "", 404, "not_found"},
		{"pass: unknown", "GET", "/api/v1/queues/backup/passes/00000000000000000000", "admin", "", 404, "not_found"},
		{"pass: unknown queue", "GET", "/api/v1/queues/mail/passes/00000000000000000000", "admin", "", 404, "not_found"},
		{"pass: clients may not", "GET", "/api/v1/queues/backup/passes/00000000000000000000", "alice", "", 404, "not_found"},
		{"queue user: no clients", "POST", "/api/v1/users", "admin", `{"name":"q2","role":"queue","client_ids":["{clientA}"]}`, 400, "client_ids"},
		{"queue user", "POST", "/api/v1/users", "admin", `{"name":"q1","role":"queue"}`, 201, `"role":"queue"`},
		{"fleet stats", "GET", "/api/v1/stats", "admin", "", 200, `"points":[]`},
		{"site stats", "GET", "/api/v1/sites/{siteA}/stats", "alice", "", 200, `"cron":[]`},
		{"site stats: another client's site", "GET", "/api/v1/sites/{siteB}/stats", "alice", "", 404, "not_found"},
		{"backup", "GET", "/api/v1/backups/{backup}", "alice", "", 200, `"reason":"manual"`},
		{"backup: another client's", "GET", "/api/v1/backups/{backup}", "bob", "", 404, "not_found"},
		{"download", "GET", "/api/v1/backups/{backup}/download", "alice", "", 200, "zstd archive bytes"},
		{"download: another client's", "GET", "/api/v1/backups/{backup}/download", "bob", "", 404, "not_found"},
		{"delete queues delete-backup", "DELETE", "/api/v1/backups/{backup}", "alice", "", 202, `"type":"delete-backup"`},
	}
	for _, c := range cases {
		res, body := b.do(c.method, c.url, c.token, c.body, nil)
		if res.StatusCode != c.status || !strings.Contains(string(body), c.contains) {
			t.Errorf("%s: %d %s, want %d containing %q", c.name, res.StatusCode, body, c.status, c.contains)
		}
	}
}

func TestQueuesUnavailableWithoutQueues(t *testing.T) {
	t.Parallel()
	b := setup(t)
	res, body := b.do("GET", "/api/v1/queues", "admin", "", nil)
	if res.StatusCode != 503 {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
}

// A pass through the API with the queue jobs' token (role queue): 202 at
// once, progress while it runs, 409 naming the running pass to a second
// start, and the outcome once its sites are done. The pass is the API's,
// not the request's: it goes on after the client has gone.
func TestQueuePassWithQueueToken(t *testing.T) {
	t.Parallel()
	b := setupQueues(t)
	b.listen()
	ctx := context.Background()
	_, secret, err := queue.NewJobToken(ctx, b.st)
	if err != nil {
		t.Fatal(err)
	}
	b.toks["queue"] = secret
	b.enable(b.siteA.ID)
	b.enable(b.siteB.ID)
	if res, body := b.do("PUT", "/api/v1/queues/cron", "admin", `{"enabled":true,"frequency":"1h","interval":"1h","version":0}`, nil); res.StatusCode != 200 {
		t.Fatalf("every site a pass: %d %s", res.StatusCode, body)
	}

	// The client hangs up as soon as the answer's headers arrive.
	req, _ := http.NewRequest("POST", "http://"+b.url+"/api/v1/queues/cron/run", nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	loc := res.Header.Get("Location")
	if res.StatusCode != 202 || !strings.HasPrefix(loc, "/api/v1/queues/cron/passes/") {
		t.Fatalf("run: %d, Location %q", res.StatusCode, loc)
	}
	res2, body := b.do("POST", "/api/v1/queues/cron/run", "queue", "", nil)
	if res2.StatusCode != 409 || !strings.Contains(string(body), `"code":"conflict"`) || res2.Header.Get("Location") != loc {
		t.Fatalf("second run: %d %s (Location %q, want %q)", res2.StatusCode, body, res2.Header.Get("Location"), loc)
	}
	b.finishQueued(b.siteA.ID, domain.TaskCron, domain.TaskSucceeded)
	var mid queue.PassReport
	for deadline := time.Now().Add(10 * time.Second); mid.Done < 1 && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		_, body := b.do("GET", loc, "queue", "", nil)
		decodeJSON(t, body, &mid)
	}
	if mid.State != queue.PassRunning || mid.Done != 1 || mid.Due != 2 || mid.Succeeded != 1 {
		t.Fatalf("half-way: %+v", mid)
	}
	if _, body := b.do("GET", "/api/v1/queues/cron", "admin", "", nil); !strings.Contains(string(body), `"current":{"id":"`+mid.ID) {
		t.Errorf("the queue's overview does not show the running pass: %s", body)
	}
	b.finishQueued(b.siteB.ID, domain.TaskCron, domain.TaskFailed)
	end := b.waitPass(loc, "queue")
	if end.State != queue.PassDone || end.Done != 2 || end.Succeeded != 1 || end.Failed != 1 || end.Finished.IsZero() {
		t.Fatalf("end: %+v", end)
	}
	if p, _ := b.st.ListTasks(ctx, store.TaskFilter{Type: domain.TaskCron}); p.Total != 2 {
		t.Errorf("%d cron tasks: the pass ran more than once", p.Total)
	}
}

// The queue token gets 403 on every route but the two a queue pass needs,
// and changes nothing: the route table is the list, so a route added
// later is refused unless it says otherwise.
func TestQueueTokenScope(t *testing.T) {
	t.Parallel()
	b := setupQueues(t)
	ctx := context.Background()
	_, secret, err := queue.NewJobToken(ctx, b.st)
	if err != nil {
		t.Fatal(err)
	}
	b.toks["queue"] = secret
	b.enable(b.siteA.ID)
	allowed := map[string]bool{"POST /queues/:id/run": true, "GET /queues/:id/passes/:pass": true}
	before := b.dump()
	n := 0
	for _, r := range b.srv.Routes() {
		key := r.Method + " " + r.Path
		if allowed[key] != r.QueueToken {
			t.Errorf("%s: queueToken %v, want %v", key, r.QueueToken, allowed[key])
		}
		if r.Public || r.QueueToken {
			continue
		}
		n++
		url := "/api/v1" + strings.NewReplacer(":id", b.siteA.ID, ":pass", "00000000000000000000").Replace(r.Path)
		if strings.HasPrefix(r.Path, "/queues/:id") {
			url = "/api/v1" + strings.NewReplacer(":id", "cron", ":pass", "00000000000000000000").Replace(r.Path)
		}
		body := ""
		if r.Method == "POST" || r.Method == "PUT" {
			body = `{"name":"evil","role":"admin","type":"delete"}`
		}
		res, out := b.do(r.Method, url, "queue", body, nil)
		if res.StatusCode != 403 || !strings.Contains(string(out), `"code":"forbidden"`) {
			t.Errorf("%s %s with the queue token: %d %s, want 403 forbidden", r.Method, url, res.StatusCode, out)
		}
	}
	if n < 40 {
		t.Errorf("only %d routes checked", n)
	}
	after := b.dump()
	for k, v := range after {
		if before[k] != v {
			t.Errorf("the store changed under the queue token: %s", k)
		}
	}
	// What it may do, it can.
	res, _ := b.do("POST", "/api/v1/queues/stats/run", "queue", "", nil)
	if res.StatusCode != 202 {
		t.Fatalf("run with the queue token: %d", res.StatusCode)
	}
	b.finishQueued(b.siteA.ID, domain.TaskStats, domain.TaskSucceeded)
	if p := b.waitPass(res.Header.Get("Location"), "queue"); p.State != queue.PassDone || p.Succeeded != 1 {
		t.Fatalf("stats pass with the queue token: %+v", p)
	}
	// A queue user has no password, so no dashboard session either.
	u, err := b.st.UserByName(ctx, queue.JobUser)
	if err != nil {
		t.Fatal(err)
	}
	if err := web.SetPassword(ctx, b.st, u, "correct horse battery"); err == nil {
		t.Error("a queue user got a dashboard password")
	}
}

// The queues page starts a pass without waiting for it and shows its
// progress, which the page script follows at /live/.
func TestUIQueuePassProgress(t *testing.T) {
	t.Parallel()
	b := uiSetup(t, withQueues(t))
	b.enable(b.siteA.ID)
	w := loggedIn(t, b, "admin")
	w.get("/queues")
	res, _ := w.post("/queues/cron/run", nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("run: %d", res.StatusCode)
	}
	_, page := w.follow(res)
	if !strings.Contains(page, "Started a pass of the cron queue") || !strings.Contains(page, `data-live-pass="/live/queues/cron/passes/`) {
		t.Fatalf("queues page after run lacks the running pass: %s", page)
	}
	live := page[strings.Index(page, `data-live-pass="`)+len(`data-live-pass="`):]
	live = live[:strings.IndexByte(live, '"')]
	if res, body := w.get(live); res.StatusCode != 200 || !strings.Contains(body, `"state":"running"`) {
		t.Fatalf("live pass: %d %s", res.StatusCode, body)
	}
	res, _ = w.post("/queues/cron/run", nil)
	if _, body := w.follow(res); !strings.Contains(body, "already running") {
		t.Errorf("a second run while one runs: no error shown")
	}
	alice := loggedIn(t, b, "alice")
	if res, _ := alice.get(live); res.StatusCode != 404 {
		t.Errorf("alice following a pass: %d", res.StatusCode)
	}
	b.finishQueued(b.siteA.ID, domain.TaskCron, domain.TaskSucceeded)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		_, body := w.get(live)
		if strings.Contains(body, `"state":"done"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pass did not end: %s", body)
		}
	}
	if _, page := w.get("/queues"); strings.Contains(page, "data-live-pass") {
		t.Errorf("the ended pass still shows as running")
	}
}

// The dashboard edits a queue user without turning it into another role.
func TestUIEditsQueueUser(t *testing.T) {
	t.Parallel()
	b := uiSetup(t, withQueues(t))
	ctx := context.Background()
	if _, _, err := queue.NewJobToken(ctx, b.st); err != nil {
		t.Fatal(err)
	}
	u, err := b.st.UserByName(ctx, queue.JobUser)
	if err != nil {
		t.Fatal(err)
	}
	w := loggedIn(t, b, "admin")
	if _, page := w.get("/users/" + u.ID); !strings.Contains(page, `<option value="queue" selected>`) {
		t.Fatalf("the user page does not show the queue role")
	}
	res, _ := w.post("/users/"+u.ID, url.Values{"version": {itoa(u.Version)}, "name": {u.Name}, "email": {"ops@example.com"}, "role": {"queue"}})
	if _, page := w.follow(res); strings.Contains(page, "flash-error") {
		t.Fatalf("saving the queue user: %s", page)
	}
	if u, err = b.st.UserByName(ctx, queue.JobUser); err != nil || u.Role != domain.RoleQueue || u.Email != "ops@example.com" {
		t.Fatalf("queue user after the form: %+v %v", u, err)
	}
}
