package locks

import (
	"context"
	"errors"
	"time"
)

// Locker hands out exclusive, expiring leases on names ("site/<id>",
// "dispatcher", "queue/cron").
type Locker interface {
	// TryAcquire takes the lease on name for ttl if it is free, and returns
	// ErrHeld if someone else holds it. The lease is renewed in the
	// background until released or lost.
	TryAcquire(ctx context.Context, name string, ttl time.Duration) (Lease, error)
}

// Lease is a held lock.
type Lease interface {
	// Fence is the fencing token: it grows with every acquisition of the
	// same name, so a store can refuse writes from an older holder.
	Fence() uint64
	// Lost is closed when the lease could not be renewed and may now be
	// held by someone else: stop work and do not write.
	Lost() <-chan struct{}
	// Release gives the lease up.
	Release(ctx context.Context) error
}

// ErrHeld means the lock is held by someone else.
var ErrHeld = errors.New("lock is held by someone else")

// ErrUnavailable means the locks' backend (Redis) did not answer: a retry
// later may succeed. The API answers it 503 bus_unavailable.
var ErrUnavailable = errors.New("the lock service (Redis) did not answer")
