package locks

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisConfig configures a Redis locker.
type RedisConfig struct {
	// Prefix starts every key, so several aegir clusters (or tests) can
	// share one Redis. Default: "aegir:".
	Prefix string
	// Logger receives the locker's logs. Default: slog.Default().
	Logger *slog.Logger
	// Pause, when set, freezes renewals of every lease of this locker
	// while paused: fault injection for tests of a holder that stalls past
	// its lease (a GC or VM pause). Nil in production.
	Pause *FakePause
}

// Redis is the Locker on Redis, for several aegir processes: a lock is
// the key "<prefix>lock:{<name>}" holding a random token, set with SET NX
// PX ttl and renewed every ttl/3 while held; the fencing token comes from
// "<prefix>fence:{<name>}" in the same script. See doc.go for the model
// and its failure modes.
//
// The client should have ContextTimeoutEnabled set, so a renewal gives up
// in time when Redis does not answer.
type Redis struct {
	rdb redis.UniversalClient
	cfg RedisConfig
	log *slog.Logger
}

var _ Locker = (*Redis)(nil)

// NewRedis returns a locker on the client. cfg may be nil.
func NewRedis(rdb redis.UniversalClient, cfg *RedisConfig) *Redis {
	c := RedisConfig{}
	if cfg != nil {
		c = *cfg
	}
	c.Prefix = cmp.Or(c.Prefix, "aegir:")
	c.Logger = cmp.Or(c.Logger, slog.Default())
	return &Redis{rdb: rdb, cfg: c, log: c.Logger.With("component", "locks-redis")}
}

// Keys returns the lock and fence keys of name. The braces make both hash
// to one Redis Cluster slot, as the acquire script needs.
func (r *Redis) Keys(name string) (lock, fence string) {
	return r.cfg.Prefix + "lock:{" + name + "}", r.cfg.Prefix + "fence:{" + name + "}"
}

// acquireScript takes the lock if free and, only then, draws the next
// fencing token: INCR of the fence counter, raised to at least Redis's
// clock in nanoseconds, so that tokens keep growing when Redis restarts
// without persistence and the counter starts over. Numbers stay strings:
// Lua's doubles cannot hold 19-digit integers exactly.
//
// KEYS[1] lock, KEYS[2] fence; ARGV[1] token, ARGV[2] ttl in ms.
// Answers the fence as a string, or nil when the lock is held.
var acquireScript = redis.NewScript(`
redis.replicate_commands()
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return false
end
redis.call('INCR', KEYS[2])
local v = redis.call('GET', KEYS[2])
local t = redis.call('TIME')
local floor = t[1] .. string.format('%06d', tonumber(t[2])) .. '000'
if #v < #floor or (#v == #floor and v < floor) then
  redis.call('SET', KEYS[2], floor)
  v = floor
end
return v
`)

// renewScript extends the lock if it still holds our token.
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`)

// releaseScript deletes the lock if it still holds our token.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// TryAcquire takes name for ttl if it is free, or returns ErrHeld. The
// lease renews itself every ttl/3 until Release; Lost closes when a
// renewal finds the lock gone or taken, or when Redis could not be reached
// for long enough that the lock may have expired.
func (r *Redis) TryAcquire(ctx context.Context, name string, ttl time.Duration) (Lease, error) {
	if name == "" {
		return nil, errors.New("lock name is empty")
	}
	if ttl < 3*time.Millisecond {
		return nil, fmt.Errorf("lock %s: ttl must be at least 3ms, got %s", name, ttl)
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	lockKey, fenceKey := r.Keys(name)
	sent := time.Now()
	res, err := acquireScript.Run(ctx, r.rdb, []string{lockKey, fenceKey}, token, ttl.Milliseconds()).Text()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("%s: %w", name, ErrHeld)
	}
	if err != nil {
		return nil, fmt.Errorf("take lock %s in redis: %w: %w (is redis reachable?)", name, ErrUnavailable, err)
	}
	fence, err := strconv.ParseUint(res, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("take lock %s: fence %q from redis: %w", name, res, err)
	}
	l := &redisLease{
		r: r, name: name, key: lockKey, token: token, ttl: ttl, fence: fence,
		lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go l.renew(sent.Add(ttl))
	return l, nil
}

type redisLease struct {
	r     *Redis
	name  string
	key   string
	token string
	ttl   time.Duration
	fence uint64

	lostOnce sync.Once
	lost     chan struct{}
	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

func (l *redisLease) Fence() uint64         { return l.fence }
func (l *redisLease) Lost() <-chan struct{} { return l.lost }

func (l *redisLease) markLost(why string, err error) {
	l.lostOnce.Do(func() {
		l.r.log.Warn("lock lost: stop work under it", "lock", l.name, "fence", l.fence, "why", why, "err", err)
		close(l.lost)
	})
}

// renew extends the lease every ttl/3. validUntil is when the lock
// expires in Redis at the latest, measured from before the last successful
// command was sent; Lost closes a safety margin (ttl/10) before it if
// Redis cannot be reached until then.
func (l *redisLease) renew(validUntil time.Time) {
	defer close(l.done)
	every := l.ttl / 3
	margin := l.ttl / 10
	next := every
	for {
		timer := time.NewTimer(next)
		select {
		case <-l.stop:
			timer.Stop()
			return
		case <-timer.C:
		}
		if p := l.r.cfg.Pause; p != nil {
			if !p.wait(l.stop) {
				return
			}
		}
		sent := time.Now()
		left := validUntil.Add(-margin).Sub(sent)
		if left <= 0 {
			l.markLost("redis did not answer renewals before the lease ran out", nil)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), min(every, left))
		n, err := renewScript.Run(ctx, l.r.rdb, []string{l.key}, l.token, l.ttl.Milliseconds()).Int()
		cancel()
		switch {
		case err == nil && n == 1:
			validUntil = sent.Add(l.ttl)
			next = every
		case err == nil:
			l.markLost("the lock expired or was taken by another holder", nil)
			return
		default:
			// Try again soon, until the lease would have run out.
			l.r.log.Warn("renew lock failed; retrying", "lock", l.name, "err", err)
			next = max(min(every/4, validUntil.Add(-margin).Sub(time.Now())), time.Millisecond)
		}
	}
}

// Release stops renewing and deletes the lock if it is still ours.
// Releasing twice, or after the lease was lost, does nothing to the lock.
func (l *redisLease) Release(ctx context.Context) error {
	l.stopOnce.Do(func() { close(l.stop) })
	<-l.done
	select {
	case <-l.lost:
		return nil
	default:
	}
	if err := releaseScript.Run(ctx, l.r.rdb, []string{l.key}, l.token).Err(); err != nil {
		return fmt.Errorf("release lock %s in redis: %w (it expires by itself within its ttl)", l.name, err)
	}
	return nil
}

// FakePause freezes the renewals of a Redis locker's leases while paused,
// as a stalled process would: fault injection for tests. The zero value
// is running.
type FakePause struct {
	mu     sync.Mutex
	paused chan struct{} // non-nil while paused; closed on Resume
}

// Pause stops renewals until Resume.
func (p *FakePause) Pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paused == nil {
		p.paused = make(chan struct{})
	}
}

// Resume lets renewals run again.
func (p *FakePause) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paused != nil {
		close(p.paused)
		p.paused = nil
	}
}

// wait blocks while paused; false when stop closed first.
func (p *FakePause) wait(stop <-chan struct{}) bool {
	p.mu.Lock()
	ch := p.paused
	p.mu.Unlock()
	if ch == nil {
		return true
	}
	select {
	case <-ch:
		return true
	case <-stop:
		return false
	}
}
