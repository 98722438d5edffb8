package web

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Guesses sent at once get exactly the allowed number of attempts: Try
// counts before the password is checked, so none can slip between a check
// and the count. On the in-memory limiter and on Redis shared by two
// servers.
func TestLimiterConcurrentGuessesGetTheAllowance(t *testing.T) {
	t.Parallel()
	s := setupRedisLimiter(t)
	cases := []struct {
		name string
		ls   []LoginLimiter
	}{
		{"memory", []LoginLimiter{NewMemoryLimiter(MemoryLimiterConfig{AccountMax: 5})}},
		{"redis, two servers", []LoginLimiter{s.limiter(RedisLimiterConfig{AccountMax: 5}), s.limiter(RedisLimiterConfig{AccountMax: 5})}},
	}
	for _, c := range cases {
		var allowed atomic.Int32
		var wg sync.WaitGroup
		for i := range 100 {
			wg.Go(func() {
				wait, err := c.ls[i%len(c.ls)].Try(context.Background(), LimitAccount, "victim-"+c.name)
				if err != nil {
					t.Error(err)
				}
				if wait == 0 {
					allowed.Add(1)
				}
			})
		}
		wg.Wait()
		if n := allowed.Load(); n != 5 {
			t.Errorf("%s: %d of 100 concurrent guesses were allowed, want 5", c.name, n)
		}
	}
}

// A refunded attempt (a login that succeeded) does not count, and refunds
// never go below zero.
func TestLimiterRefund(t *testing.T) {
	t.Parallel()
	s := setupRedisLimiter(t)
	for name, l := range map[string]LoginLimiter{
		"memory": NewMemoryLimiter(MemoryLimiterConfig{AddressMax: 2, Window: time.Minute}),
		"redis":  s.limiter(RedisLimiterConfig{AddressMax: 2, Window: time.Minute}),
	} {
		ctx := context.Background()
		for range 10 { // ten good logins from one office address
			if wait, err := l.Try(ctx, LimitAddress, "10.0.0.1"); err != nil || wait != 0 {
				t.Fatalf("%s: good login %v, %v", name, wait, err)
			}
			_ = l.Refund(ctx, LimitAddress, "10.0.0.1")
		}
		_ = l.Refund(ctx, LimitAddress, "10.0.0.1") // one too many
		for i := range 2 {
			if wait, _ := l.Try(ctx, LimitAddress, "10.0.0.1"); wait != 0 {
				t.Fatalf("%s: failure %d refused", name, i+1)
			}
		}
		if wait, _ := l.Try(ctx, LimitAddress, "10.0.0.1"); wait == 0 {
			t.Errorf("%s: a third failure was allowed; refunds went below zero", name)
		}
	}
}

// Count counts whatever the limit and says how many came before, on the
// in-memory limiter and on Redis shared by two servers; pairs have their
// own limit.
func TestLimiterCountAndPairs(t *testing.T) {
	t.Parallel()
	s := setupRedisLimiter(t)
	for name, ls := range map[string][]LoginLimiter{
		"memory":             {NewMemoryLimiter(MemoryLimiterConfig{AccountMax: 2, PairMax: 3})},
		"redis, two servers": {s.limiter(RedisLimiterConfig{AccountMax: 2, PairMax: 3}), s.limiter(RedisLimiterConfig{AccountMax: 2, PairMax: 3})},
	} {
		ctx := context.Background()
		for i := range 6 {
			n, err := ls[i%len(ls)].Count(ctx, LimitAccount, "admin")
			if err != nil || n != i {
				t.Fatalf("%s: count %d = %d, %v", name, i, n, err)
			}
		}
		_ = ls[0].Succeeded(ctx, LimitAccount, "admin")
		if n, _ := ls[len(ls)-1].Count(ctx, LimitAccount, "admin"); n != 0 {
			t.Fatalf("%s: after success the count is %d", name, n)
		}
		pair := PairKey("192.0.2.1", "admin")
		for i := range 3 {
			if wait, _ := ls[i%len(ls)].Try(ctx, LimitPair, pair); wait != 0 {
				t.Fatalf("%s: pair failure %d refused", name, i+1)
			}
		}
		if wait, _ := ls[0].Try(ctx, LimitPair, pair); wait == 0 {
			t.Errorf("%s: a fourth failure of the pair was allowed", name)
		}
		if wait, _ := ls[len(ls)-1].Try(ctx, LimitPair, PairKey("192.0.2.2", "admin")); wait != 0 {
			t.Errorf("%s: another address was refused the account", name)
		}
	}
}
