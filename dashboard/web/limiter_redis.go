package web

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// LimiterRedis is what RedisLimiter needs of a go-redis client
// (*redis.Client and *redis.ClusterClient have it).
type LimiterRedis interface {
	redis.Scripter
	Del(ctx context.Context, keys ...string) *redis.IntCmd
}

// RedisLimiterConfig configures NewRedisLimiter.
type RedisLimiterConfig struct {
	// Client reaches Redis. Required.
	Client LimiterRedis
	// Prefix starts every key. Default "aegir:", the prefix of aegir's
	// other keys; the limiter's are <prefix>login:<kind>:<hash of name>.
	Prefix string
	// AccountMax, AddressMax and PairMax are the most failures per Window
	// Try allows a key of each kind, as in MemoryLimiterConfig. Defaults:
	// 5, 20, 5.
	AccountMax int
	AddressMax int
	PairMax    int
	// Window is how long failures are counted, from the first one. Default:
	// 15m.
	Window time.Duration
	// Timeout bounds each Redis call, so a slow Redis cannot hold a login
	// for long. Default: 1s.
	Timeout time.Duration
	// Logger receives the warnings when Redis fails. Default: slog.Default().
	Logger *slog.Logger
}

// RedisLimiter is a LoginLimiter in Redis, so every aegir server behind a
// load balancer counts the same failures and a restart forgets none. Each
// key is a counter with a fixed window that starts at its first failure:
// INCR and PEXPIRE in one Lua script, so concurrent failures on several
// servers all count and every key expires. Keys hold a hash of the name or
// address, not the name (people type passwords into the name field).
//
// When Redis fails, logins still work and stay limited: the limiter falls
// back to an in-memory limiter for this process (with a warning at most
// once a minute), whose counts also apply once Redis is back until their
// window ends. So an outage gives an attacker at most one in-memory budget
// per server, never an unlimited one, and never locks everyone out.
type RedisLimiter struct {
	cfg      RedisLimiterConfig
	fallback *MemoryLimiter
	log      *slog.Logger
	warned   atomic.Int64 // unix nanoseconds of the last warning
}

var _ LoginLimiter = (*RedisLimiter)(nil)

// limiterTryScript counts one attempt unless the key has used up its
// attempts, starting the key's window at its first (or repairing a key
// left without an expiry). KEYS[1] the key, ARGV[1] the most attempts,
// ARGV[2] the window in milliseconds. Returns 0 when the attempt was
// counted, else the milliseconds left to wait.
var limiterTryScript = redis.NewScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(ARGV[2])
  end
  return ttl
end
n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`)

// limiterCountScript counts one attempt whatever the limit, starting the
// key's window at its first (or repairing a key left without an expiry).
// KEYS[1] the key, ARGV[1] the window in milliseconds. Returns the count
// before this attempt.
var limiterCountScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n - 1`)

// limiterRefundScript takes back one counted attempt, never going below 0.
var limiterRefundScript = redis.NewScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then
  redis.call('DECR', KEYS[1])
end
return 0`)

// limiterWaitScript returns how many milliseconds the key must wait: 0
// under ARGV[1] failures, else the rest of its window (ARGV[2] ms when
// the key has lost its expiry, which it gets back).
var limiterWaitScript = redis.NewScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n < tonumber(ARGV[1]) then
  return 0
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(ARGV[2])
end
return ttl`)

// NewRedisLimiter returns a Redis-backed limiter; it does not talk to
// Redis until used.
func NewRedisLimiter(cfg RedisLimiterConfig) *RedisLimiter {
	// The in-memory limiter fills in the same defaults for the limits.
	fallback := NewMemoryLimiter(MemoryLimiterConfig{AccountMax: cfg.AccountMax, AddressMax: cfg.AddressMax, PairMax: cfg.PairMax, Window: cfg.Window})
	cfg.AccountMax, cfg.AddressMax, cfg.PairMax, cfg.Window = fallback.cfg.AccountMax, fallback.cfg.AddressMax, fallback.cfg.PairMax, fallback.cfg.Window
	cfg.Prefix = cmp.Or(cfg.Prefix, "aegir:")
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Second
	}
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	return &RedisLimiter{cfg: cfg, fallback: fallback, log: cfg.Logger.With("component", "login-limiter")}
}

// key is the Redis key of a name or address: hashed, so Redis never holds
// what was typed, and of bounded length.
func (l *RedisLimiter) key(kind LimitKind, key string) string {
	sum := sha256.Sum256([]byte(key))
	return l.cfg.Prefix + "login:" + string(kind) + ":" + hex.EncodeToString(sum[:16])
}

func (l *RedisLimiter) max(kind LimitKind) int { return l.fallback.max(kind) }

// Wait answers from Redis, or from the in-memory limiter when Redis
// fails; the longer wait of the two wins, so failures counted in memory
// during an outage still count. It never returns an error.
func (l *RedisLimiter) Wait(ctx context.Context, kind LimitKind, key string) (time.Duration, error) {
	local, _ := l.fallback.Wait(ctx, kind, key)
	ctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	ms, err := limiterWaitScript.Run(ctx, l.cfg.Client, []string{l.key(kind, key)}, l.max(kind), l.cfg.Window.Milliseconds()).Int64()
	if err != nil {
		l.warn("check", err)
		return local, nil
	}
	return max(local, time.Duration(ms)*time.Millisecond), nil
}

// Try counts the attempt in Redis, or in memory when Redis fails. The
// in-memory limiter is asked first, so failures it counted during an
// outage still count.
func (l *RedisLimiter) Try(ctx context.Context, kind LimitKind, key string) (time.Duration, error) {
	if local, _ := l.fallback.Wait(ctx, kind, key); local > 0 {
		return local, nil
	}
	rctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	ms, err := limiterTryScript.Run(rctx, l.cfg.Client, []string{l.key(kind, key)}, l.max(kind), l.cfg.Window.Milliseconds()).Int64()
	if err != nil {
		l.warn("count an attempt", err)
		return l.fallback.Try(ctx, kind, key)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// Count counts the attempt in Redis, or in memory when Redis fails. The
// count returned is the larger of Redis's and memory's, so failures
// counted in memory during an outage still count.
func (l *RedisLimiter) Count(ctx context.Context, kind LimitKind, key string) (int, error) {
	local := l.fallback.failures(kind, key)
	rctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	n, err := limiterCountScript.Run(rctx, l.cfg.Client, []string{l.key(kind, key)}, l.cfg.Window.Milliseconds()).Int()
	if err != nil {
		l.warn("count an attempt", err)
		return l.fallback.Count(ctx, kind, key)
	}
	return max(n, local), nil
}

// Refund takes back an attempt in Redis and in memory (where Try may have
// counted it during an outage).
func (l *RedisLimiter) Refund(ctx context.Context, kind LimitKind, key string) error {
	_ = l.fallback.Refund(ctx, kind, key)
	rctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	if err := limiterRefundScript.Run(rctx, l.cfg.Client, []string{l.key(kind, key)}).Err(); err != nil {
		l.warn("refund an attempt", err)
	}
	return nil
}

// Succeeded forgets the key's failures, in Redis and in memory.
func (l *RedisLimiter) Succeeded(ctx context.Context, kind LimitKind, key string) error {
	_ = l.fallback.Succeeded(ctx, kind, key)
	ctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	if err := l.cfg.Client.Del(ctx, l.key(kind, key)).Err(); err != nil {
		l.warn("reset", err)
	}
	return nil
}

// warn logs a Redis failure at most once a minute: during an outage every
// login attempt would log one.
func (l *RedisLimiter) warn(op string, err error) {
	now := time.Now().UnixNano()
	last := l.warned.Load()
	if now-last < int64(time.Minute) || !l.warned.CompareAndSwap(last, now) {
		return
	}
	l.log.Warn("redis failed; login limits are counted in this process's memory until it is back", "op", op, "err", err)
}
