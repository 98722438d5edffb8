package web

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aegirhq/aegir/internal/testharness"
)

// redisLimiterSetup is a real Redis, a client on it and a key prefix of
// the test's own.
type redisLimiterSetup struct {
	srv    *testharness.RedisServer
	rdb    *redis.Client
	prefix string
	logs   *strings.Builder
	mu     *sync.Mutex
}

func setupRedisLimiter(t *testing.T) *redisLimiterSetup {
	t.Helper()
	srv := testharness.Redis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = rdb.Close() })
	return &redisLimiterSetup{srv: srv, rdb: rdb, prefix: "t:" + t.Name() + ":", logs: &strings.Builder{}, mu: &sync.Mutex{}}
}

// limiter is one aegir server's limiter on the shared Redis.
func (s *redisLimiterSetup) limiter(cfg RedisLimiterConfig) *RedisLimiter {
	cfg.Client, cfg.Prefix = s.rdb, s.prefix
	cfg.Logger = slog.New(slog.NewTextHandler(lockedWriter{s.mu, s.logs}, nil))
	return NewRedisLimiter(cfg)
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *strings.Builder
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

func mustWait(t *testing.T, l LoginLimiter, kind LimitKind, key string) time.Duration {
	t.Helper()
	d, err := l.Wait(context.Background(), kind, key)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func fail(t *testing.T, l LoginLimiter, kind LimitKind, key string, n int) {
	t.Helper()
	for range n {
		if _, err := l.Try(context.Background(), kind, key); err != nil {
			t.Fatal(err)
		}
	}
}

// Two servers count the same failures: what one saw locks the account on
// the other, and a success on either resets it for both.
func TestRedisLimiterShared(t *testing.T) {
	t.Parallel()
	s := setupRedisLimiter(t)
	a, b := s.limiter(RedisLimiterConfig{AccountMax: 3, AddressMax: 4}), s.limiter(RedisLimiterConfig{AccountMax: 3, AddressMax: 4})

	fail(t, a, LimitAccount, "admin", 2)
	if d := mustWait(t, b, LimitAccount, "admin"); d != 0 {
		t.Fatalf("locked after 2 of 3: %s", d)
	}
	fail(t, b, LimitAccount, "admin", 1)
	for name, l := range map[string]*RedisLimiter{"a": a, "b": b} {
		if d := mustWait(t, l, LimitAccount, "admin"); d <= 14*time.Minute || d > 15*time.Minute {
			t.Errorf("server %s: wait %s after 3 failures, want the rest of 15m", name, d)
		}
	}
	// Kinds and keys are separate counters.
	if d := mustWait(t, a, LimitAddress, "admin"); d != 0 {
		t.Errorf("the address \"admin\" is locked: %s", d)
	}
	if d := mustWait(t, a, LimitAccount, "alice"); d != 0 {
		t.Errorf("alice is locked: %s", d)
	}
	fail(t, a, LimitAddress, "192.0.2.1", 3)
	if d := mustWait(t, b, LimitAddress, "192.0.2.1"); d != 0 {
		t.Errorf("address locked after 3 of 4: %s", d)
	}
	fail(t, b, LimitAddress, "192.0.2.1", 1)
	if d := mustWait(t, a, LimitAddress, "192.0.2.1"); d == 0 {
		t.Error("address not locked after 4 of 4")
	}

	if err := b.Succeeded(context.Background(), LimitAccount, "admin"); err != nil {
		t.Fatal(err)
	}
	if d := mustWait(t, a, LimitAccount, "admin"); d != 0 {
		t.Errorf("still locked on a after a success on b: %s", d)
	}

	// Every key has the prefix, an expiry, and not the name in clear.
	keys, err := s.rdb.Keys(context.Background(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 {
		t.Errorf("keys %q, want the address's only", keys)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, s.prefix+"login:address:") || strings.Contains(k, "192.0.2.1") {
			t.Errorf("key %q", k)
		}
		if ttl := s.rdb.PTTL(context.Background(), k).Val(); ttl <= 0 || ttl > 15*time.Minute {
			t.Errorf("key %q expires in %s", k, ttl)
		}
	}
}

// Concurrent failures on two servers all count: the script is atomic.
func TestRedisLimiterConcurrentFailures(t *testing.T) {
	t.Parallel()
	s := setupRedisLimiter(t)
	a, b := s.limiter(RedisLimiterConfig{AccountMax: 1000}), s.limiter(RedisLimiterConfig{AccountMax: 1000})
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			l := a
			if i%2 == 1 {
				l = b
			}
			for range 5 {
				_, _ = l.Try(context.Background(), LimitAccount, "admin")
			}
		})
	}
	wg.Wait()
	n, err := s.rdb.Get(context.Background(), a.key(LimitAccount, "admin")).Int()
	if err != nil || n != 200 {
		t.Errorf("count %d (%v), want 200", n, err)
	}
}

// The window ends by Redis's expiry: the key is gone and the account may
// try again.
func TestRedisLimiterExpiry(t *testing.T) {
	t.Parallel()
	s := setupRedisLimiter(t)
	l := s.limiter(RedisLimiterConfig{AccountMax: 2, Window: 300 * time.Millisecond})
	fail(t, l, LimitAccount, "admin", 2)
	if d := mustWait(t, l, LimitAccount, "admin"); d <= 0 || d > 300*time.Millisecond {
		t.Fatalf("wait %s, want at most the 300ms window", d)
	}
	deadline := time.Now().Add(5 * time.Second)
	for mustWait(t, l, LimitAccount, "admin") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("still locked 5s after a 300ms window")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := s.rdb.Exists(context.Background(), l.key(LimitAccount, "admin")).Val(); n != 0 {
		t.Error("the key outlived its window")
	}
	// A key that lost its expiry (someone PERSISTed it) gets it back.
	k := l.key(LimitAccount, "bob")
	s.rdb.Set(context.Background(), k, 5, 0)
	if d := mustWait(t, l, LimitAccount, "bob"); d != 300*time.Millisecond {
		t.Errorf("wait %s for a key without expiry, want the window", d)
	}
	if ttl := s.rdb.PTTL(context.Background(), k).Val(); ttl <= 0 {
		t.Errorf("the key still has no expiry: %s", ttl)
	}
}

// Redis down: logins are still answered, and limited, from memory, with
// one warning rather than one per attempt; the counts made in memory still
// apply when Redis is back.
func TestRedisLimiterFallsBackToMemory(t *testing.T) {
	t.Parallel()
	s := setupRedisLimiter(t)
	l := s.limiter(RedisLimiterConfig{AccountMax: 3, Timeout: 500 * time.Millisecond})
	fail(t, l, LimitAccount, "admin", 1) // in Redis
	s.srv.Stop(t)

	if d := mustWait(t, l, LimitAccount, "admin"); d != 0 {
		t.Fatalf("locked with Redis down and no failure in memory: %s", d)
	}
	fail(t, l, LimitAccount, "admin", 3)
	if d := mustWait(t, l, LimitAccount, "admin"); d == 0 {
		t.Fatal("not limited while Redis is down")
	}
	if err := l.Succeeded(context.Background(), LimitAccount, "alice"); err != nil {
		t.Fatalf("Succeeded with Redis down: %v", err)
	}
	s.mu.Lock()
	warnings := strings.Count(s.logs.String(), "login limits are counted in this process's memory")
	s.mu.Unlock()
	if warnings != 1 {
		t.Errorf("%d warnings, want 1:\n%s", warnings, s.logs.String())
	}

	s.srv.Restart(t) // empty: no persistence
	if d := mustWait(t, l, LimitAccount, "admin"); d == 0 {
		t.Error("the failures counted in memory were forgotten when Redis came back")
	}
}
