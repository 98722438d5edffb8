package store

import (
	"context"
	"errors"
	"time"
)

// retryReads is a KV whose reads (Get, List) are retried with backoff, for
// up to limit, while the backend answers ErrUnavailable: a Consul restart
// or leader election then delays a read by seconds instead of failing it.
// Txn and Watch pass through: a write that failed may have been applied
// (its caller checks), and a watcher retries on its own.
type retryReads struct {
	KV
	limit time.Duration
}

func (r *retryReads) Get(ctx context.Context, key string) (p *Pair, err error) {
	err = r.retry(ctx, func() error {
		p, err = r.KV.Get(ctx, key)
		return err
	})
	return p, err
}

func (r *retryReads) List(ctx context.Context, prefix string) (ps []*Pair, idx uint64, err error) {
	err = r.retry(ctx, func() error {
		ps, idx, err = r.KV.List(ctx, prefix)
		return err
	})
	return ps, idx, err
}

func (r *retryReads) retry(ctx context.Context, read func() error) error {
	deadline := time.Now().Add(r.limit)
	wait := 100 * time.Millisecond
	for {
		err := read()
		if !errors.Is(err, ErrUnavailable) || time.Now().Add(wait).After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}
