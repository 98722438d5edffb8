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
