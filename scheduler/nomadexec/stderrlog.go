package nomadexec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/aegirhq/aegir/internal/logbus"
)

// maxStderrLog bounds what is read of a back end's stderr to copy into its
// task's log: its last 4 MiB (a task logs a few KiB).
const maxStderrLog = 4 << 20

// maxCopiedLines caps the lines copied from one back end's stderr; the
// last ones are kept, since they say how the back end ended.
const maxCopiedLines = 5000

// dispatcherPrefix starts the dispatcher's own lines in a task's log
// (dispatch.Dispatcher's note); every other line is the back end's.
const dispatcherPrefix = "aegir: "

// copyStderr copies the log lines of a back end whose lines never reached
// its task's log (its Redis sink failed: hashicorp/nomad#16259 rendering
// its password file empty, say) from its allocation's stderr into the
// task's log, before the task ends, so that `aegir task logs` and the
// dashboard show them. One line of the dispatcher's says how many were
// copied from which allocation, and whether some were left out.
//
// It copies only when the log holds no line of the back end at all. A
// task is dispatched once (the task id is the idempotency token), so the
// log holds one back end's lines, and the bus marks no source but the
// dispatcher's own lines start "aegir: ". A back end whose sink worked,
// even partly (the result alone lost, or its last lines held up by a
// Redis outage), has lines there; copying the whole stderr then would
// repeat them, and what it could not deliver it says on its stderr. A
// log that cannot be read is copied to: a line twice beats a line lost.
//
// Redaction: the back end's logger redacts each line before it writes it
// to stderr and to its Redis sink alike (provision.NewLogger), so the
// JSON lines here are what the sink would have sent; aegir server does
// not know the secret values to do more. Plain text (a Go panic's trace)
// never went through the logger; it is copied as it is, at level error
// from a "panic:" or "fatal error:" line on, else info.
func (r *nomadRun) copyStderr(allocID string) {
	bus := r.e.cfg.Bus
	if bus == nil || allocID == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if r.logHasBackEndLines(ctx) {
		return
	}
	out, cut, err := r.readStderr(ctx, allocID)
	if err != nil {
		r.e.log.Warn("read a back end's stderr to copy its log lines", "task", r.taskID, "alloc", shortID(allocID), "err", err)
		return
	}
	lines, total := stderrLines(out, cut > 0)
	if total == 0 {
		return
	}
	note := logbus.Line{Level: "warn", Msg: dispatcherPrefix + copyNote(allocID, len(lines), total, cut)}
	for _, l := range append([]logbus.Line{note}, lines...) {
		if _, err := bus.Append(ctx, r.taskID, l); err != nil {
			r.e.log.Warn("copy a back end's stderr into its task's log", "task", r.taskID, "alloc", shortID(allocID), "err", err)
			return
		}
	}
	r.e.log.Info("copied a back end's log lines from its allocation's stderr", "task", r.taskID, "alloc", shortID(allocID), "lines", len(lines))
}

// logHasBackEndLines reports whether the task's log holds a line that is
// not the dispatcher's. A log the bus cannot read counts as having none.
func (r *nomadRun) logHasBackEndLines(ctx context.Context) bool {
	after := ""
	for {
		lines, done, err := r.e.cfg.Bus.Read(ctx, r.taskID, after, 1000, 0)
		if err != nil {
			if !errors.Is(err, logbus.ErrNoLog) {
				r.e.log.Warn("read a task's log to see whether its back end's lines reached it; copying them from its stderr", "task", r.taskID, "err", err)
			}
			return false
		}
		for _, l := range lines {
			if !strings.HasPrefix(l.Msg, dispatcherPrefix) {
				return true
			}
			after = l.ID
		}
		if done || len(lines) == 0 {
			return false
		}
	}
}

// readStderr reads the back end's stderr in its allocation, its last
// maxStderrLog bytes; cut is how many bytes before those were left out.
// It needs the read-fs capability, as resultFromStdout.
func (r *nomadRun) readStderr(ctx context.Context, allocID string) (out []byte, cut int64, err error) {
	q := (&api.QueryOptions{}).WithContext(ctx)
	alloc, _, err := r.e.api.Allocations().Info(allocID, q)
	if err != nil {
		return nil, 0, err
	}
	path := fmt.Sprintf("alloc/logs/%s.stderr.0", backEndTask)
	fi, _, err := r.e.api.AllocFS().Stat(alloc, path, q)
	if err != nil {
		return nil, 0, err
	}
	if fi.Size <= 0 {
		return nil, 0, nil
	}
	cut = max(0, fi.Size-maxStderrLog)
	rc, err := r.e.api.AllocFS().ReadAt(alloc, path, cut, fi.Size-cut, q)
	if err != nil {
		return nil, 0, err
	}
	defer rc.Close()
	out, err = io.ReadAll(io.LimitReader(rc, maxStderrLog))
	return out, cut, err
}

// stderrLines turns a back end's stderr into log lines as its Redis sink
// would have (logbus.ParseJSONLine); other text is kept as plain lines,
// at level error from a Go panic's or fatal error's first line on, else
// info, timed as the JSON line before it. Empty lines are skipped. cut
// says out starts inside a line, which is left out. It returns the last
// maxCopiedLines lines and how many there were.
func stderrLines(out []byte, cut bool) ([]logbus.Line, int) {
	if cut {
		if i := bytes.IndexByte(out, '\n'); i >= 0 {
			out = out[i+1:]
		} else {
			out = nil
		}
	}
	var all []logbus.Line
	var last time.Time
	crashed := false
	for _, raw := range bytes.Split(out, []byte("\n")) {
		text := strings.TrimRight(string(raw), "\r")
		if strings.TrimSpace(text) == "" {
			continue
		}
		if l, ok := logbus.ParseJSONLine(raw); ok {
			last = l.Time
			all = append(all, l)
			continue
		}
		if strings.HasPrefix(text, "panic: ") || strings.HasPrefix(text, "fatal error: ") {
			crashed = true
		}
		level := "info"
		if crashed {
			level = "error"
		}
		all = append(all, logbus.Line{Time: last, Level: level, Msg: strings.ToValidUTF8(text, "\uFFFD")})
	}
	total := len(all)
	if total > maxCopiedLines {
		all = all[total-maxCopiedLines:]
	}
	return all, total
}

// copyNote is the dispatcher's line before the copied ones.
func copyNote(allocID string, copied, total int, cut int64) string {
	s := fmt.Sprintf("%d log lines copied from allocation %s's stderr (the back end's Redis sink failed, so they had not reached this log)", copied, shortID(allocID))
	more := total - copied
	switch {
	case cut > 0 && more > 0:
		s += fmt.Sprintf("; capped: its first %d bytes and the %d lines after them were left out", cut, more)
	case cut > 0:
		s += fmt.Sprintf("; capped: its first %d bytes were left out", cut)
	case more > 0:
		s += fmt.Sprintf("; capped: its first %d lines were left out", more)
	}
	if cut > 0 || more > 0 {
		s += " (nomad alloc logs -stderr " + allocID + " has them all)"
	}
	return s
}
