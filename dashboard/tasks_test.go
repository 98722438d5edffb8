package dashboard

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aegirhq/aegir/dashboard/api"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/logbus"
)

// FakeTaskLogs is a feed injection for the log endpoint's own tests: it
// serves a fixed list of lines for one task, so the tests can check the SSE
// framing, Last-Event-ID resumption and the end event without a back end
// producing a log. The real log bus has its own tests.
type FakeTaskLogs struct {
	mu     sync.Mutex
	taskID string
	lines  []logbus.Line
	ended  bool
	reads  int
}

func (f *FakeTaskLogs) feed(taskID string, n int, ended bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.taskID, f.ended = taskID, ended
	for i := 1; i <= n; i++ {
		f.lines = append(f.lines, logbus.Line{ID: itoa(uint64(i)) + "-0", Time: time.Unix(int64(i), 0).UTC(), Level: "info", Msg: "line " + itoa(uint64(i))})
	}
}

// Read returns the lines after afterID ("<n>-0" ids, compared by n).
func (f *FakeTaskLogs) Read(ctx context.Context, taskID, afterID string, max int, wait time.Duration) ([]logbus.Line, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if taskID != f.taskID {
		return nil, false, logbus.ErrNoLog
	}
	start := 0
	if n, _, ok := strings.Cut(afterID, "-"); ok {
		for i, l := range f.lines {
			if strings.HasPrefix(l.ID, n+"-") {
				start = i + 1
			}
		}
	}
	end := min(len(f.lines), start+max)
	out := append([]logbus.Line(nil), f.lines[start:end]...)
	return out, f.ended && end == len(f.lines), nil
}

var _ TaskLogs = (*FakeTaskLogs)(nil)

func TestTasks(t *testing.T) {
	t.Parallel()
	runScenarios(t, []scenario{
		{
			name: "admin lists every task", method: "GET", url: "/api/v1/tasks", token: "admin",
			wantStatus: 200, wantContains: []string{`"total":4`, "verify-server", "verify-platform", "install"},
		},
		{
			name: "client user lists only their clients' tasks", method: "GET", url: "/api/v1/tasks", token: "alice",
			wantStatus: 200, wantContains: []string{`"total":1`, `"target_id":"{siteA}"`}, notContains: []string{"verify-server", "{siteB}"},
		},
		{
			name: "filter", method: "GET", url: "/api/v1/tasks?target_kind=platform&status=queued", token: "admin",
			wantStatus: 200, wantContains: []string{`"total":1`, "verify-platform"},
		},
		{
			name: "client user gets 404 for another client's task", method: "GET", url: "/api/v1/tasks/{taskB}", token: "alice",
			before:     func(b *bundle) { b.ids["taskB"] = b.taskOf(b.siteB.ID, domain.TaskInstall).ID },
			wantStatus: 404, wantCode: api.CodeNotFound,
		},
		{
			name: "client user gets 404 for a server task", method: "GET", url: "/api/v1/tasks/{taskS}", token: "alice",
			before:     func(b *bundle) { b.ids["taskS"] = b.taskOf(b.ids["server"], domain.TaskVerifyServer).ID },
			wantStatus: 404, wantCode: api.CodeNotFound,
		},
		{
			name: "cancel a queued task", method: "POST", url: "/api/v1/tasks/{taskA}/cancel", token: "alice",
			before:     func(b *bundle) { b.ids["taskA"] = b.taskOf(b.siteA.ID, domain.TaskInstall).ID },
			wantStatus: 200, wantContains: []string{`"status":"cancelled"`, "Cancelled by alice"},
			after: func(t *testing.T, b *bundle, _ []byte) {
				_, body := b.do("GET", "/api/v1/tasks?status=queued&target_id={siteA}", "admin", "", nil)
				if !strings.Contains(string(body), `"total":0`) {
					t.Fatalf("task still queued: %s", body)
				}
			},
		},
		{
			name: "cancel a finished task", method: "POST", url: "/api/v1/tasks/{taskA}/cancel", token: "admin",
			before: func(b *bundle) {
				b.enable(b.siteA.ID)
				b.ids["taskA"] = b.taskOf(b.siteA.ID, domain.TaskInstall).ID
			},
			wantStatus: 409, wantCode: api.CodeIllegalTransition, unchanged: true,
		},
		{
			name: "cancel a running task without a dispatcher", method: "POST", url: "/api/v1/tasks/{taskA}/cancel", token: "admin",
			before: func(b *bundle) {
				task := b.taskOf(b.siteA.ID, domain.TaskInstall)
				if err := b.st.StartTask(context.Background(), task, "pid:1", 1); err != nil {
					b.t.Fatal(err)
				}
				b.ids["taskA"] = task.ID
			},
			wantStatus: 409, wantCode: api.CodeConflict, wantContains: []string{"no dispatcher"}, unchanged: true,
		},
		{
			name: "cancel a running task through the canceller", method: "POST", url: "/api/v1/tasks/{taskA}/cancel", token: "admin",
			mod: func(c *Config) { c.Canceller = &FakeCanceller{} },
			before: func(b *bundle) {
				task := b.taskOf(b.siteA.ID, domain.TaskInstall)
				if err := b.st.StartTask(context.Background(), task, "pid:1", 1); err != nil {
					b.t.Fatal(err)
				}
				b.ids["taskA"] = task.ID
			},
			wantStatus: 202, wantContains: []string{`"status":"running"`},
			after: func(t *testing.T, b *bundle, _ []byte) {
				fc := b.cfg.Canceller.(*FakeCanceller)
				if len(fc.calls) != 1 || fc.calls[0] != b.ids["taskA"]+" by admin" {
					t.Fatalf("canceller calls %v", fc.calls)
				}
			},
		},
		{
			name: "retry a cancelled task", method: "POST", url: "/api/v1/tasks/{taskA}/retry", token: "alice",
			before: func(b *bundle) {
				task := b.taskOf(b.siteA.ID, domain.TaskInstall)
				if err := b.st.CancelQueued(context.Background(), task, "t"); err != nil {
					b.t.Fatal(err)
				}
				b.ids["taskA"] = task.ID
			},
			wantStatus: 202, wantContains: []string{`"retry_of":"{taskA}"`, `"status":"queued"`, `"type":"install"`},
		},
		{
			name: "retry a failed install", method: "POST", url: "/api/v1/tasks/{taskA}/retry", token: "admin",
			before: func(b *bundle) {
				task := b.taskOf(b.siteA.ID, domain.TaskInstall)
				b.finish(task, domain.TaskFailed)
				b.ids["taskA"] = task.ID
			},
			wantStatus: 202, wantContains: []string{`"retry_of":"{taskA}"`},
		},
		{
			name: "retry a queued task", method: "POST", url: "/api/v1/tasks/{taskA}/retry", token: "admin",
			before:     func(b *bundle) { b.ids["taskA"] = b.taskOf(b.siteA.ID, domain.TaskInstall).ID },
			wantStatus: 409, wantCode: api.CodeConflict, unchanged: true,
		},
		{
			name: "log page", method: "GET", url: "/api/v1/tasks/{taskA}/log?after=1-0", token: "alice",
			before: func(b *bundle) {
				b.ids["taskA"] = b.taskOf(b.siteA.ID, domain.TaskInstall).ID
				b.logs.feed(b.ids["taskA"], 3, false)
			},
			wantStatus: 200, wantContains: []string{`"msg":"line 2"`, `"msg":"line 3"`, `"done":false`, `"next":"3-0"`}, notContains: []string{`"line 1"`},
		},
		{
			name: "log page after a malformed position", method: "GET", url: "/api/v1/tasks/{taskA}/log?after=abc", token: "alice",
			before: func(b *bundle) {
				b.ids["taskA"] = b.taskOf(b.siteA.ID, domain.TaskInstall).ID
				b.logs.feed(b.ids["taskA"], 3, false)
			},
			wantStatus: 400, wantCode: api.CodeInvalid, wantField: "after", unchanged: true, notContains: []string{`"line 1"`},
		},
		{
			name: "log page after a position with a bad sequence", method: "GET", url: "/api/v1/tasks/{taskA}/log?after=1-x", token: "alice",
			before:     func(b *bundle) { b.ids["taskA"] = b.taskOf(b.siteA.ID, domain.TaskInstall).ID },
			wantStatus: 400, wantCode: api.CodeInvalid, wantField: "after", unchanged: true,
		},
		{
			name: "log stream after a malformed Last-Event-ID", method: "GET", url: "/api/v1/tasks/{taskA}/log", token: "alice",
			header: map[string]string{"Accept": "text/event-stream", "Last-Event-ID": "+2-0"},
			before: func(b *bundle) {
				b.ids["taskA"] = b.taskOf(b.siteA.ID, domain.TaskInstall).ID
				b.logs.feed(b.ids["taskA"], 3, true)
			},
			wantStatus: 400, wantCode: api.CodeInvalid, wantField: "Last-Event-ID", unchanged: true, notContains: []string{"id: 1-0"},
		},
		{
			name: "log of a task that has not started", method: "GET", url: "/api/v1/tasks/{taskA}/log", token: "admin",
			before:     func(b *bundle) { b.ids["taskA"] = b.taskOf(b.siteA.ID, domain.TaskInstall).ID },
			wantStatus: 200, wantContains: []string{`"lines":[]`, `"done":false`},
		},
		{
			name: "log without a log bus", method: "GET", url: "/api/v1/tasks/{taskA}/log", token: "admin",
			mod:        func(c *Config) { c.Logs = nil },
			before:     func(b *bundle) { b.ids["taskA"] = b.taskOf(b.siteA.ID, domain.TaskInstall).ID },
			wantStatus: 503, wantCode: api.CodeUnavailable,
		},
		{
			name: "log of another client's task", method: "GET", url: "/api/v1/tasks/{taskB}/log", token: "alice",
			before:     func(b *bundle) { b.ids["taskB"] = b.taskOf(b.siteB.ID, domain.TaskInstall).ID },
			wantStatus: 404, wantCode: api.CodeNotFound,
		},
		{
			name: "log stream resumes after Last-Event-ID and ends", method: "GET", url: "/api/v1/tasks/{taskA}/log", token: "alice",
			header: map[string]string{"Accept": "text/event-stream", "Last-Event-ID": "2-0"},
			before: func(b *bundle) {
				b.ids["taskA"] = b.taskOf(b.siteA.ID, domain.TaskInstall).ID
				b.logs.feed(b.ids["taskA"], 4, true)
			},
			wantStatus:   200,
			wantContains: []string{"id: 3-0\ndata: {", `"msg":"line 3"`, "id: 4-0\n", "event: end\n"},
			notContains:  []string{"id: 1-0", "id: 2-0"},
		},
		{
			name: "log stream with follow=1 from the start", method: "GET", url: "/api/v1/tasks/{taskA}/log?follow=1", token: "admin",
			before: func(b *bundle) {
				b.ids["taskA"] = b.taskOf(b.siteA.ID, domain.TaskInstall).ID
				b.logs.feed(b.ids["taskA"], 2, true)
			},
			wantStatus:   200,
			wantContains: []string{"id: 1-0\n", "id: 2-0\n", "event: end\n"},
		},
		{
			name: "log stream of a task cancelled before it started ends at once", method: "GET", url: "/api/v1/tasks/{taskA}/log?follow=1", token: "admin",
			before: func(b *bundle) {
				task := b.taskOf(b.siteA.ID, domain.TaskInstall)
				if err := b.st.CancelQueued(context.Background(), task, "t"); err != nil {
					b.t.Fatal(err)
				}
				b.ids["taskA"] = task.ID
			},
			wantStatus: 200, wantContains: []string{"event: end\n"},
		},
	})
}

// FakeCanceller records cancel requests: a fault/feed injection standing
// in for the dispatcher in the cancel endpoint's test.
type FakeCanceller struct {
	mu    sync.Mutex
	calls []string
}

func (f *FakeCanceller) Cancel(_ context.Context, taskID, by string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, taskID+" by "+by)
	return nil
}

func TestLogStreamSetsHeaders(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.taskOf(b.siteA.ID, domain.TaskInstall).ID
	b.logs.feed(id, 1, true)
	res, _ := b.do("GET", "/api/v1/tasks/"+id+"/log?follow=1", "admin", "", nil)
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("status %d content type %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
}
