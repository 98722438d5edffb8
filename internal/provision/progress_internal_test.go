package provision

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/logbus"
)

func TestProgressFormats(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{
		0: "0B", 999: "999B", 1000: "1.0kB", 12345: "12.3kB", 310e6: "310MB", 99.94e6: "99.9MB",
		99.96e6: "100MB", 1.2e9: "1.2GB", 4.5e12: "4.5TB", 7e18: "7000PB",
	} {
		if got := sizeString(n); got != want {
			t.Errorf("sizeString(%d) = %q, want %q", n, got, want)
		}
	}
	for d, want := range map[time.Duration]string{
		0: "<1s", 400 * time.Millisecond: "<1s", 20 * time.Second: "20s", 185 * time.Second: "3m05s",
		time.Hour + 2*time.Minute + 40*time.Second: "1h02m",
	} {
		if got := durationString(d); got != want {
			t.Errorf("durationString(%s) = %q, want %q", d, got, want)
		}
	}
	if got := rateString(360e6, 2*time.Second); got != "180MB/s" {
		t.Errorf("rateString = %q", got)
	}
	if got := rateString(1, 0); got != "0B/s" {
		t.Errorf("rateString over no time = %q", got)
	}
}

// TestMeterLine checks a progress line's fields as they reach the CLI and
// the dashboard (logbus renders a JSON log line as key=value): a part
// with a total, one without, the percentage and the time left from the
// first, the rate of the site's data only; a part past its total (files
// added during a backup) stays at 100% with no time left.
func TestMeterLine(t *testing.T) {
	t.Parallel()
	var files, db, arch atomic.Int64
	files.Store(1.2e9)
	db.Store(310e6)
	arch.Store(900e6)
	var buf bytes.Buffer
	m := &meter{log: NewLogger(&buf, NewRedactor(), slog.LevelInfo), step: "backup",
		attrs: []slog.Attr{slog.String("reason", "manual")}, start: time.Now().Add(-10 * time.Second),
		gauges: []gauge{
			{name: "files", get: files.Load, total: func() int64 { return 4.5e9 }, data: true},
			{name: "database", get: db.Load, data: true},
			{name: "archive", get: arch.Load},
		}}
	m.log.LogAttrs(t.Context(), slog.LevelInfo, m.step+" progress", m.line()...)
	l := logbus.ParseLine(buf.Bytes())
	// 1.51 GB of data in 10 s; 3.3 GB of files left at 120 MB/s.
	want := "backup progress archive=900MB database=310MB files=1.2GB/4.5GB left=28s percent=26 rate=151MB/s reason=manual"
	if l.Msg != want {
		t.Errorf("line\n %s\nwant\n %s", l.Msg, want)
	}

	files.Store(4.6e9)
	buf.Reset()
	m.log.LogAttrs(t.Context(), slog.LevelInfo, m.step+" progress", m.line()...)
	var fields map[string]any
	if err := json.Unmarshal(buf.Bytes(), &fields); err != nil {
		t.Fatal(err)
	}
	if fields["percent"] != 100.0 || fields["left"] != nil || fields["files"] != "4.6GB/4.5GB" {
		t.Errorf("past its total: %v", fields)
	}

	// Unknown total (the walk has not finished): no percentage.
	m.gauges[0].total = func() int64 { return 0 }
	buf.Reset()
	m.log.LogAttrs(t.Context(), slog.LevelInfo, m.step+" progress", m.line()...)
	if s := buf.String(); strings.Contains(s, "percent") || strings.Contains(s, "left") || !strings.Contains(s, `"files":"4.6GB"`) {
		t.Errorf("no total yet: %s", s)
	}

	// A count (remove-replaced-files: entries removed), no site data:
	// plain numbers and no rate, on the progress line and the last one.
	var done atomic.Int64
	done.Store(50)
	c := &meter{log: m.log, step: "remove replaced files", start: time.Now().Add(-2 * time.Second),
		gauges: []gauge{{name: "entries", get: done.Load, total: func() int64 { return 200 }, count: true}}}
	buf.Reset()
	c.log.LogAttrs(t.Context(), slog.LevelInfo, c.step+" progress", c.line()...)
	if l := logbus.ParseLine(buf.Bytes()); l.Msg != "remove replaced files progress entries=50/200 left=6s percent=25" {
		t.Errorf("count line: %s", l.Msg)
	}
	c.stopc, c.done = make(chan struct{}), make(chan struct{})
	close(c.done)
	if got := fmt.Sprint(c.stop()); strings.Contains(got, "rate") || !strings.Contains(got, "entries 50") {
		t.Errorf("count's last fields: %s", got)
	}
}

// TestMeterStops checks that a meter logs while it runs and not after
// stop, which returns the final fields and may be called twice.
func TestMeterStops(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	var buf syncBuf
	j := &job{log: NewLogger(&buf, NewRedactor(), slog.LevelInfo), runner: &Runner{ProgressInterval: time.Millisecond}}
	m := j.startMeter("file copy", nil, gauge{name: "files", get: n.Load, data: true})
	for i := int64(1); !strings.Contains(buf.String(), "file copy progress"); i++ {
		if i > 10000 {
			t.Fatal("no progress line in 10000 intervals")
		}
		n.Store(i)
		time.Sleep(time.Millisecond)
	}
	n.Store(5e6)
	final := m.stop()
	if len(final) != 6 || final[0] != "files" || final[1] != "5.0MB" || final[2] != "seconds" || final[4] != "rate" {
		t.Errorf("final fields %v", final)
	}
	m.stop()
	after := buf.String()
	time.Sleep(5 * time.Millisecond)
	if buf.String() != after {
		t.Error("the meter logged after stop")
	}
}

type syncBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
