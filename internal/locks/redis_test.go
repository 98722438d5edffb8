package locks_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/locks"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/store/boltkv"
	"github.com/aegirhq/aegir/internal/testharness"
)

type redisBundle struct {
	srv    *testharness.RedisServer
	prefix string
}

func setupRedis(t *testing.T) *redisBundle {
	t.Helper()
	return &redisBundle{srv: testharness.Redis(t), prefix: testharness.UniquePrefix(t)}
}

// client is one aegir process's connection to Redis.
func (r *redisBundle) client(t *testing.T) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: r.srv.Addr, ContextTimeoutEnabled: true, DialTimeout: time.Second, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	return c
}

// locker is one aegir process's locker; pause may be nil.
func (r *redisBundle) locker(t *testing.T, pause *locks.FakePause) *locks.Redis {
	t.Helper()
	return locks.NewRedis(r.client(t), &locks.RedisConfig{Prefix: r.prefix, Pause: pause})
}

// waitFor polls cond every few ms up to limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(start)
}

func TestRedisExclusiveAndReleased(t *testing.T) {
	t.Parallel()
	r := setupRedis(t)
	ctx := context.Background()
	p1, p2 := r.locker(t, nil), r.locker(t, nil)
	a, err := p1.TryAcquire(ctx, "site/1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p2.TryAcquire(ctx, "site/1", time.Minute); !errors.Is(err, locks.ErrHeld) {
		t.Fatalf("second acquire: %v, want ErrHeld", err)
	}
	other, err := p2.TryAcquire(ctx, "site/2", time.Minute)
	if err != nil {
		t.Fatalf("another name: %v", err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := p2.TryAcquire(ctx, "site/1", time.Minute)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	if b.Fence() <= a.Fence() {
		t.Errorf("fence did not grow: %d then %d", a.Fence(), b.Fence())
	}
	if err := a.Release(ctx); err != nil { // stale: must not free b's lock
		t.Fatal(err)
	}
	if _, err := p1.TryAcquire(ctx, "site/1", time.Minute); !errors.Is(err, locks.ErrHeld) {
		t.Fatalf("stale release freed the lock: %v", err)
	}
	_ = other.Release(ctx)
	_ = b.Release(ctx)
	for _, bad := range []struct {
		name string
		ttl  time.Duration
	}{{"x", 0}, {"x", time.Millisecond}, {"", time.Second}} {
		if _, err := p1.TryAcquire(ctx, bad.name, bad.ttl); err == nil || errors.Is(err, locks.ErrHeld) {
			t.Errorf("TryAcquire(%q, %s): %v, want an input error", bad.name, bad.ttl, err)
		}
	}
}

// TestRedisMutualExclusionUnderContention: 4 processes × 8 goroutines
// fight for one lock; never two holders, fences strictly grow in the
// order the lock was held.
func TestRedisMutualExclusionUnderContention(t *testing.T) {
	t.Parallel()
	r := setupRedis(t)
	ctx := context.Background()
	var inside, wins atomic.Int64
	var mu sync.Mutex
	var last uint64
	var wg sync.WaitGroup
	for range 4 {
		l := r.locker(t, nil)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 40 {
					lease, err := l.TryAcquire(ctx, "site/1", 5*time.Second)
					if errors.Is(err, locks.ErrHeld) {
						continue
					}
					if err != nil {
						t.Error(err)
						return
					}
					if n := inside.Add(1); n > 1 {
						t.Errorf("%d holders at once", n)
					}
					mu.Lock()
					if lease.Fence() <= last {
						t.Errorf("fence %d after %d", lease.Fence(), last)
					}
					last = lease.Fence()
					mu.Unlock()
					wins.Add(1)
					inside.Add(-1)
					if err := lease.Release(ctx); err != nil {
						t.Error(err)
					}
				}
			}()
		}
	}
	wg.Wait()
	if wins.Load() == 0 {
		t.Fatal("nobody ever got the lock")
	}
	t.Logf("%d acquisitions", wins.Load())
}

func TestRedisLeaseRenewsPastTTL(t *testing.T) {
	t.Parallel()
	r := setupRedis(t)
	ctx := context.Background()
	p1, p2 := r.locker(t, nil), r.locker(t, nil)
	a, err := p1.TryAcquire(ctx, "dispatcher", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // five ttls
	select {
	case <-a.Lost():
		t.Fatal("held lease lost while Redis was fine")
	default:
	}
	if _, err := p2.TryAcquire(ctx, "dispatcher", time.Second); !errors.Is(err, locks.ErrHeld) {
		t.Fatalf("renewed lock taken: %v", err)
	}
	_ = a.Release(ctx)
}

type fenceFixture struct {
	st   *store.Store
	site *domain.Site
}

// setupStore is a real store on bbolt with one site (its install task queued).
func setupStore(t *testing.T) (*fenceFixture, *domain.Task) {
	t.Helper()
	ctx := context.Background()
	kv, err := boltkv.Open(filepath.Join(t.TempDir(), "aegir.db"), &boltkv.Config{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	s := store.New(kv, &store.Config{PlatformRoots: []string{"/srv"}})
	t.Cleanup(func() { s.Close() })
	client := &domain.Client{Name: "acme"}
	if err := s.CreateClient(ctx, client); err != nil {
		t.Fatal(err)
	}
	srv := &domain.Server{Name: "web1", Address: "127.0.0.1"}
	if _, err := s.CreateServer(ctx, srv, []domain.Service{{Kind: domain.KindBuiltin, Port: 8080}, {Kind: domain.KindSQLite}}, "test"); err != nil {
		t.Fatal(err)
	}
	p := &domain.Platform{Name: "static1", Path: "/srv/static1", WebServerID: srv.ID, Type: domain.PlatformStatic}
	if _, err := s.CreatePlatform(ctx, p, "test"); err != nil {
		t.Fatal(err)
	}
	site := &domain.Site{Domain: "fenced.example.com", PlatformID: p.ID, DBServerID: srv.ID, ClientID: client.ID}
	install, err := s.CreateSite(ctx, site, "test")
	if err != nil {
		t.Fatal(err)
	}
	return &fenceFixture{st: s, site: site}, install
}

// TestRedisPausedHolderIsFencedOut is Kleppmann's scenario end to end: a
// holder stalls past its lease, another process takes the lock with a
// higher fence and starts work, and the stalled holder's late write is
// refused by the store. When it wakes, its lease reports Lost.
func TestRedisPausedHolderIsFencedOut(t *testing.T) {
	t.Parallel()
	r := setupRedis(t)
	f, install := setupStore(t)
	ctx := context.Background()
	pause := &locks.FakePause{}
	slow, other := r.locker(t, pause), r.locker(t, nil)
	const ttl = 200 * time.Millisecond
	name := "site/" + f.site.ID

	a, err := slow.TryAcquire(ctx, name, ttl)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.StartTask(ctx, install, "local:a", a.Fence()); err != nil {
		t.Fatal(err)
	}
	pause.Pause() // the holder stalls: no renewals

	var b locks.Lease
	waitFor(t, ttl+5*time.Second, "another process takes the expired lock", func() bool {
		b, err = other.TryAcquire(ctx, name, ttl)
		return err == nil
	})
	defer b.Release(ctx)
	if b.Fence() <= a.Fence() {
		t.Fatalf("new holder's fence %d is not above the stalled one's %d", b.Fence(), a.Fence())
	}
	verify, err := f.st.RequestSiteTask(ctx, f.site.ID, domain.TaskDelete, nil, "t")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.StartTask(ctx, verify, "local:b", b.Fence()); err != nil {
		t.Fatalf("new holder's start: %v", err)
	}

	// The stalled holder wakes and writes its result: refused.
	err = f.st.FinishTask(ctx, install, domain.TaskSucceeded, store.SetSiteStatus(f.site.ID, domain.SiteEnabled))
	if !errors.Is(err, store.ErrStaleFence) {
		t.Fatalf("stalled holder's late write: %v, want ErrStaleFence", err)
	}
	if got, _ := f.st.GetSite(ctx, f.site.ID); got.Status != domain.SitePending {
		t.Fatalf("stale write applied: site is %s", got.Status)
	}
	pause.Resume()
	select {
	case <-a.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("stalled holder's lease not lost after it woke")
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := slow.TryAcquire(ctx, name, ttl); !errors.Is(err, locks.ErrHeld) {
		t.Fatalf("stalled holder's release freed the new holder's lock: %v", err)
	}
	if err := f.st.FinishTask(ctx, verify, domain.TaskSucceeded); err != nil {
		t.Fatalf("current holder's write: %v", err)
	}
}

// TestRedisRestartKeepsFencesGrowing: Redis restarts without persistence,
// wiping locks and fence counters. The holder learns it lost its lease,
// and the next holder's fence is still above every earlier one, so the
// store keeps accepting the new holder.
func TestRedisRestartKeepsFencesGrowing(t *testing.T) {
	t.Parallel()
	r := setupRedis(t)
	ctx := context.Background()
	l := r.locker(t, nil)
	var last uint64
	for range 50 {
		lease, err := l.TryAcquire(ctx, "site/1", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		last = lease.Fence()
		_ = lease.Release(ctx)
	}
	held, err := l.TryAcquire(ctx, "site/1", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	r.srv.Restart(t)
	select {
	case <-held.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("lease not lost after Redis restarted without it")
	}
	var next locks.Lease
	waitFor(t, 5*time.Second, "acquire after the restart", func() bool {
		next, err = l.TryAcquire(ctx, "site/1", time.Minute)
		return err == nil
	})
	if next.Fence() <= held.Fence() || held.Fence() <= last {
		t.Fatalf("fences %d, %d, then after the restart %d: not growing", last, held.Fence(), next.Fence())
	}
	// The in-process locker's fences (wall clock at its start) stay below
	// Redis's: switching a store from one to the other keeps working.
	mem, _ := locks.NewMemory().TryAcquire(ctx, "site/1", time.Second)
	after, err := r.locker(t, nil).TryAcquire(ctx, "site/9", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if after.Fence() <= mem.Fence() {
		t.Errorf("redis fence %d is not above an earlier in-process fence %d", after.Fence(), mem.Fence())
	}
}

// TestRedisPartitionedHolderStopsBeforeExpiry: a holder that cannot reach
// Redis closes Lost before its lock can expire there.
func TestRedisPartitionedHolderStopsBeforeExpiry(t *testing.T) {
	t.Parallel()
	r := setupRedis(t)
	ctx := context.Background()
	c := r.client(t)
	l := locks.NewRedis(c, &locks.RedisConfig{Prefix: r.prefix})
	const ttl = time.Second // Lost closes ttl/10 before the lease can run out
	start := time.Now()
	lease, err := l.TryAcquire(ctx, "dispatcher", ttl)
	if err != nil {
		t.Fatal(err)
	}
	lockKey, _ := l.Keys("dispatcher")
	c.Close() // cut off from Redis
	<-lease.Lost()
	lostAt := time.Since(start)
	// The key must still be in Redis when the holder gave up.
	pttl, err := r.client(t).PTTL(ctx, lockKey).Result()
	if err != nil {
		t.Fatal(err)
	}
	if pttl <= 0 {
		t.Fatalf("holder noticed the partition after %s, when its lock had already expired", lostAt)
	}
	t.Logf("lost after %s with %s of the lease left in Redis", lostAt, pttl)
}

// Redis stopped: taking a lock fails with ErrUnavailable (the API's
// bus_unavailable), not ErrHeld; once Redis is back it works again.
func TestRedisUnavailable(t *testing.T) {
	t.Parallel()
	r := setupRedis(t)
	l := r.locker(t, nil)
	ctx := context.Background()
	r.srv.Stop(t)
	_, err := l.TryAcquire(ctx, "site/x", time.Second)
	if !errors.Is(err, locks.ErrUnavailable) || errors.Is(err, locks.ErrHeld) {
		t.Fatalf("TryAcquire with Redis stopped: %v", err)
	}
	r.srv.Restart(t)
	lease, err := l.TryAcquire(ctx, "site/x", time.Second)
	if err != nil {
		t.Fatalf("TryAcquire with Redis back: %v", err)
	}
	_ = lease.Release(ctx)
}
