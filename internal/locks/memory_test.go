package locks_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/locks"
)

func TestMemoryExclusiveAndReleased(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := locks.NewMemory()
	a, err := m.TryAcquire(ctx, "site/1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.TryAcquire(ctx, "site/1", time.Minute); !errors.Is(err, locks.ErrHeld) {
		t.Fatalf("second acquire: %v, want ErrHeld", err)
	}
	other, err := m.TryAcquire(ctx, "site/2", time.Minute)
	if err != nil {
		t.Fatalf("another name: %v", err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := m.TryAcquire(ctx, "site/1", time.Minute)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	if b.Fence() <= a.Fence() {
		t.Errorf("fence did not grow: %d then %d", a.Fence(), b.Fence())
	}
	// A stale Release must not free the new holder's lock.
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m.TryAcquire(ctx, "site/1", time.Minute); !errors.Is(err, locks.ErrHeld) {
		t.Fatalf("stale release freed the lock: %v", err)
	}
	_ = other.Release(ctx)
	_ = b.Release(ctx)
}

func TestMemoryRejectsBadInput(t *testing.T) {
	t.Parallel()
	m := locks.NewMemory()
	if _, err := m.TryAcquire(context.Background(), "x", 0); err == nil {
		t.Error("zero ttl accepted")
	}
	if _, err := m.TryAcquire(context.Background(), "", time.Second); err == nil {
		t.Error("empty name accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.TryAcquire(ctx, "x", time.Second); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx: %v", err)
	}
}

func TestMemoryLostOnRevokeAndClose(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := locks.NewMemory()
	a, _ := m.TryAcquire(ctx, "a", time.Millisecond)
	b, _ := m.TryAcquire(ctx, "b", time.Millisecond)
	time.Sleep(5 * time.Millisecond) // past ttl: in-process leases do not expire
	select {
	case <-a.Lost():
		t.Fatal("in-process lease lost without a revoke")
	default:
	}
	if !m.Revoke("a") {
		t.Fatal("revoke of held lock reported not held")
	}
	<-a.Lost()
	c, err := m.TryAcquire(ctx, "a", time.Second)
	if err != nil {
		t.Fatalf("acquire after revoke: %v", err)
	}
	if c.Fence() <= a.Fence() {
		t.Error("fence did not grow after revoke")
	}
	_ = m.Close()
	<-b.Lost()
	<-c.Lost()
	if _, err := m.TryAcquire(ctx, "z", time.Second); !errors.Is(err, locks.ErrClosed) {
		t.Errorf("acquire after close: %v", err)
	}
	_ = a.Release(ctx) // harmless
}

func TestMemoryFencesGrowAcrossRestarts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	first := locks.NewMemory()
	var last uint64
	for range 100 {
		l, _ := first.TryAcquire(ctx, "site/1", time.Second)
		last = l.Fence()
		_ = l.Release(ctx)
	}
	time.Sleep(time.Microsecond)
	restarted := locks.NewMemory()
	l, _ := restarted.TryAcquire(ctx, "site/1", time.Second)
	if l.Fence() <= last {
		t.Fatalf("fence after restart %d is not above %d", l.Fence(), last)
	}
}

func TestMemoryConcurrentMutualExclusion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := locks.NewMemory()
	var inside, maxInside, wins atomic.Int64
	var mu sync.Mutex
	fences := map[uint64]bool{}
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				l, err := m.TryAcquire(ctx, "site/1", time.Second)
				if errors.Is(err, locks.ErrHeld) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				n := inside.Add(1)
				if n > maxInside.Load() {
					maxInside.Store(n)
				}
				mu.Lock()
				if fences[l.Fence()] {
					t.Errorf("fence %d handed out twice", l.Fence())
				}
				fences[l.Fence()] = true
				mu.Unlock()
				wins.Add(1)
				inside.Add(-1)
				_ = l.Release(ctx)
			}
		}()
	}
	wg.Wait()
	if maxInside.Load() > 1 {
		t.Fatalf("%d holders at once", maxInside.Load())
	}
	if wins.Load() == 0 {
		t.Fatal("nobody ever got the lock")
	}
}
