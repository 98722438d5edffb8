package logbus

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// BufferedBus is a Redis bus whose writers never wait for Redis and lose
// no line when it restarts: Append goes through one BufferedAppender per
// task, End flushes it and adds the end marker, Read and Delete go to
// Redis directly. Give it to whatever writes task logs (the local
// executor, the dispatcher's own lines, the back end with LogSink
// "redis"); readers can use the Redis bus itself.
//
// Append returns "" as the id: a line gets its id when it reaches Redis.
type BufferedBus struct {
	r   *Redis
	cfg *BufferConfig

	mu    sync.Mutex
	tasks map[string]*BufferedAppender
}

var _ Bus = (*BufferedBus)(nil)

// NewBufferedBus returns a buffering bus on r. cfg may be nil.
func NewBufferedBus(r *Redis, cfg *BufferConfig) *BufferedBus {
	return &BufferedBus{r: r, cfg: cfg, tasks: map[string]*BufferedAppender{}}
}

func (b *BufferedBus) appender(taskID string) *BufferedAppender {
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.tasks[taskID]
	if a == nil {
		a = NewBufferedAppender(b.r, taskID, b.cfg)
		b.tasks[taskID] = a
	}
	return a
}

func (b *BufferedBus) take(taskID string) *BufferedAppender {
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.tasks[taskID]
	delete(b.tasks, taskID)
	return a
}

// Append queues the line for the task's appender and returns "".
func (b *BufferedBus) Append(ctx context.Context, taskID string, l Line) (string, error) {
	return "", b.appender(taskID).Append(ctx, l)
}

// Flush waits until every line of the task appended so far is in Redis.
func (b *BufferedBus) Flush(ctx context.Context, taskID string) error {
	b.mu.Lock()
	a := b.tasks[taskID]
	b.mu.Unlock()
	if a == nil {
		return nil
	}
	return a.Flush(ctx)
}

// End sends the task's queued lines and ends its log. If ctx ends first
// the queued lines are dropped and the log is ended as it is.
func (b *BufferedBus) End(ctx context.Context, taskID string) error {
	a := b.take(taskID)
	if a == nil {
		return b.r.End(ctx, taskID)
	}
	err := a.End(ctx)
	a.Close()
	if err != nil {
		// Best effort: followers must still learn the task is over.
		bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = b.r.End(bg, taskID)
	}
	return err
}

// Read reads from Redis.
func (b *BufferedBus) Read(ctx context.Context, taskID, afterID string, max int, wait time.Duration) ([]Line, bool, error) {
	return b.r.Read(ctx, taskID, afterID, max, wait)
}

// Delete drops the task's queued lines and deletes its stream.
func (b *BufferedBus) Delete(ctx context.Context, taskID string) error {
	if a := b.take(taskID); a != nil {
		a.Close()
	}
	return b.r.Delete(ctx, taskID)
}

// Close stops every appender; queued lines are dropped. A process that
// stops calls Shutdown instead, so the lines written just before reach
// Redis.
func (b *BufferedBus) Close() { b.closeAll() }

// closeAll stops every appender and returns how many lines they had not
// yet seen acknowledged by Redis.
func (b *BufferedBus) closeAll() (dropped int) {
	b.mu.Lock()
	tasks := b.tasks
	b.tasks = map[string]*BufferedAppender{}
	b.mu.Unlock()
	for _, a := range tasks {
		a.Close()
		dropped += a.queued()
	}
	return dropped
}

// Shutdown sends every task's queued lines to Redis, waiting until ctx
// ends, then stops every appender as Close does. A stopping aegir calls it
// before it closes its Redis client: Append only queues a line, so the
// lines written last (the dispatcher's note that it hands a running task
// over to the next aegir process) are still queued, or on their way, when
// the process stops, and Close would drop them. The lines still unsent
// when ctx ends (Redis away) are dropped; the error says how many.
func (b *BufferedBus) Shutdown(ctx context.Context) error {
	b.mu.Lock()
	tasks := make([]*BufferedAppender, 0, len(b.tasks))
	for _, a := range b.tasks {
		tasks = append(tasks, a)
	}
	b.mu.Unlock()
	// The appenders send at once, each on its own goroutine: waiting for
	// them one after the other takes as long as the slowest.
	for _, a := range tasks {
		_ = a.Flush(ctx) // ctx ended, or a log already ended: counted below
	}
	n := b.closeAll()
	switch {
	case n == 0:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("%d live log lines were not sent to Redis before the stop (%w); their tasks' logs lack them", n, ctx.Err())
	}
	return fmt.Errorf("%d live log lines appended during the stop were not sent to Redis; their tasks' logs lack them", n)
}

// Buffered is how many lines wait in memory for Redis, over every task:
// nonzero for long only while Redis is unreachable. For the operator's
// status view.
func (b *BufferedBus) Buffered() int {
	b.mu.Lock()
	tasks := make([]*BufferedAppender, 0, len(b.tasks))
	for _, a := range b.tasks {
		tasks = append(tasks, a)
	}
	b.mu.Unlock()
	n := 0
	for _, a := range tasks {
		n += a.queued()
	}
	return n
}
