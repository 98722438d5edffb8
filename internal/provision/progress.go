package provision

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aegirhq/aegir/internal/provision/archive"
	"github.com/aegirhq/aegir/internal/provision/sitetree"
)

// Progress of long steps. A backup, restore, clone, migrate or
// verify-backup of a site of tens of GB runs for minutes between two log
// lines; an operator following the task's log could not tell whether it
// was working or stuck. While such a step runs, a meter logs every
// Runner.ProgressInterval (default 5 s) what it has done so far, from the
// bytes actually read or written:
//
//	backup progress archive=410MB database=310MB files=1.2GB/4.5GB left=20s percent=27 rate=180MB/s reason=manual
//	unpack progress archive=1.1GB/2.0GB database=0B files=2.3GB left=9s percent=55 rate=230MB/s
//	database load progress dump=310MB/1.1GB left=40s percent=28 rate=20MB/s
//
// The fields: each part of the step in bytes so far, with its total after
// a slash when one is known (a backup's files: a walk of the site
// directory, on a goroutine of its own so the backup does not wait for
// it; an unpack: the archive's size; a load: the dump's size; a database
// dump has none), percent and left (the time still needed at the rate so
// far) from the first part with a total, and rate: the site's data
// (files and dump, not the compressed archive) per second. Values are
// decimal units without spaces, so the line renders as key=value in the
// CLI and the dashboard. The step's final line (backup written, backup
// unpacked and verified, database loaded, ...) adds the same parts in
// all, seconds and rate. The lines hold only sizes, durations and the
// backup's reason: never a path, a name or a secret.
//
// The hot path only adds to atomic counters, once per buffer (1 MiB for
// files and archives, a part for a dump, 32 MiB for a file copy), or not
// at all: a dump loaded from a file is measured by reading the offset the
// database client's stdin has reached. The meter's own goroutine formats
// the lines.

// DefaultProgressInterval is how often a long step logs its progress.
const DefaultProgressInterval = 5 * time.Second

// gauge is one part of a step a meter reports.
type gauge struct {
	name  string
	get   func() int64
	total func() int64 // nil when no total is known; 0 while unknown
	data  bool         // site data (files, dump), counted in the rate
	count bool         // a number of things, not bytes
}

// text is n as the gauge shows it: a size, or a plain number.
func (g gauge) text(n int64) string {
	if g.count {
		return strconv.FormatInt(n, 10)
	}
	return sizeString(n)
}

// meter logs a step's progress until stop.
type meter struct {
	log    *slog.Logger
	step   string
	attrs  []slog.Attr // on every line, e.g. a backup's reason
	gauges []gauge
	start  time.Time
	stopc  chan struct{}
	done   chan struct{}
	once   sync.Once
}

// startMeter starts logging step's progress every ProgressInterval.
func (j *job) startMeter(step string, attrs []slog.Attr, gauges ...gauge) *meter {
	every := DefaultProgressInterval
	if j.runner != nil && j.runner.ProgressInterval > 0 {
		every = j.runner.ProgressInterval
	}
	m := &meter{log: j.log, step: step, attrs: attrs, gauges: gauges, start: time.Now(),
		stopc: make(chan struct{}), done: make(chan struct{})}
	go m.run(every)
	return m
}

func (m *meter) run(every time.Duration) {
	defer close(m.done)
	t := time.NewTicker(every)
	defer t.Stop()
	logged := false
	for {
		select {
		case <-t.C:
			m.log.LogAttrs(context.Background(), slog.LevelInfo, m.step+" progress", m.line()...)
			logged = true
		case <-m.stopc:
			// A step that ran for an interval shows at least one line,
			// even when a loaded machine ran this goroutine only after
			// the step had ended.
			if !logged && time.Since(m.start) >= every {
				m.log.LogAttrs(context.Background(), slog.LevelInfo, m.step+" progress", m.line()...)
			}
			return
		}
	}
}

// line is a progress line's fields.
func (m *meter) line() []slog.Attr {
	elapsed := time.Since(m.start)
	attrs := make([]slog.Attr, 0, len(m.gauges)+3+len(m.attrs))
	var data, done, total int64
	for _, g := range m.gauges {
		n := g.get()
		v := g.text(n)
		if g.total != nil {
			if t := g.total(); t > 0 {
				v += "/" + g.text(t)
				if total == 0 {
					done, total = n, t
				}
			}
		}
		if g.data {
			data += n
		}
		attrs = append(attrs, slog.String(g.name, v))
	}
	if total > 0 {
		attrs = append(attrs, slog.Int64("percent", min(100, done*100/total)))
		if done > 0 && done < total {
			left := time.Duration(float64(elapsed) * float64(total-done) / float64(done))
			attrs = append(attrs, slog.String("left", durationString(left)))
		}
	}
	if m.hasData() {
		attrs = append(attrs, slog.String("rate", rateString(data, elapsed)))
	}
	return append(attrs, m.attrs...)
}

// stop ends the progress lines and returns the fields of the step's final
// line: each part in all, seconds and rate. It may be called again.
func (m *meter) stop() []any {
	m.once.Do(func() { close(m.stopc) })
	<-m.done
	elapsed := time.Since(m.start)
	var data int64
	out := make([]any, 0, 2*len(m.gauges)+4)
	for _, g := range m.gauges {
		n := g.get()
		if g.data {
			data += n
		}
		out = append(out, g.name, g.text(n))
	}
	out = append(out, "seconds", fmt.Sprintf("%.2f", elapsed.Seconds()))
	if m.hasData() {
		out = append(out, "rate", rateString(data, elapsed))
	}
	return out
}

// hasData reports whether a gauge counts site data: only then has the
// step a rate (removing files has none).
func (m *meter) hasData() bool {
	for _, g := range m.gauges {
		if g.data {
			return true
		}
	}
	return false
}

// archiveGauges are the parts of reading an archive of size bytes: the
// compressed bytes read (the total), and the files and dump written out.
func archiveGauges(p *archive.Progress, size int64) []gauge {
	return []gauge{
		{name: "archive", get: p.Archive.Load, total: func() int64 { return size }},
		{name: "files", get: p.Files.Load, data: true},
		{name: "database", get: p.Database.Load, data: true},
	}
}

// treeTotal returns a total that a walk of dir, on a goroutine of its
// own, fills in: 0 until the walk has finished, or if it failed. The walk
// starts when the total is first asked for (the first progress line), so
// a backup shorter than the progress interval reads the tree's metadata
// once, not twice (which counts on a site of many small files). It stops when ctx ends, and follows no link (sitetree).
func treeTotal(ctx context.Context, dir string) func() int64 {
	var total atomic.Int64
	var once sync.Once
	return func() int64 {
		once.Do(func() {
			go func() {
				var n int64
				err := sitetree.Walk(ctx, dir, func(e *sitetree.Entry) error {
					if e.Mode.IsRegular() {
						n += e.Size
					}
					return nil
				})
				if err == nil {
					total.Store(n)
				}
			}()
		})
		return total.Load()
	}
}

// fileOffset returns how far f has been read: a database client given f
// as its stdin shares its offset, so a load is measured without copying
// the dump through aegir.
func fileOffset(f *os.File) func() int64 {
	return func() int64 {
		off, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			return 0
		}
		return off
	}
}

// countingWriter passes writes to w and adds what was written to n.
type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(b []byte) (int, error) {
	k, err := c.w.Write(b)
	c.n.Add(int64(k))
	return k, err
}

// sizeString is n bytes in decimal units: 512B, 12.3kB, 1.2GB, 310MB.
func sizeString(n int64) string {
	if n < 1000 {
		return strconv.FormatInt(n, 10) + "B"
	}
	f := float64(n)
	unit := ""
	for _, u := range []string{"kB", "MB", "GB", "TB", "PB"} {
		if f < 1000 && unit != "" {
			break
		}
		f, unit = f/1000, u
	}
	if f < 99.95 {
		return strconv.FormatFloat(f, 'f', 1, 64) + unit
	}
	return strconv.FormatFloat(f, 'f', 0, 64) + unit
}

// rateString is n bytes over d per second: 180MB/s.
func rateString(n int64, d time.Duration) string {
	if d <= 0 {
		return "0B/s"
	}
	return sizeString(int64(float64(n)/d.Seconds())) + "/s"
}

// durationString is d to the second: <1s, 20s, 3m05s, 1h02m.
func durationString(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	switch {
	case s < 1:
		return "<1s"
	case s < 60:
		return strconv.FormatInt(s, 10) + "s"
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	default:
		return fmt.Sprintf("%dh%02dm", s/3600, s/60%60)
	}
}
