package web

import (
	"context"
	"sync"
	"time"
)

// LoginLimiter counts failed logins per key in a window: per account (the
// name typed), per client address, and per (address, account) pair. The
// login decides what the counts do (login.go): a pair over PairMax is
// refused, an account or an address with failures is slowed down, never
// refused. The in-memory one below serves a single node; RedisLimiter
// (limiter_redis.go) is shared by every node, and aegir server uses it
// when Redis is configured.
//
// An attempt is counted as a failure before the password is checked (Try,
// Count) and given back if it succeeds (Refund, Succeeded): checking first
// and counting after would let many guesses sent at once all pass the
// check before any of them is counted.
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
	// Count counts one attempt as a failure, whatever the key's limit, and
	// returns how many the key had in its window before this one.
	Count(ctx context.Context, kind LimitKind, key string) (int, error)
}

// LimitKind says what a limiter key names.
type LimitKind string

const (
	LimitAccount LimitKind = "account"
	LimitAddress LimitKind = "address"
	// LimitPair keys are PairKey(address, account).
	LimitPair LimitKind = "pair"
)

// PairKey is the LimitPair key of an address and an account name.
func PairKey(addr, account string) string { return addr + "\x00" + account }

// MemoryLimiterConfig configures NewMemoryLimiter.
type MemoryLimiterConfig struct {
	// AccountMax is the most failures per Window Try allows an account
	// key. Default: 5. (The login counts accounts with Count, never
	// refusing them.)
	AccountMax int
	// AddressMax is the most failures per Window Try allows an address
	// key. Default: 20. (The login counts addresses with Count.)
	AddressMax int
	// PairMax is the most failures per Window of one account from one
	// address; then that address may not try that account until the
	// window ends. Default: 5.
	PairMax int
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
	if cfg.PairMax <= 0 {
		cfg.PairMax = 5
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
	switch kind {
	case LimitAccount:
		return l.cfg.AccountMax
	case LimitPair:
		return l.cfg.PairMax
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

func (l *MemoryLimiter) Count(_ context.Context, kind LimitKind, key string) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.cfg.Now()
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
	return e.failures - 1, nil
}

// failures is how many failures key has in its window.
func (l *MemoryLimiter) failures(kind LimitKind, key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.m[string(kind)+"\x00"+key]
	if e == nil || l.cfg.Now().Sub(e.start) >= l.cfg.Window {
		return 0
	}
	return e.failures
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
