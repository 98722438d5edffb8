package locks_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/locks"
)

// leaders counts how many electors lead at once.
type leaders struct {
	now, most atomic.Int64
	mu        sync.Mutex
	who       string
}

func (l *leaders) lead(name string) func(ctx context.Context) {
	return func(ctx context.Context) {
		if n := l.now.Add(1); n > l.most.Load() {
			l.most.Store(n)
		}
		l.mu.Lock()
		l.who = name
		l.mu.Unlock()
		<-ctx.Done()
		l.mu.Lock()
		if l.who == name {
			l.who = ""
		}
		l.mu.Unlock()
		l.now.Add(-1)
	}
}

func (l *leaders) leader() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.who
}

// TestElectorHandOverOnRedis: two aegir processes campaign for
// "dispatcher"; exactly one leads. The leader stepping down hands over at
// once; a leader cut off from Redis (as if it died) stops leading before
// its lease runs out, and the other takes over within the lease time plus
// a retry.
func TestElectorHandOverOnRedis(t *testing.T) {
	t.Parallel()
	r := setupRedis(t)
	// The cut-off leader stops ttl/10 before its lease runs out; on 2
	// loaded cores under -race, 50 ms (ttl 500 ms) was not always enough
	// for its work to notice before the other took over.
	const ttl = 1500 * time.Millisecond
	var ls leaders
	type proc struct {
		name   string
		el     *locks.Elector
		cancel context.CancelFunc
		done   chan struct{}
	}
	start := func(name string) *proc {
		c := r.client(t)
		el := locks.NewElector(locks.NewRedis(c, &locks.RedisConfig{Prefix: r.prefix}), "dispatcher", ttl, nil)
		ctx, cancel := context.WithCancel(context.Background())
		p := &proc{name: name, el: el, cancel: cancel, done: make(chan struct{})}
		go func() {
			defer close(p.done)
			_ = el.Run(ctx, ls.lead(name))
		}()
		t.Cleanup(func() { cancel(); <-p.done })
		return p
	}
	procs := map[string]*proc{"a": start("a"), "b": start("b")}
	waitFor(t, 5*time.Second, "a leader", func() bool { return ls.leader() != "" })
	time.Sleep(2 * ttl) // renewals keep it; nobody else leads
	first := procs[ls.leader()]
	if !first.el.IsLeader() || first.el.Fence() == 0 {
		t.Fatalf("leader %s: IsLeader %v, fence %d", first.name, first.el.IsLeader(), first.el.Fence())
	}
	fence1 := first.el.Fence()

	// Step down: the other leads within a retry interval or so.
	first.cancel()
	<-first.done
	took := waitFor(t, ttl+2*time.Second, "hand-over after the leader stopped", func() bool {
		return ls.leader() != "" && ls.leader() != first.name
	})
	t.Logf("hand-over after a clean stop: %s", took)
	second := procs[ls.leader()]
	if second.el.Fence() <= fence1 {
		t.Fatalf("new leader's fence %d is not above %d", second.el.Fence(), fence1)
	}

	// The old process comes back as a follower; then the leader is cut
	// off from Redis and must step down, and the follower take over.
	third := start("c")
	time.Sleep(ttl)
	if ls.leader() != second.name {
		t.Fatalf("leadership moved to %q without a reason", ls.leader())
	}
	cutAt := time.Now()
	cutOff(t, second.el)
	took = waitFor(t, ttl+2*time.Second, "take-over after the leader was cut off", func() bool {
		return ls.leader() == third.name
	})
	t.Logf("take-over after the leader was cut off from Redis: %s (ttl %s)", time.Since(cutAt), ttl)
	if m := ls.most.Load(); m != 1 {
		t.Fatalf("%d leaders at once", m)
	}
}

// cutOff closes the Redis client of the elector's locker: its renewals
// fail from now on, as in a network partition or a dying process.
func cutOff(t *testing.T, el *locks.Elector) {
	t.Helper()
	closer, ok := locks.ElectorLocker(el).(*locks.Redis)
	if !ok {
		t.Fatal("elector is not on Redis")
	}
	if err := locks.RedisClient(closer).Close(); err != nil {
		t.Fatal(err)
	}
}

func TestElectorOnMemory(t *testing.T) {
	t.Parallel()
	m := locks.NewMemory()
	var ls leaders
	ctxA, stopA := context.WithCancel(context.Background())
	ctxB, stopB := context.WithCancel(context.Background())
	defer stopB()
	a := locks.NewElector(m, "dispatcher", time.Second, nil)
	b := locks.NewElector(m, "dispatcher", time.Second, nil)
	b.RetryInterval = 5 * time.Millisecond
	doneA := make(chan struct{})
	go func() { defer close(doneA); _ = a.Run(ctxA, ls.lead("a")) }()
	waitFor(t, 5*time.Second, "a leads", func() bool { return ls.leader() == "a" })
	go func() { _ = b.Run(ctxB, ls.lead("b")) }()
	time.Sleep(20 * time.Millisecond)
	if ls.leader() != "a" || b.IsLeader() {
		t.Fatal("b leads while a holds the lock")
	}
	stopA()
	<-doneA
	waitFor(t, 5*time.Second, "b leads", func() bool { return ls.leader() == "b" })
	// Revoking b's lease cancels its leadership; it campaigns again.
	old := b.Fence()
	if !m.Revoke("dispatcher") {
		t.Fatal("dispatcher lock not held")
	}
	waitFor(t, 5*time.Second, "b leads again", func() bool { return ls.leader() == "b" && b.Fence() > old })
	if ls.most.Load() != 1 {
		t.Fatalf("%d leaders at once", ls.most.Load())
	}
}
