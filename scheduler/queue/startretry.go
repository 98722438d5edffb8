package queue

import (
	"context"
	"errors"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/locks"
	"github.com/aegirhq/aegir/internal/store"
)

// beginRetrying is begin, retried with backoff (from 4 × Poll, doubling,
// at most 10s) for up to Config.StartRetry while it fails for a reason
// that may go away on its own: the store or Redis (the queue's lock) not
// answering for a moment, e.g. during a Consul restart. A pass already
// running, an unknown queue or a closing process is answered at once.
// A pass that still cannot start on a store or Redis outage is recorded
// as failed with its code, when the store takes the record
// (recordFailedStart).
func (q *Queues) beginRetrying(ctx context.Context, name string) (*activePass, error) {
	deadline := time.Now().Add(q.cfg.StartRetry)
	wait := 4 * q.cfg.Poll
	for try := 1; ; try++ {
		p, err := q.begin(ctx, name)
		if err == nil || !startRetryable(err) || ctx.Err() != nil || time.Now().Add(wait).After(deadline) {
			if err != nil && transient(err) && ctx.Err() == nil {
				q.recordFailedStart(ctx, name, err)
			}
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

// transient reports whether err is the store (Consul) or the lock
// service (Redis) not answering: a retry later may succeed.
func transient(err error) bool {
	return errors.Is(err, store.ErrUnavailable) || errors.Is(err, locks.ErrUnavailable)
}

// Codes a pass record carries (PassReport.Code) when the pass failed
// because a service did not answer; the API answers the same errors with
// the same codes.
const (
	CodeStoreUnavailable = "store_unavailable"
	CodeBusUnavailable   = "bus_unavailable"
)

// failureCode is the code of a pass that failed with err ("" when no
// service outage explains it).
func failureCode(err error) string {
	switch {
	case errors.Is(err, store.ErrUnavailable):
		return CodeStoreUnavailable
	case errors.Is(err, locks.ErrUnavailable):
		return CodeBusUnavailable
	}
	return ""
}

// retryTransient runs write until it succeeds, fails for a reason other
// than an outage (transient), limit has passed or ctx ends, waiting 4 ×
// Poll, doubling, at most 5s between tries. It is for idempotent writes
// and for savePass (check-and-set, which sorts out a write that was
// applied though it reported an error).
// attrs are logged with each retry.
func (q *Queues) retryTransient(ctx context.Context, limit time.Duration, what string, write func(context.Context) error, attrs ...any) error {
	deadline := time.Now().Add(limit)
	wait := 4 * q.cfg.Poll
	for try := 1; ; try++ {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := write(wctx)
		cancel()
		if err == nil || !transient(err) || ctx.Err() != nil || time.Now().Add(wait).After(deadline) {
			return err
		}
		q.log.Warn(what+" failed; retrying once the store answers", append(attrs, "try", try, "in", wait, "err", err)...)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return err
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// recordFailedStart writes a failed pass record for a pass that could
// not start because the store or Redis did not answer, so that the
// queue's passes show the miss and its code; if the store still does not
// answer there is nothing to write to, and the error is only logged.
func (q *Queues) recordFailedStart(ctx context.Context, name string, cause error) {
	now := q.cfg.Now().UTC()
	p := &activePass{rep: PassReport{ID: domain.NewID(), Queue: name, State: PassFailed, Started: now, Finished: now,
		Code: failureCode(cause), Error: clipText("the pass could not start: "+cause.Error(), 300)}}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := q.savePass(wctx, p); err != nil {
		q.log.Warn("a pass that could not start was not recorded either", "queue", name, "err", err)
	}
}
