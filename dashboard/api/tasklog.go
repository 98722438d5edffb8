package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/logbus"
	"github.com/aegirhq/aegir/internal/store"
)

// LogPage is the JSON answer of GET /tasks/{id}/log: lines after ?after=,
// whether the log is complete, and the id to pass as ?after= next time.
type LogPage struct {
	Lines []logbus.Line `json:"lines"`
	Done  bool          `json:"done"`
	Next  string        `json:"next"`
}

const LogPageMax = 1000

// taskLog serves a task's log as one JSON page, or, with ?follow=1 or
// Accept: text/event-stream, as a server-sent event stream: one event per
// line with its id in `id:`, resuming after Last-Event-ID (or ?after=), and
// an "end" event when the log is complete.
func (s *Server) TaskLog(c *fiber.Ctx) error {
	t, err := s.taskParam(c)
	if err != nil {
		return err
	}
	if s.cfg.Logs == nil {
		return errUnavailable("the task log bus")
	}
	// A position that is not a line id is refused: read as "from the
	// start", it would replay the whole log to a client that meant to
	// resume.
	after, field := c.Query("after"), "after"
	if id := c.Get("Last-Event-ID"); id != "" {
		after, field = id, "Last-Event-ID"
	}
	if len(after) > 64 || !logbus.ValidID(after) {
		return newAPIError(fiber.StatusBadRequest, CodeInvalid, field, "%q is not a log line id: use the id of the last line you have (\"<n>-<seq>\"), or leave it out to read from the start", domain.Clip(after))
	}
	after = strings.Clone(after)
	// A client user's lines go through the redactor that hides paths and
	// server addresses (control.Tasks.Redactor); an admin's are as written.
	redact, err := s.ctl.Tasks.Redactor(c.UserContext(), actor(c))
	if err != nil {
		return err
	}
	follow := c.Query("follow") == "1" || c.Query("follow") == "true" ||
		strings.Contains(c.Get(fiber.HeaderAccept), "text/event-stream")
	if !follow {
		lines, done, err := s.cfg.Logs.Read(c.UserContext(), t.ID, after, LogPageMax, 0)
		if errors.Is(err, logbus.ErrNoLog) {
			lines, done, err = nil, t.Status.Done(), nil
		}
		if err != nil {
			return err
		}
		next := after
		if len(lines) > 0 {
			next = lines[len(lines)-1].ID
		}
		if lines == nil {
			lines = []logbus.Line{}
		}
		lines = RedactLines(redact, lines)
		return c.JSON(LogPage{Lines: lines, Done: done, Next: next})
	}

	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set("X-Accel-Buffering", "no")
	// Everything the stream needs is copied out of c now: Fiber reuses the
	// context once this handler returns, while the writer runs later.
	st := &logStream{
		logs: s.cfg.Logs, store: s.st, taskID: t.ID, after: after,
		poll: s.cfg.LogPoll, base: s.base, log: s.log, redact: redact,
	}
	c.Context().SetBodyStreamWriter(st.run)
	return nil
}

type logStream struct {
	logs   TaskLogs
	store  *store.Store
	taskID string
	after  string
	poll   time.Duration
	base   context.Context
	redact func(string) string // nil: lines as written
	log    interface {
		Debug(string, ...any)
		Warn(string, ...any)
	}
}

// run writes events until the log ends, the client goes away (a write or
// flush fails) or the server shuts down.
func (l *logStream) run(w *bufio.Writer) {
	ctx, cancel := context.WithCancel(l.base)
	defer cancel()
	if err := writeComment(w, "aegir task "+l.taskID); err != nil {
		return
	}
	for ctx.Err() == nil {
		lines, done, err := l.logs.Read(ctx, l.taskID, l.after, 500, l.poll)
		if errors.Is(err, logbus.ErrNoLog) {
			// Not started yet, or archived: end if the task is finished,
			// otherwise wait for its log to appear.
			t, terr := l.store.GetTask(ctx, l.taskID)
			if terr == nil && t.Status.Done() {
				done, err = true, nil
			} else {
				if writeComment(w, "waiting for the task to start") != nil {
					return
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(min(l.poll, time.Second)):
				}
				continue
			}
		}
		if err != nil {
			if ctx.Err() == nil {
				l.log.Warn("log stream: read failed", "task", l.taskID, "err", err)
				_ = writeEvent(w, "error", "", map[string]string{"message": "reading the log failed; reconnect to resume"})
			}
			return
		}
		lines = RedactLines(l.redact, lines)
		for _, line := range lines {
			if err := writeEvent(w, "", line.ID, line); err != nil {
				return
			}
			l.after = line.ID
		}
		if done {
			_ = writeEvent(w, "end", "", map[string]bool{"done": true})
			return
		}
		if len(lines) == 0 && writeComment(w, "keep-alive") != nil {
			return
		}
	}
}

// RedactLines returns lines with their text passed through redact (nil:
// lines as they are). It copies: the bus may share its lines.
func RedactLines(redact func(string) string, lines []logbus.Line) []logbus.Line {
	if redact == nil || len(lines) == 0 {
		return lines
	}
	out := make([]logbus.Line, len(lines))
	for i, l := range lines {
		l.Msg = redact(l.Msg)
		out[i] = l
	}
	return out
}

func writeEvent(w *bufio.Writer, event, id string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if event != "" {
		fmt.Fprintf(w, "event: %s\n", event)
	}
	if id != "" {
		fmt.Fprintf(w, "id: %s\n", strings.NewReplacer("\n", "", "\r", "").Replace(id))
	}
	fmt.Fprintf(w, "data: %s\n\n", b)
	return w.Flush()
}

func writeComment(w *bufio.Writer, text string) error {
	fmt.Fprintf(w, ": %s\n\n", text)
	return w.Flush()
}
