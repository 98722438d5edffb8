package logbus

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// BufferConfig configures a BufferedAppender.
type BufferConfig struct {
	// QueueLines bounds the lines appended but not yet in Redis. Append
	// blocks while the queue is full (Redis down, or slower than the task).
	// Default: 10,000.
	QueueLines int
	// KeepLines and KeepBytes bound the lines kept after they reached
	// Redis, for sending again if Redis loses them. Past either bound the
	// oldest are let go; if Redis then loses them, the log says how many
	// were lost. Default: the bus's MaxLen, and 64 MiB.
	KeepLines int
	KeepBytes int
	// BatchLines is the most lines sent in one round trip. Default: 256.
	BatchLines int
	// RetryMin and RetryMax bound the backoff between attempts while Redis
	// is unreachable. Default: 50ms and 2s.
	RetryMin, RetryMax time.Duration
	// Logger receives the appender's own logs. Default: the bus's.
	Logger *slog.Logger
}

func (c BufferConfig) withDefaults(r *Redis) BufferConfig {
	c.QueueLines = cmp.Or(c.QueueLines, 10_000)
	c.KeepLines = cmp.Or(c.KeepLines, int(r.cfg.MaxLen))
	c.KeepBytes = cmp.Or(c.KeepBytes, 64<<20)
	c.BatchLines = cmp.Or(c.BatchLines, 256)
	c.RetryMin = cmp.Or(c.RetryMin, 50*time.Millisecond)
	c.RetryMax = cmp.Or(c.RetryMax, 2*time.Second)
	c.Logger = cmp.Or(c.Logger, r.log)
	return c
}

// BufferedAppender writes one task's log to a Redis bus without ever
// making the task wait for Redis, and without losing a line when Redis
// restarts:
//
//   - Append puts the line in a bounded in-memory queue and returns; one
//     goroutine sends the queue in order, in batches. Append blocks only
//     when the queue is full.
//   - While Redis is unreachable the goroutine retries with backoff,
//     keeping the order.
//   - Every line that reached Redis is kept (up to KeepLines/KeepBytes)
//     with the id Redis gave it. Each batch first checks that the
//     previous batch's last line is still in the stream; if Redis lost it
//     (restarted without persistence, flushed), the lost lines are sent
//     again with their original ids before anything new, so the stream is
//     whole again and followers resume without gaps or repeats.
//   - Flush waits until every line appended so far is in Redis; End also
//     adds the end marker, after the same check.
//
// Safe for concurrent use. Close (or End) stops its goroutine.
type BufferedAppender struct {
	bus    *Redis
	taskID string
	cfg    BufferConfig
	log    *slog.Logger

	mu        sync.Mutex
	pending   []Line // appended, not yet in redis, oldest first; a batch leaves it once acknowledged
	kept      []Line // in redis, with their ids, oldest first
	keptBytes int
	dropped   int    // lines let go from kept
	lastID    string // id of the newest line in redis
	endWanted bool
	ended     bool
	closed    bool
	err       error         // a permanent failure: the log had ended
	changed   chan struct{} // closed and replaced on every change
	wake      chan struct{}

	stop context.CancelFunc
	done chan struct{}
}

// NewBufferedAppender starts an appender of task taskID's log. cfg may be nil.
func NewBufferedAppender(bus *Redis, taskID string, cfg *BufferConfig) *BufferedAppender {
	c := BufferConfig{}
	if cfg != nil {
		c = *cfg
	}
	c = c.withDefaults(bus)
	ctx, stop := context.WithCancel(context.Background())
	a := &BufferedAppender{
		bus: bus, taskID: taskID, cfg: c, log: c.Logger.With("task", taskID),
		changed: make(chan struct{}), wake: make(chan struct{}, 1), stop: stop, done: make(chan struct{}),
	}
	go a.run(ctx)
	return a
}

// ErrClosed means the appender was closed.
var ErrClosed = errors.New("log appender is closed")

func (a *BufferedAppender) notify() {
	close(a.changed)
	a.changed = make(chan struct{})
}

func (a *BufferedAppender) poke() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// Append queues a line; its id is assigned when it reaches Redis. It
// blocks while the queue is full, until ctx ends.
func (a *BufferedAppender) Append(ctx context.Context, l Line) error {
	l = a.bus.prepare(l)
	a.mu.Lock()
	for {
		switch {
		case a.err != nil:
			err := a.err
			a.mu.Unlock()
			return err
		case a.closed || a.endWanted:
			a.mu.Unlock()
			return fmt.Errorf("task %s: %w", a.taskID, ErrEnded)
		case len(a.pending) < a.cfg.QueueLines:
			a.pending = append(a.pending, l)
			a.mu.Unlock()
			a.poke()
			return nil
		}
		ch := a.changed
		a.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		a.mu.Lock()
	}
}

// Flush waits until every line appended before it is in Redis, or ctx ends.
func (a *BufferedAppender) Flush(ctx context.Context) error {
	return a.waitFor(ctx, func() bool { return len(a.pending) == 0 || a.closed })
}

// End sends every queued line, then adds the end marker, waiting until
// ctx ends; the appender then stops. If ctx ends first, the appender keeps
// trying in the background until Close.
func (a *BufferedAppender) End(ctx context.Context) error {
	a.mu.Lock()
	a.endWanted = true
	a.mu.Unlock()
	a.poke()
	return a.waitFor(ctx, func() bool { return a.ended || a.closed })
}

func (a *BufferedAppender) waitFor(ctx context.Context, cond func() bool) error {
	for {
		a.mu.Lock()
		ok, err, ch := cond(), a.err, a.changed
		closed := a.closed
		a.mu.Unlock()
		if err != nil {
			return err
		}
		if ok {
			if closed {
				return ErrClosed
			}
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("task %s: log lines still waiting for redis: %w", a.taskID, ctx.Err())
		}
	}
}

// Close stops the appender; lines not yet in Redis are dropped. Call End
// (or Flush) first to keep them.
func (a *BufferedAppender) Close() {
	a.mu.Lock()
	a.closed = true
	a.notify()
	a.mu.Unlock()
	a.stop()
	<-a.done
}

// Lines returns a copy of the lines kept that reached Redis (the whole log
// when it did not outgrow KeepLines/KeepBytes), for an archive that must
// not depend on Redis.
func (a *BufferedAppender) Lines() []Line {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Line(nil), a.kept...)
}

// run sends queued lines in order until closed or ended.
func (a *BufferedAppender) run(ctx context.Context) {
	defer close(a.done)
	backoff := time.Duration(0)
	for {
		a.mu.Lock()
		for len(a.pending) == 0 && !a.endWanted && !a.closed {
			a.mu.Unlock()
			select {
			case <-a.wake:
			case <-ctx.Done():
			}
			a.mu.Lock()
		}
		if a.closed {
			a.mu.Unlock()
			return
		}
		n := min(len(a.pending), a.cfg.BatchLines)
		batch := append([]Line(nil), a.pending[:n]...)
		last, end := a.lastID, n == 0 && a.endWanted
		a.mu.Unlock()

		var lost *string
		var ids []string
		var err error
		if end {
			lost, err = a.bus.endLog(ctx, a.taskID, last)
		} else {
			ids, lost, err = a.bus.appendLines(ctx, a.taskID, last, batch)
		}
		if err == nil && lost != nil {
			err = a.resend(ctx, *lost)
			if err == nil {
				backoff = 0
				continue // now send the batch
			}
		}
		if errors.Is(err, ErrEnded) {
			a.log.Error("log lines refused: the task's log had already ended", "lines", len(a.pending))
			a.mu.Lock()
			a.err = err
			a.pending = nil
			a.notify()
			a.mu.Unlock()
			return
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			backoff = min(max(backoff*2, a.cfg.RetryMin), a.cfg.RetryMax)
			a.log.Warn("redis unreachable; keeping log lines and retrying", "queued", a.queued(), "retry_in", backoff, "err", err)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			continue
		}
		backoff = 0
		a.mu.Lock()
		if end {
			a.ended = true
			a.notify()
			a.mu.Unlock()
			return
		}
		for i := range batch {
			batch[i].ID = ids[i]
		}
		a.keep(batch)
		a.pending = a.pending[n:]
		a.notify()
		a.mu.Unlock()
	}
}

func (a *BufferedAppender) queued() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.pending)
}

// keep adds sent lines to kept and lets the oldest go past the bounds;
// the caller holds mu.
func (a *BufferedAppender) keep(lines []Line) {
	for _, l := range lines {
		a.kept = append(a.kept, l)
		a.keptBytes += len(l.Msg) + 64
		a.lastID = l.ID
	}
	drop := 0
	for len(a.kept)-drop > a.cfg.KeepLines || (a.keptBytes > a.cfg.KeepBytes && len(a.kept)-drop > 1) {
		a.keptBytes -= len(a.kept[drop].Msg) + 64
		drop++
	}
	if drop > 0 {
		// Re-slicing is amortised O(1): append moves kept to a new array
		// when it runs out of room. Cleared first so the messages can go.
		a.dropped += drop
		clear(a.kept[:drop])
		a.kept = a.kept[drop:]
	}
}

// resend sends again the kept lines after have, the newest entry Redis
// still has from before the loss ("" when the whole stream is gone).
func (a *BufferedAppender) resend(ctx context.Context, have string) error {
	a.mu.Lock()
	i := firstAfterID(a.kept, have)
	lines := append([]Line(nil), a.kept[i:]...)
	gone := 0
	if i == 0 && a.dropped > 0 {
		gone = a.dropped // let go before the loss: cannot be sent again
	}
	a.mu.Unlock()
	a.log.Warn("redis lost part of the task's log (restart or flush); sending it again", "lines", len(lines))
	if gone > 0 {
		note := a.bus.prepare(Line{Level: "warn", Msg: fmt.Sprintf("[%d earlier lines were lost: Redis lost them after they were no longer buffered]", gone)})
		if _, _, err := a.bus.appendLines(ctx, a.taskID, "", []Line{note}); err != nil {
			return err
		}
	}
	for off := 0; off < len(lines); off += a.cfg.BatchLines {
		batch := lines[off:min(off+a.cfg.BatchLines, len(lines))]
		ids, err := a.bus.resendLines(ctx, a.taskID, batch)
		if err != nil {
			return err
		}
		a.mu.Lock()
		for j, id := range ids {
			// kept may have lost its head meanwhile only through keep,
			// which runs in this goroutine: indexes are stable.
			a.kept[i+off+j].ID = id
		}
		a.lastID = ids[len(ids)-1]
		a.mu.Unlock()
	}
	if len(lines) == 0 {
		a.mu.Lock()
		a.lastID = have
		a.mu.Unlock()
	}
	return nil
}

// firstAfterID is the index of the first line whose id is after id.
func firstAfterID(lines []Line, id string) int {
	lo, hi := 0, len(lines)
	for lo < hi {
		m := (lo + hi) / 2
		if Less(id, lines[m].ID) {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}
