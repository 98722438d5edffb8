package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
)

// logLine is one line of a task's log as the API sends it.
type logLine struct {
	ID    string    `json:"id"`
	Time  time.Time `json:"time"`
	Level string    `json:"level"`
	Msg   string    `json:"msg"`
}

// logPage is the answer of GET /tasks/{id}/log without follow.
type logPage struct {
	Lines []logLine `json:"lines"`
	Done  bool      `json:"done"`
	Next  string    `json:"next"`
}

// maxReconnects is how many times in a row following a log may fail
// without receiving a line before the client gives up.
const maxReconnects = 8

// maxEvent bounds one SSE line.
const maxEvent = 1 << 20

// logFollower prints one task's log, resuming after the last line printed.
type logFollower struct {
	a      *app
	c      *api
	taskID string
	w      io.Writer
	last   string // id of the last line printed; "" before the first
}

func (a *app) newFollower(c *api, taskID string, w io.Writer) *logFollower {
	return &logFollower{a: a, c: c, taskID: taskID, w: w}
}

func (f *logFollower) print(l logLine) {
	if l.ID != "" {
		if f.last != "" && !idLess(f.last, l.ID) {
			return // already printed: a server that resent after a resume
		}
		f.last = l.ID
	}
	lvl := l.Level
	if lvl == "" {
		lvl = "info"
	}
	ts := "-"
	if !l.Time.IsZero() {
		ts = l.Time.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	fmt.Fprintf(f.w, "%s %-5s %s\n", ts, sanitize(lvl), sanitize(l.Msg))
}

// idLess orders log line ids of the form "<n>-<seq>" (both the in-process
// and the Redis stream ids), falling back to string order.
func idLess(a, b string) bool {
	an, as, aok := splitID(a)
	bn, bs, bok := splitID(b)
	if !aok || !bok {
		return a < b
	}
	if an != bn {
		return an < bn
	}
	return as < bs
}

func splitID(s string) (uint64, uint64, bool) {
	hi, lo, _ := strings.Cut(s, "-")
	n, err := strconv.ParseUint(hi, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	var seq uint64
	if lo != "" {
		if seq, err = strconv.ParseUint(lo, 10, 64); err != nil {
			return 0, 0, false
		}
	}
	return n, seq, true
}

// printAvailable prints the log as it is now, page by page, and reports
// whether it has ended.
func (f *logFollower) printAvailable(ctx context.Context) (done bool, err error) {
	for {
		q := url.Values{}
		if f.last != "" {
			q.Set("after", f.last)
		}
		var p logPage
		if _, err := f.c.get(ctx, f.c.path("tasks", f.taskID, "log"), q, &p); err != nil {
			return false, err
		}
		before := f.last
		for _, l := range p.Lines {
			f.print(l)
		}
		if p.Next != "" && idLess(f.last, p.Next) {
			f.last = p.Next
		}
		if p.Done || len(p.Lines) == 0 || f.last == before {
			return p.Done, nil
		}
	}
}

// follow prints the log until it ends, over SSE with resumption; a server
// that answers with plain JSON is polled instead.
func (f *logFollower) follow(ctx context.Context) error {
	delay := cmpDur(f.a.retryDelay, 250*time.Millisecond)
	failures := 0
	connected := false
	for {
		before := f.last
		ended, plain, err := f.followOnce(ctx)
		if ended {
			return nil
		}
		if plain {
			return f.poll(ctx)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ae *APIError
		if errors.As(err, &ae) {
			return err // the API refused: reconnecting won't help
		}
		var ce *connError
		if errors.As(err, &ce) && !connected {
			return err // never reached it at all: fail fast
		}
		if err == nil {
			connected = true
		}
		if f.last != before {
			failures, delay = 0, cmpDur(f.a.retryDelay, 250*time.Millisecond)
		}
		failures++
		if failures > maxReconnects {
			msg := "the log stream of task " + f.taskID + " keeps dropping"
			if err != nil {
				msg += ": " + err.Error()
			}
			return &connError{msg: msg + "; run 'aegir task logs -f " + f.taskID + "' to resume"}
		}
		if err := sleep(ctx, delay); err != nil {
			return err
		}
		delay = min(delay*2, 5*time.Second)
	}
}

// followOnce reads one SSE connection. ended: the "end" event arrived.
// plain: the server answered JSON, not an event stream (printed already).
// err nil with neither: the stream closed early; resume.
func (f *logFollower) followOnce(ctx context.Context) (ended, plain bool, err error) {
	req, err := f.c.newRequest(ctx, http.MethodGet, f.c.path("tasks", f.taskID, "log"), url.Values{"follow": {"1"}}, nil)
	if err != nil {
		return false, false, err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if f.last != "" {
		req.Header.Set("Last-Event-ID", f.last)
	}
	resp, err := f.c.send(req)
	if err != nil {
		return false, false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		return false, false, decodeError(resp.StatusCode, raw)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		var p logPage
		if err := json.NewDecoder(io.LimitReader(resp.Body, maxResponse)).Decode(&p); err != nil {
			return false, false, fmt.Errorf("the log of task %s came as %q, neither an event stream nor JSON: %w", f.taskID, mt, err)
		}
		for _, l := range p.Lines {
			f.print(l)
		}
		if p.Next != "" && (f.last == "" || idLess(f.last, p.Next)) {
			f.last = p.Next
		}
		return p.Done, !p.Done, nil
	}
	return f.readEvents(resp.Body)
}

// readEvents parses a text/event-stream body: "id:", "event:" and "data:"
// fields, an event per blank line.
func (f *logFollower) readEvents(body io.Reader) (ended, plain bool, err error) {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 4096), maxEvent)
	var id, event string
	var data []string
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if len(data) > 0 || event != "" {
				done, err := f.dispatch(id, event, strings.Join(data, "\n"))
				if done || err != nil {
					return done, false, err
				}
			}
			id, event, data = "", "", nil
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue // comment: keep-alive
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			if !strings.ContainsRune(value, 0) {
				id = value
			}
		case "event":
			event = value
		case "data":
			data = append(data, value)
		}
	}
	// The connection closed before "end"; the caller resumes.
	return false, false, sc.Err()
}

// dispatch handles one event.
func (f *logFollower) dispatch(id, event, data string) (ended bool, err error) {
	switch event {
	case "end":
		return true, nil
	case "error":
		// The server could not read the log; it asks us to reconnect.
		var e struct {
			Message string `json:"message"`
		}
		if json.Unmarshal([]byte(data), &e) != nil || e.Message == "" {
			e.Message = data
		}
		return false, errors.New("the log stream reported: " + sanitize(e.Message))
	case "", "message", "line", "log":
		var l logLine
		if err := json.Unmarshal([]byte(data), &l); err != nil {
			l = logLine{Msg: data}
		}
		if l.ID == "" {
			l.ID = id
		}
		f.print(l)
		if id != "" && (f.last == "" || idLess(f.last, id)) {
			f.last = id
		}
	}
	return false, nil
}

// poll prints the log by polling GET .../log?after= until it ends.
func (f *logFollower) poll(ctx context.Context) error {
	every := cmpDur(f.a.pollEvery, time.Second)
	for {
		done, err := f.printAvailable(ctx)
		if err != nil || done {
			return err
		}
		if err := sleep(ctx, every); err != nil {
			return err
		}
	}
}

// watchTask follows the task's log to w until the task is final, prints the
// outcome on stderr, and returns a *taskError unless it succeeded. A task
// that has no log yet (still queued) is polled until it has one.
func (a *app) watchTask(ctx context.Context, c *api, taskID string, w io.Writer) error {
	f := a.newFollower(c, taskID, w)
	every := cmpDur(a.pollEvery, time.Second)
	for {
		err := f.follow(ctx)
		if err == nil {
			break
		}
		var ae *APIError
		if errors.As(err, &ae) && ae.Status == http.StatusServiceUnavailable {
			// This server has no log bus: wait for the outcome without the log.
			fmt.Fprintf(a.stderr, "The log of task %s is not available here (%s); waiting for the task to end.\n", taskID, ae.Message)
			break
		}
		if !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
			return err
		}
		// No log: the task may not exist, or not have started yet.
		t, terr := a.getTask(ctx, c, taskID)
		if terr != nil {
			return terr
		}
		if t.Status.Done() {
			break
		}
		if err := sleep(ctx, every); err != nil {
			return err
		}
	}
	// The log has ended; the result is applied just after. Wait for it.
	for {
		t, err := a.getTask(ctx, c, taskID)
		if err != nil {
			return err
		}
		if t.Status.Done() {
			return a.outcome(t)
		}
		if err := sleep(ctx, every); err != nil {
			return err
		}
	}
}

func (a *app) getTask(ctx context.Context, c *api, id string) (*domain.Task, error) {
	var t domain.Task
	if _, err := c.get(ctx, c.path("tasks", id), nil, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// outcome prints how a final task ended and returns *taskError unless it
// succeeded.
func (a *app) outcome(t *domain.Task) error {
	switch t.Status {
	case domain.TaskSucceeded:
		msg := fmt.Sprintf("Task %s (%s) succeeded", t.ID, t.Type)
		if t.Summary != "" {
			msg += ": " + t.Summary
		}
		fmt.Fprintln(a.stderr, sanitize(msg))
		return nil
	case domain.TaskFailed:
		msg := fmt.Sprintf("Task %s (%s) failed", t.ID, t.Type)
		if t.Explanation != "" {
			msg += ": " + t.Explanation
		}
		if t.ErrorCode != "" {
			msg += " (" + t.ErrorCode + ")"
		}
		fmt.Fprintln(a.stderr, sanitize(msg))
		if t.FixHint != "" {
			fmt.Fprintln(a.stderr, "Fix: "+sanitize(t.FixHint))
		}
	default:
		fmt.Fprintf(a.stderr, "Task %s (%s) was %s\n", t.ID, t.Type, sanitize(string(t.Status)))
	}
	return &taskError{id: t.ID, status: string(t.Status)}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func cmpDur(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
