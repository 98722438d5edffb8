package locks

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Memory is the in-process Locker, the embedded default (aegir dev, or one
// aegir server on one machine). Every holder lives in this process, so:
//
//   - A lease does not expire while held: ttl is checked but not enforced.
//     A holder that stalls keeps the lock, which is safe because no other
//     process can be waiting for it; if the process dies, every lease dies
//     with it. There is nothing to renew.
//   - Lost fires only when the lease is revoked: by Close (the locker is
//     shutting down) or by Revoke (an operator or a test taking a lock away).
//     Holders must treat it exactly as a Redis lease whose renewal failed.
//   - Fencing tokens grow with every acquisition of a name and never repeat.
//     They start from the wall clock in nanoseconds at NewMemory, so they
//     keep growing across restarts of the process too, and a store that
//     remembers the last token it saw (which outlives the process) keeps
//     accepting the new holder's writes.
type Memory struct {
	mu     sync.Mutex
	held   map[string]*memLease
	fences map[string]uint64
	base   uint64
	closed bool
}

var _ Locker = (*Memory)(nil)

// NewMemory returns an in-process locker.
func NewMemory() *Memory {
	return &Memory{held: map[string]*memLease{}, fences: map[string]uint64{}, base: uint64(time.Now().UnixNano())}
}

// ErrClosed means the locker was closed.
var ErrClosed = errors.New("locker is closed")

// TryAcquire takes name if it is free, or returns ErrHeld.
func (m *Memory) TryAcquire(ctx context.Context, name string, ttl time.Duration) (Lease, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if name == "" {
		return nil, errors.New("lock name is empty")
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("lock %s: ttl must be positive, got %s", name, ttl)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	if _, ok := m.held[name]; ok {
		return nil, fmt.Errorf("%s: %w", name, ErrHeld)
	}
	f := max(m.fences[name]+1, m.base)
	m.fences[name] = f
	l := &memLease{m: m, name: name, fence: f, lost: make(chan struct{})}
	m.held[name] = l
	return l, nil
}

// Revoke takes name away from its holder, whose Lost channel closes: the
// fault a Redis lease suffers when its renewal fails. It reports whether
// the name was held.
func (m *Memory) Revoke(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.held[name]
	if ok {
		delete(m.held, name)
		close(l.lost)
	}
	return ok
}

// Close revokes every lease and refuses new ones.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	for name, l := range m.held {
		delete(m.held, name)
		close(l.lost)
	}
	return nil
}

type memLease struct {
	m     *Memory
	name  string
	fence uint64
	lost  chan struct{}
}

func (l *memLease) Fence() uint64         { return l.fence }
func (l *memLease) Lost() <-chan struct{} { return l.lost }

// Release frees the lock. Releasing twice, or after the lease was revoked,
// does nothing: the name may belong to someone else by then.
func (l *memLease) Release(ctx context.Context) error {
	l.m.mu.Lock()
	defer l.m.mu.Unlock()
	if l.m.held[l.name] == l {
		delete(l.m.held, l.name)
	}
	return nil
}
