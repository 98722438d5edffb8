package queue

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/locks"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/store/boltkv"
)

// flakyLocker fails its first `fail` acquisitions as a Redis that does
// not answer would.
type flakyLocker struct {
	locks.Locker
	fail atomic.Int32
}

func (l *flakyLocker) TryAcquire(ctx context.Context, name string, ttl time.Duration) (locks.Lease, error) {
	if l.fail.Add(-1) >= 0 {
		return nil, errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")
	}
	return l.Locker.TryAcquire(ctx, name, ttl)
}

// TestStartPassRetriesWhileRedisIsAway: a pass whose queue lock cannot
// be taken for a moment starts once it can, within StartRetry; a pass
// already running is answered at once.
func TestStartPassRetriesWhileRedisIsAway(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	bolt, err := boltkv.Open(filepath.Join(t.TempDir(), "aegir.db"), &boltkv.Config{NoSync: true})
	must(t, err)
	st := store.New(bolt, &store.Config{Logger: log})
	t.Cleanup(func() { _ = st.Close() })
	lk := &flakyLocker{Locker: locks.NewMemory()}
	q, err := New(Config{Store: st, Locker: lk, Logger: log, Poll: 5 * time.Millisecond, StartRetry: 5 * time.Second})
	must(t, err)
	t.Cleanup(q.Close)
	ctx := context.Background()

	lk.fail.Store(3)
	rep, err := q.RunPass(ctx, Stats)
	if err != nil || rep.State != PassDone {
		t.Fatalf("pass after 3 failed lock attempts: %+v, %v", rep, err)
	}

	// Past StartRetry the error comes back.
	q2, err := New(Config{Store: st, Locker: lk, Logger: log, Poll: 5 * time.Millisecond, StartRetry: 30 * time.Millisecond})
	must(t, err)
	t.Cleanup(q2.Close)
	lk.fail.Store(1000)
	if _, err := q2.StartPass(ctx, Stats); err == nil {
		t.Fatal("a pass started though its lock could never be taken")
	}
	lk.fail.Store(0)
}
