package logbus

import (
	"cmp"
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// MemoryConfig configures a Memory bus.
type MemoryConfig struct {
	// MaxLines bounds the lines kept per task. When a task logs more, the
	// oldest lines are dropped, and a reader that asks for them gets one
	// warning line saying how many it missed instead. Default: 100,000.
	MaxLines int
	// MaxMsgSize bounds one line's message in bytes; longer messages are
	// cut and marked "…[truncated]". Default: 16 KiB.
	MaxMsgSize int
}

// DefaultMaxLines is the default per-task bound of a Memory bus.
const DefaultMaxLines = 100_000

// DefaultMaxReadLines is how many lines Read returns when max is 0 or less.
const DefaultMaxReadLines = 1000

// Memory is the in-process Bus, the embedded default: one bounded list of
// lines per task, in this process's memory. Followers block on a channel
// that is closed and replaced on every change, so any number of them wake
// at once without polling. Safe for concurrent use.
//
// Ids are "<n>-0" with n counting from 1 per task. A live log lives until
// Delete (the dispatcher deletes it once archived); a log nobody deletes
// stays in memory, bounded by MaxLines.
type Memory struct {
	cfg MemoryConfig

	mu   sync.Mutex
	logs map[string]*memLog
	// created is closed and replaced whenever a log is created or deleted,
	// waking readers that wait for a task's log to appear.
	created chan struct{}
}

var _ Bus = (*Memory)(nil)

type memLog struct {
	lines []Line // ring of at most MaxLines lines, oldest at head
	head  int
	// first is the number of lines[head]; next the number of the next line
	// appended. Lines first..next-1 are kept, 1..first-1 were dropped.
	first, next uint64
	ended       bool
	changed     chan struct{}
}

// NewMemory returns an empty in-process bus. cfg may be nil.
func NewMemory(cfg *MemoryConfig) *Memory {
	c := MemoryConfig{}
	if cfg != nil {
		c = *cfg
	}
	c.MaxLines = cmp.Or(c.MaxLines, DefaultMaxLines)
	c.MaxMsgSize = cmp.Or(c.MaxMsgSize, 16*1024)
	return &Memory{cfg: c, logs: map[string]*memLog{}, created: make(chan struct{})}
}

func memID(n uint64) string { return strconv.FormatUint(n, 10) + "-0" }

// Append adds a line to the task's log, creating the log on the first line.
// The line's ID is assigned here; a zero Time becomes now and an empty Level
// "info". Appending to an ended log is an error.
func (m *Memory) Append(ctx context.Context, taskID string, l Line) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if l.Time.IsZero() {
		l.Time = time.Now().UTC()
	}
	l.Level = cmp.Or(l.Level, "info")
	if len(l.Msg) > m.cfg.MaxMsgSize {
		l.Msg = l.Msg[:m.cfg.MaxMsgSize] + "…[truncated]"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	lg := m.logs[taskID]
	if lg == nil {
		lg = m.create(taskID)
	}
	if lg.ended {
		return "", fmt.Errorf("log of task %s has ended; a finished task takes no more lines", taskID)
	}
	l.ID = memID(lg.next)
	if len(lg.lines) < m.cfg.MaxLines {
		lg.lines = append(lg.lines, l)
	} else {
		// Full: overwrite the oldest line.
		lg.lines[lg.head] = l
		lg.head = (lg.head + 1) % len(lg.lines)
		lg.first++
	}
	lg.next++
	lg.notify()
	return l.ID, nil
}

// create adds an empty log; the caller holds mu.
func (m *Memory) create(taskID string) *memLog {
	lg := &memLog{first: 1, next: 1, changed: make(chan struct{})}
	m.logs[taskID] = lg
	close(m.created)
	m.created = make(chan struct{})
	return lg
}

func (lg *memLog) notify() {
	close(lg.changed)
	lg.changed = make(chan struct{})
}

// End marks the task's log complete. Ending a log that has no lines creates
// an empty, ended log, so followers learn the task is over.
func (m *Memory) End(ctx context.Context, taskID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	lg := m.logs[taskID]
	if lg == nil {
		lg = m.create(taskID)
	}
	if !lg.ended {
		lg.ended = true
		lg.notify()
	}
	return nil
}

// Delete removes the task's live log and wakes its followers, who then get
// ErrNoLog (and read the archive instead).
func (m *Memory) Delete(ctx context.Context, taskID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if lg := m.logs[taskID]; lg != nil {
		delete(m.logs, taskID)
		lg.notify()
		close(m.created)
		m.created = make(chan struct{})
	}
	return nil
}

// Read returns up to max lines after afterID. When there are none yet and
// the log has not ended it waits up to wait for one (or for the log to
// appear, if the task has not logged anything yet). It returns ErrNoLog when
// there is still no log for the task after waiting.
//
// If lines after afterID were dropped because the log outgrew MaxLines, the
// first line returned is a warning that says how many, carrying the id of
// the last dropped line, so resuming after it continues with the oldest
// line kept.
func (m *Memory) Read(ctx context.Context, taskID, afterID string, max int, wait time.Duration) ([]Line, bool, error) {
	if max <= 0 {
		max = DefaultMaxReadLines
	}
	after, _ := parseID(afterID)
	var timer <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		timer = t.C
	}
	seen := false // the log existed: if it goes, it was deleted
	for {
		m.mu.Lock()
		lg := m.logs[taskID]
		var wake chan struct{}
		if lg == nil && seen {
			m.mu.Unlock()
			return nil, false, ErrNoLog
		}
		if lg == nil {
			wake = m.created
		} else {
			lines, done := lg.read(after, max)
			if len(lines) > 0 || done {
				m.mu.Unlock()
				return lines, done, nil
			}
			wake = lg.changed
			seen = true
		}
		m.mu.Unlock()
		if timer == nil {
			if lg == nil {
				return nil, false, ErrNoLog
			}
			return nil, false, nil
		}
		select {
		case <-wake:
		case <-timer:
			timer = nil // one last look, then return
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
}

// read returns up to limit lines after line number after; the caller holds mu.
func (lg *memLog) read(after uint64, limit int) ([]Line, bool) {
	var out []Line
	if lg.first > 1 && after < lg.first-1 {
		out = append(out, Line{
			ID:    memID(lg.first - 1),
			Time:  lg.lines[lg.head].Time,
			Level: "warn",
			Msg:   fmt.Sprintf("[%d earlier lines were dropped: the log kept only its last %d lines]", lg.first-1-after, len(lg.lines)),
		})
		after = lg.first - 1
	}
	after = max(after, lg.first-1)
	for n := after + 1; n < lg.next && len(out) < limit; n++ {
		out = append(out, lg.lines[(lg.head+int(n-lg.first))%len(lg.lines)])
	}
	last := after
	if len(out) > 0 {
		last, _ = parseID(out[len(out)-1].ID)
	}
	done := lg.ended && last >= lg.next-1
	return out, done
}
