package provision

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
)

// Redacted replaces every secret value in log lines and results.
const Redacted = "[redacted]"

// Redactor knows every secret value the back end resolved or generated
// and removes them from text before it leaves the process.
type Redactor struct {
	mu      sync.RWMutex
	secrets map[string]struct{}
	r       *strings.Replacer
}

// NewRedactor returns an empty Redactor.
func NewRedactor() *Redactor { return &Redactor{secrets: map[string]struct{}{}} }

// Add registers secret values; empty strings are ignored. Both the raw
// value and its JSON-escaped form are redacted.
func (r *Redactor) Add(values ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := false
	for _, v := range values {
		if v == "" {
			continue
		}
		for _, form := range []string{v, jsonEscaped(v)} {
			if _, ok := r.secrets[form]; !ok {
				r.secrets[form] = struct{}{}
				changed = true
			}
		}
	}
	if changed {
		pairs := make([]string, 0, 2*len(r.secrets))
		for s := range r.secrets {
			pairs = append(pairs, s, Redacted)
		}
		r.r = strings.NewReplacer(pairs...)
	}
}

func jsonEscaped(v string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	s := strings.TrimSuffix(buf.String(), "\n")
	return s[1 : len(s)-1]
}

// String returns s with every secret replaced.
func (r *Redactor) String(s string) string {
	r.mu.RLock()
	rep := r.r
	r.mu.RUnlock()
	if rep == nil {
		return s
	}
	return rep.Replace(s)
}

// Result redacts the text fields of a result.
func (r *Redactor) Result(res *Result) {
	res.Explanation = r.String(res.Explanation)
	res.FixHint = r.String(res.FixHint)
	res.Summary = r.String(res.Summary)
}

// redactingWriter redacts each Write (slog writes one record per call)
// and serialises writers.
type redactingWriter struct {
	mu sync.Mutex
	w  io.Writer
	r  *Redactor
}

func (w *redactingWriter) Write(p []byte) (int, error) {
	s := w.r.String(string(p))
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := io.WriteString(w.w, s); err != nil {
		return 0, err
	}
	return len(p), nil
}

// NewLogger returns the back end's logger: one JSON object per line on w
// ({"time","level","msg",...} with lowercase levels), every secret known
// to red redacted.
func NewLogger(w io.Writer, red *Redactor, level slog.Level) *slog.Logger {
	h := slog.NewJSONHandler(&redactingWriter{w: w, r: red}, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.LevelKey {
				return slog.String(slog.LevelKey, strings.ToLower(a.Value.String()))
			}
			return a
		},
	})
	return slog.New(h)
}

// lineWriter turns a command's output into log lines, one per line of
// text, so hook output reaches the log as it happens.
type lineWriter struct {
	log   *slog.Logger
	level slog.Level
	attrs []any
	buf   []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 16<<10 {
		w.emit(w.buf)
		w.buf = nil
	}
	return len(p), nil
}

func (w *lineWriter) emit(line []byte) {
	if s := strings.TrimRight(string(line), "\r"); s != "" {
		w.log.Log(context.Background(), w.level, s, w.attrs...)
	}
}

// Flush emits a last unterminated line.
func (w *lineWriter) Flush() {
	if len(w.buf) > 0 {
		w.emit(w.buf)
		w.buf = nil
	}
}
