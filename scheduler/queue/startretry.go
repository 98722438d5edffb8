package queue

import (
	"context"
	"errors"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
)

// beginRetrying is begin, retried with backoff (from 4 × Poll, doubling,
// at most 10s) for up to Config.StartRetry while it fails for a reason
// that may go away on its own: the store or Redis (the queue's lock) not
// answering for a moment, e.g. during a Consul restart. A pass already
// running, an unknown queue or a closing process is answered at once.
func (q *Queues) beginRetrying(ctx context.Context, name string) (*activePass, error) {
	deadline := time.Now().Add(q.cfg.StartRetry)
	wait := 4 * q.cfg.Poll
	for try := 1; ; try++ {
		p, err := q.begin(ctx, name)
		if err == nil || !startRetryable(err) || ctx.Err() != nil || time.Now().Add(wait).After(deadline) {
			return p, err
		}
		q.log.Warn("a queue pass could not start; retrying", "queue", name, "try", try, "in", wait, "err", err)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, err
		}
		wait = min(2*wait, 10*time.Second)
	}
}

// startRetryable reports whether begin's error may go away by itself.
func startRetryable(err error) bool {
	return !errors.Is(err, ErrPassRunning) && !errors.Is(err, domain.ErrNotFound) && !errors.Is(err, domain.ErrConflict) &&
		!errors.Is(err, ErrClosed) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}
