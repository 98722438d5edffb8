package web

import (
	"context"
	"sync"
	"time"
)

// LoginLimiter decides whether a login may be tried: per account (the name
// typed) and per client address. The in-memory one below serves a single
// node; RedisLimiter (ui_limiter_redis.go) is shared by every node, and
// aegir server uses it when Redis is configured.
//
// An attempt is counted as a failure before the password is checked (Try)
// and given back if it succeeds (Refund, Succeeded): checking first and
// counting after would let many guesses sent at once all pass the check
// before any of them is counted.
type LoginLimiter interface {
	// Wait returns how long the key must wait before its next attempt
	// (0: it may try now), without counting anything.
	Wait(ctx context.Context, kind LimitKind, key string) (time.Duration, error)
	// Try atomically either counts one attempt as a failure and returns
	// 0, or, when the key has used up its attempts, counts nothing and
	// returns how long it must wait.
	Try(ctx context.Context, kind LimitKind, key string) (time.Duration, error)
	// Refund takes back one attempt counted by Try (it succeeded, or was
	// refused for another key's limit).
	Refund(ctx context.Context, kind LimitKind, key string) error
	// Succeeded forgets the key's failures.
	Succeeded(ctx context.Context, kind LimitKind, key string) error
}

// LimitKind says what a limiter key names.
type LimitKind string

const (
	LimitAccount LimitKind = "account"
	LimitAddress LimitKind = "address"
)

// MemoryLimiterConfig configures NewMemoryLimiter.
type MemoryLimiterConfig struct {
	// AccountMax failures per Window lock an account out until the window
	// ends. Default: 5.
	AccountMax int
	// AddressMax failures per Window lock an address out. Default: 20.
	AddressMax int
	// Window is how long failures are counted. Default: 15m.
	Window time.Duration
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

// MemoryLimiter is a LoginLimiter in this process's memory, bounded in
// size: when it holds too many keys it forgets the expired ones, and if
// that is not enough, all of them (failing open on memory, never on
// correctness of a single key's window).
type MemoryLimiter struct {
	cfg MemoryLimiterConfig
	mu  sync.Mutex
	m   map[string]*limitEntry
}

type limitEntry struct {
	failures int
	start    time.Time
}

const memoryLimiterMaxKeys = 100_000

var _ LoginLimiter = (*MemoryLimiter)(nil)

// NewMemoryLimiter returns an in-memory limiter.
func NewMemoryLimiter(cfg MemoryLimiterConfig) *MemoryLimiter {
	if cfg.AccountMax <= 0 {
		cfg.AccountMax = 5
	}
	if cfg.AddressMax <= 0 {
		cfg.AddressMax = 20
	}
	if cfg.Window <= 0 {
		cfg.Window = 15 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &MemoryLimiter{cfg: cfg, m: map[string]*limitEntry{}}
}

func (l *MemoryLimiter) max(kind LimitKind) int {
	if kind == LimitAccount {
		return l.cfg.AccountMax
	}
	return l.cfg.AddressMax
}

func (l *MemoryLimiter) Wait(_ context.Context, kind LimitKind, key string) (time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.waitLocked(kind, key, l.cfg.Now()), nil
}

func (l *MemoryLimiter) waitLocked(kind LimitKind, key string, now time.Time) time.Duration {
	e := l.m[string(kind)+"\x00"+key]
	if e == nil || now.Sub(e.start) >= l.cfg.Window || e.failures < l.max(kind) {
		return 0
	}
	return e.start.Add(l.cfg.Window).Sub(now)
}

func (l *MemoryLimiter) Try(_ context.Context, kind LimitKind, key string) (time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.cfg.Now()
	if wait := l.waitLocked(kind, key, now); wait > 0 {
		return wait, nil
	}
	k := string(kind) + "\x00" + key
	e := l.m[k]
	if e == nil || now.Sub(e.start) >= l.cfg.Window {
		if len(l.m) >= memoryLimiterMaxKeys {
			l.prune(now)
		}
		e = &limitEntry{start: now}
		l.m[k] = e
	}
	e.failures++
	return 0, nil
}

func (l *MemoryLimiter) Refund(_ context.Context, kind LimitKind, key string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.m[string(kind)+"\x00"+key]; e != nil && e.failures > 0 {
		e.failures--
	}
	return nil
}

func (l *MemoryLimiter) Succeeded(_ context.Context, kind LimitKind, key string) error {
	l.mu.Lock()
	delete(l.m, string(kind)+"\x00"+key)
	l.mu.Unlock()
	return nil
}

func (l *MemoryLimiter) prune(now time.Time) {
	for k, e := range l.m {
		if now.Sub(e.start) >= l.cfg.Window {
			delete(l.m, k)
		}
	}
	if len(l.m) >= memoryLimiterMaxKeys {
		l.m = map[string]*limitEntry{}
	}
}
