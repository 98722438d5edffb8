package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/testharness"
)

func line(n int, msg string) logLine {
	return logLine{ID: fmt.Sprintf("%d-0", n), Time: t0.Add(time.Duration(n) * time.Second), Level: "info", Msg: msg}
}

func sse(w http.ResponseWriter, l logLine) {
	b, _ := json.Marshal(l)
	fmt.Fprintf(w, "id: %s\ndata: %s\n\n", l.ID, b)
	w.(http.Flusher).Flush()
}

func sseHeader(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(200)
	fmt.Fprint(w, ": connected\n\n")
	w.(http.Flusher).Flush()
}

func sseEnd(w http.ResponseWriter) {
	fmt.Fprint(w, "event: end\ndata: {}\n\n")
	w.(http.Flusher).Flush()
}

// taskSequence answers GET /tasks/{id} with each status in turn, repeating
// the last.
func (f *fakeAPI) taskSequence(task domain.Task, statuses ...domain.TaskStatus) {
	var mu sync.Mutex
	n := 0
	f.handle("GET", "/tasks/"+task.ID, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		t := task
		t.Status = statuses[min(n, len(statuses)-1)]
		n++
		mu.Unlock()
		if t.Status == domain.TaskFailed {
			t.ErrorCode, t.Explanation, t.FixHint = "db_unreachable", "could not connect to mariadb on db1", "start mariadb on db1, then aegir task retry "+t.ID
		}
		if t.Status == domain.TaskSucceeded {
			t.Summary = "installed example.com"
		}
		writeJSON(w, 200, t)
	})
}

// droppingLog serves the log over SSE in three connections: the first
// drops abruptly after two lines, the second closes cleanly after one more,
// the third resends a line (which the client must skip), sends the last and
// ends. It records the Last-Event-ID of each connection.
func (f *fakeAPI) droppingLog(t *testing.T) *[]string {
	var mu sync.Mutex
	var resumes []string
	conn := 0
	f.handle("GET", "/tasks/"+taskID+"/log", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("follow") != "1" || r.Header.Get("Accept") != "text/event-stream" {
			t.Errorf("follow request without follow=1 / Accept: %v %v", r.URL.Query(), r.Header)
		}
		mu.Lock()
		conn++
		c := conn
		resumes = append(resumes, r.Header.Get("Last-Event-ID"))
		mu.Unlock()
		sseHeader(w)
		switch c {
		case 1:
			sse(w, line(1, "creating database"))
			sse(w, line(2, "writing vhost"))
			panic(http.ErrAbortHandler) // the connection drops mid-stream
		case 2:
			sse(w, line(3, "running drush site-install"))
			return // closed cleanly, but before "end"
		default:
			sse(w, line(3, "running drush site-install")) // a resend: skipped
			sse(w, line(4, "done"))
			sseEnd(w)
		}
	})
	return &resumes
}

func TestTaskLogsFollowResumes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	resumes := b.api.droppingLog(t)
	b.api.taskSequence(fixtureTask(domain.TaskInstall, ""), domain.TaskRunning, domain.TaskSucceeded)
	r := b.run("task", "logs", "-f", taskID).want(t, ExitOK)

	want := strings.Join([]string{
		"2026-03-01T12:00:01.000Z info  creating database",
		"2026-03-01T12:00:02.000Z info  writing vhost",
		"2026-03-01T12:00:03.000Z info  running drush site-install",
		"2026-03-01T12:00:04.000Z info  done",
	}, "\n") + "\n"
	if r.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}
	if got := strings.Join(*resumes, ","); got != ",2-0,3-0" {
		t.Errorf("Last-Event-ID per connection %q, want \",2-0,3-0\"", got)
	}
	contains(t, "stderr", r.stderr, "Task "+taskID+" (install) succeeded: installed example.com")
}

func TestTaskLogsFollowFailedTask(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.api.handle("GET", "/tasks/"+taskID+"/log", func(w http.ResponseWriter, r *http.Request) {
		sseHeader(w)
		sse(w, logLine{ID: "1-0", Time: t0, Level: "error", Msg: "connect: connection refused\x1b[2J"})
		sseEnd(w)
	})
	b.api.taskSequence(fixtureTask(domain.TaskInstall, ""), domain.TaskFailed)
	r := b.run("task", "logs", "-f", taskID).want(t, ExitFailed)
	contains(t, "stdout", r.stdout, `error connect: connection refused\x1b[2J`)
	if strings.Contains(r.stdout, "\x1b") {
		t.Error("an escape sequence from the log reached the terminal")
	}
	contains(t, "stderr", r.stderr, "failed: could not connect to mariadb on db1 (db_unreachable)", "Fix: start mariadb on db1")
}

func TestTaskLogsFollowCancelled(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.api.handle("GET", "/tasks/"+taskID+"/log", func(w http.ResponseWriter, r *http.Request) {
		sseHeader(w)
		sseEnd(w)
	})
	b.api.taskSequence(fixtureTask(domain.TaskBackup, ""), domain.TaskCancelled)
	r := b.run("task", "logs", "-f", taskID).want(t, ExitFailed)
	contains(t, "stderr", r.stderr, "was cancelled")
}

func TestTaskLogsFollowGivesUp(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.api.handle("GET", "/tasks/"+taskID+"/log", func(w http.ResponseWriter, r *http.Request) {
		sseHeader(w)
		panic(http.ErrAbortHandler)
	})
	r := b.run("task", "logs", "-f", taskID).want(t, ExitUnreachable)
	contains(t, "stderr", r.stderr, "keeps dropping", "aegir task logs -f "+taskID)
	if n := len(b.api.requests("GET", "/tasks/"+taskID+"/log")); n != maxReconnects+1 {
		t.Errorf("%d connections, want %d", n, maxReconnects+1)
	}
}

func TestTaskLogsFollowPlainJSON(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// A server that ignores follow=1 and answers pages of JSON.
	b.api.handle("GET", "/tasks/"+taskID+"/log", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("after") {
		case "":
			writeJSON(w, 200, logPage{Lines: []logLine{line(1, "one")}, Next: "1-0"})
		case "1-0":
			writeJSON(w, 200, logPage{Lines: []logLine{line(2, "two")}, Next: "2-0", Done: true})
		default:
			t.Errorf("after=%q", r.URL.Query().Get("after"))
		}
	})
	b.api.taskSequence(fixtureTask(domain.TaskVerify, ""), domain.TaskSucceeded)
	r := b.run("task", "logs", "-f", taskID).want(t, ExitOK)
	contains(t, "stdout", r.stdout, "info  one\n", "info  two\n")
}

func TestTaskLogsNoFollow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.api.handle("GET", "/tasks/"+taskID+"/log", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("follow") != "" {
			t.Error("follow without -f")
		}
		switch r.URL.Query().Get("after") {
		case "":
			writeJSON(w, 200, logPage{Lines: []logLine{line(1, "one"), line(2, "two")}, Next: "2-0"})
		case "2-0":
			writeJSON(w, 200, logPage{Lines: []logLine{line(3, "three")}, Next: "3-0"})
		default:
			writeJSON(w, 200, logPage{Next: r.URL.Query().Get("after")})
		}
	})
	r := b.run("task", "logs", taskID).want(t, ExitOK)
	if n := strings.Count(r.stdout, "\n"); n != 3 {
		t.Errorf("%d lines, want 3:\n%s", n, r.stdout)
	}
}

func TestTaskLogsNoLogYet(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.api.taskSequence(fixtureTask(domain.TaskInstall, ""), domain.TaskQueued)
	r := b.run("task", "logs", taskID).want(t, ExitOK)
	contains(t, "stderr", r.stderr, "is queued and has no log yet")

	r = b.run("task", "logs", "0000000000000000t999").want(t, ExitFailed)
	contains(t, "stderr", r.stderr, "(not_found)")
}

func TestWaitQueuedThenRuns(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.api.on("POST", "/sites", 201, map[string]any{"site": fixtureSite(), "task": fixtureTask(domain.TaskInstall, domain.TaskQueued)})
	var mu sync.Mutex
	calls := 0
	b.api.handle("GET", "/tasks/"+taskID+"/log", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		c := calls
		mu.Unlock()
		if c <= 2 { // queued: no log yet
			writeJSON(w, 404, apiErr("not_found", "no log for this task yet"))
			return
		}
		sseHeader(w)
		sse(w, line(1, "installing"))
		sseEnd(w)
	})
	b.api.taskSequence(fixtureTask(domain.TaskInstall, ""), domain.TaskQueued, domain.TaskQueued, domain.TaskSucceeded)
	r := b.run("site", "create", "example.com", "-platform", "p", "-db-server", "d", "-client", "c", "-wait").want(t, ExitOK)
	contains(t, "stdout", r.stdout, "Site example.com created", "info  installing")
	if strings.Contains(r.stdout, "Follow it with") {
		t.Error("-wait should not suggest following")
	}
	contains(t, "stderr", r.stderr, "succeeded")
}

func TestWaitFailedExitsOne(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.api.withFixtures()
	b.api.on("POST", "/sites/example.com/tasks", 202, fixtureTask(domain.TaskBackup, domain.TaskQueued))
	b.api.handle("GET", "/tasks/"+taskID+"/log", func(w http.ResponseWriter, r *http.Request) {
		sseHeader(w)
		sse(w, line(1, "dumping database"))
		sseEnd(w)
	})
	b.api.taskSequence(fixtureTask(domain.TaskBackup, ""), domain.TaskFailed)
	r := b.run("site", "backup", "example.com", "-wait", "-json").want(t, ExitFailed)
	// With -json stdout stays one JSON document; the log goes to stderr.
	jsonEqual(t, r.stdout, mustJSON(fixtureTask(domain.TaskBackup, domain.TaskQueued)))
	contains(t, "stderr", r.stderr, "dumping database", "(db_unreachable)")
}

func TestTaskList(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.api.withFixtures()
	fin := t0.Add(time.Minute)
	task := fixtureTask(domain.TaskInstall, domain.TaskSucceeded)
	task.FinishedAt = &fin
	b.api.on("GET", "/tasks", 200, list(task))
	r := b.run("task", "list", "-target", "example.com", "-status", "succeeded", "-type", "install").want(t, ExitOK)
	q := b.api.only("GET", "/tasks").Query
	for k, v := range map[string]string{"target_id": siteID, "target_kind": "site", "status": "succeeded", "type": "install", "limit": "50"} {
		if q.Get(k) != v {
			t.Errorf("query %s=%q, want %q", k, q.Get(k), v)
		}
	}
	contains(t, "stdout", r.stdout, "ID", "TARGET", taskID, "site example.com", "succeeded", "2026-03-01 12:01:00Z", "admin")

	r = b.run("task", "list", "-json").want(t, ExitOK)
	jsonEqual(t, r.stdout, mustJSON(list(task)))

	b.run("task", "list", "-kind", "platform", "-target", "drupal10").want(t, ExitOK)
	if q := b.api.requests("GET", "/tasks")[2].Query; q.Get("target_id") != platformID || q.Get("target_kind") != "platform" {
		t.Errorf("platform target query %v", q)
	}
}

func TestTaskShowCancelRetry(t *testing.T) {
	t.Parallel()
	b := setup(t)
	failed := fixtureTask(domain.TaskInstall, domain.TaskFailed)
	failed.ErrorCode, failed.Explanation, failed.FixHint = "db_unreachable", "could not connect", "start mariadb"
	failed.Args = map[string]string{"b": "2", "a": "1"}
	b.api.on("GET", "/tasks/"+taskID, 200, failed)
	r := b.run("task", "show", taskID).want(t, ExitOK)
	contains(t, "stdout", r.stdout, "Error code", "db_unreachable", "Fix", "start mariadb", "Arg a", "Arg b")
	if strings.Index(r.stdout, "Arg a") > strings.Index(r.stdout, "Arg b") {
		t.Error("args not sorted")
	}

	cancelled := fixtureTask(domain.TaskInstall, domain.TaskCancelled)
	b.api.on("POST", "/tasks/"+taskID+"/cancel", 200, cancelled)
	r = b.run("task", "cancel", taskID).want(t, ExitOK)
	contains(t, "stdout", r.stdout, "Task "+taskID+" cancelled.")

	b.api.on("POST", "/tasks/"+taskID+"/cancel", 409, apiErr("illegal_transition", "task is succeeded; only queued or running tasks can be cancelled"))
	r = b.run("task", "cancel", taskID).want(t, ExitFailed)
	contains(t, "stderr", r.stderr, "(illegal_transition)")

	retry := fixtureTask(domain.TaskInstall, domain.TaskQueued)
	retry.ID, retry.RetryOf = "0000000000000000t002", taskID
	b.api.on("POST", "/tasks/"+taskID+"/retry", 202, retry)
	r = b.run("task", "retry", taskID).want(t, ExitOK)
	contains(t, "stdout", r.stdout, "Task 0000000000000000t002 (install on site example.com) queued.")
}

func TestIDLess(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b string
		want bool
	}{
		{"1-0", "2-0", true},
		{"2-0", "10-0", true}, // numeric, not string, order
		{"10-0", "2-0", false},
		{"1700000000000-1", "1700000000000-2", true},
		{"5-0", "5-0", false},
		{"5", "5-1", true},
		{"a", "b", true}, // unknown shapes: string order
	}
	for _, tt := range tests {
		if got := idLess(tt.a, tt.b); got != tt.want {
			t.Errorf("idLess(%q, %q) = %v", tt.a, tt.b, got)
		}
	}
}

// FuzzReadEvents feeds arbitrary streams to the SSE parser: it must never
// panic, and must print nothing with a raw control character.
func FuzzReadEvents(f *testing.F) {
	for _, s := range testharness.HostileInputs {
		f.Add(s)
		f.Add("id: " + s + "\ndata: {\"msg\":" + strconv.Quote(s) + "}\n\n")
	}
	f.Add("id: 1-0\ndata: {\"id\":\"1-0\",\"msg\":\"hi\"}\n\nevent: end\ndata: {}\n\n")
	f.Add(": ping\n\nid: 2-0\ndata: not json\ndata: second line\n\n")
	f.Add("event: error\ndata: {\"error\":{\"code\":\"not_found\",\"message\":\"gone\"}}\n\n")
	f.Add("id: \x00\ndata: {\"msg\":\"\\u001b[2J\"}\n\n")
	f.Add("data")
	f.Fuzz(func(t *testing.T, stream string) {
		var out strings.Builder
		lf := &logFollower{a: &app{}, taskID: taskID, w: &out}
		_, _, _ = lf.readEvents(strings.NewReader(stream))
		for _, r := range out.String() {
			if r != '\n' && (r < 0x20 || r == 0x7f) {
				t.Fatalf("control character %q printed from %q", r, stream)
			}
		}
	})
}

func TestTaskLogsFollowErrorEventReconnects(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var mu sync.Mutex
	conn := 0
	b.api.handle("GET", "/tasks/"+taskID+"/log", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		conn++
		c := conn
		mu.Unlock()
		sseHeader(w)
		if c == 1 {
			sse(w, line(1, "one"))
			fmt.Fprint(w, "event: error\ndata: {\"message\":\"reading the log failed; reconnect to resume\"}\n\n")
			return
		}
		if got := r.Header.Get("Last-Event-ID"); got != "1-0" {
			t.Errorf("resumed with Last-Event-ID %q, want 1-0", got)
		}
		sse(w, line(2, "two"))
		sseEnd(w)
	})
	b.api.taskSequence(fixtureTask(domain.TaskVerify, ""), domain.TaskSucceeded)
	r := b.run("task", "logs", "-f", taskID).want(t, ExitOK)
	contains(t, "stdout", r.stdout, "info  one\n", "info  two\n")
}

func TestWaitWithoutLogBus(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.api.on("GET", "/tasks/"+taskID+"/log", 503, apiErr("unavailable", "the task log bus is not configured"))
	b.api.taskSequence(fixtureTask(domain.TaskVerify, ""), domain.TaskQueued, domain.TaskRunning, domain.TaskSucceeded)
	r := b.run("task", "logs", "-f", taskID).want(t, ExitOK)
	contains(t, "stderr", r.stderr, "is not available here", "succeeded")
}
