package provision

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aegirhq/aegir/internal/config"
	"github.com/aegirhq/aegir/internal/logbus"
)

// DefaultRedisPrefix starts every Redis key aegir uses when the context
// names no other (EnvInfo.RedisPrefix); the log bus uses the same default.
const DefaultRedisPrefix = "aegir:"

// ResultTTL is how long a result record stays in Redis. The dispatcher
// reads it within seconds of the back end's exit; the TTL removes the
// records of tasks whose dispatcher never came back for them.
const ResultTTL = 24 * time.Hour

// ResultKey is the Redis key of task taskID's result record, written by
// the back end when the context's ResultSink is "redis" (Nomad) and read
// by the Nomad executor once the allocation has completed.
func ResultKey(prefix, taskID string) string {
	return cmp.Or(prefix, DefaultRedisPrefix) + "result:" + taskID
}

// AbandonedKey is the Redis key aegir sets when it gave task taskID up
// (its Nomad node was lost and the task failed): the back end checks it
// before it starts, every AbandonCheck while it runs (and stops, rolling
// back, once set), and before it reports, removing the archives it made
// if set, so a back end whose task was given up leaves nothing behind.
func AbandonedKey(prefix, taskID string) string {
	return cmp.Or(prefix, DefaultRedisPrefix) + "abandoned:" + taskID
}

// AbandonCheck is how often a back end on Nomad asks whether aegir gave
// its task up.
const AbandonCheck = 3 * time.Second

// abandoned reports whether aegir gave the task up (false when Redis does
// not answer: the dispatcher decides then, and ignores a late result).
func (s *redisSink) abandoned(ctx context.Context) bool {
	s.mu.Lock()
	rdb, prefix, taskID := s.rdb, s.prefix, s.taskID
	s.mu.Unlock()
	if rdb == nil || !s.result {
		return false
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	n, err := rdb.Exists(ctx, AbandonedKey(prefix, taskID)).Result()
	return err == nil && n > 0
}

// watchAbandoned calls stop once aegir gave the task up, checking every
// AbandonCheck until ctx ends.
func (s *redisSink) watchAbandoned(ctx context.Context, stop func()) {
	t := time.NewTicker(AbandonCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if s.abandoned(ctx) {
				stop()
				return
			}
		}
	}
}

// redisSink sends the back end's log lines to the Redis log bus and its
// result to the result record, for a back end run by Nomad, whose stderr
// and stdout nobody reads live. It is an io.Writer placed beside stderr
// under the (redacting) logger, so only redacted lines reach it; until
// open it drops what it is given (lines logged before the context was
// read have no task to belong to, and stay on stderr).
type redisSink struct {
	mu     sync.Mutex
	buf    []byte
	app    *logbus.BufferedAppender
	rdb    *redis.Client
	prefix string
	taskID string
	result bool
}

// open starts the sinks the context's Env asks for. The Redis address is
// Env.RedisAddr, else $AEGIR_REDIS_ADDR; the user, password, db and TLS
// come from the other AEGIR_REDIS_* variables (config.RedisFromEnv), which
// the aegir-task jobspec sets, the password as a file rendered from the
// job's Nomad Variable: never from the context.
func (s *redisSink) open(env EnvInfo, taskID string) error {
	wantLog, wantResult := env.LogSink == "redis", env.ResultSink == "redis"
	if !wantLog && !wantResult {
		return nil
	}
	rc, err := config.RedisFromEnv(os.Getenv)
	if err != nil {
		return fmt.Errorf("the AEGIR_REDIS_* environment: %w", err)
	}
	rc.Address = cmp.Or(env.RedisAddr, rc.Address)
	if rc.Address == "" {
		return errors.New("the context asks for redis log/result sinks but names no redis_addr (and AEGIR_REDIS_ADDR is unset)")
	}
	opts, err := rc.ClientOptions()
	if err != nil {
		return err
	}
	opts.ContextTimeoutEnabled, opts.DialTimeout = true, 5*time.Second
	rdb := redis.NewClient(opts)
	// Refused credentials or TLS will not heal: say so now rather than
	// retry every write. A Redis that is down may come back.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	err = rc.CheckRedis(ctx, rdb)
	cancel()
	if errors.Is(err, config.ErrRedisRefused) {
		_ = rdb.Close()
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rdb, s.prefix, s.taskID, s.result = rdb, cmp.Or(env.RedisPrefix, DefaultRedisPrefix), taskID, wantResult
	if wantLog {
		bus := logbus.NewRedis(rdb, &logbus.RedisConfig{Prefix: s.prefix, Logger: slog.New(slog.DiscardHandler)})
		s.app = logbus.NewBufferedAppender(bus, taskID, nil)
	}
	return nil
}

// Write takes whole JSON log lines from the logger and queues each for
// Redis (the appender never makes the task wait on Redis).
func (s *redisSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.app == nil {
		return len(p), nil
	}
	s.buf = append(s.buf, p...)
	for {
		i := bytes.IndexByte(s.buf, '\n')
		if i < 0 {
			break
		}
		if l, ok := sinkLine(s.buf[:i]); ok {
			_ = s.app.Append(context.Background(), l)
		}
		s.buf = s.buf[i+1:]
	}
	return len(p), nil
}

// sinkLine reads one of the logger's lines: {"time","level","msg",...}.
func sinkLine(raw []byte) (logbus.Line, bool) {
	if l, ok := logbus.ParseJSONLine(raw); ok {
		return l, true
	}
	if s := strings.TrimSpace(string(raw)); s != "" {
		return logbus.ParseLine(raw), true
	}
	return logbus.Line{}, false
}

// SinkRetry is how long a back end that finished keeps trying to deliver
// its queued log lines, then its result, while Redis does not answer (a
// restart or an outage of half a minute): each wait is bounded by it.
// Before, 10 s for the lines lost them in a 30 s outage.
const SinkRetry = 2 * time.Minute

// finish sends the queued log lines (without ending the log: the
// dispatcher adds its own last lines and ends it) and writes the result
// record, retrying while Redis is briefly unreachable. It runs even when
// ctx was cancelled (SIGTERM): the result matters most then.
func (s *redisSink) finish(ctx context.Context, red *Redactor, res Result, log *slog.Logger) {
	s.mu.Lock()
	app, rdb, taskID, prefix, wantResult := s.app, s.rdb, s.taskID, s.prefix, s.result
	s.app = nil // later lines stay on stderr
	s.mu.Unlock()
	if rdb == nil {
		return
	}
	defer rdb.Close()
	bg := context.WithoutCancel(ctx)
	if app != nil {
		fctx, cancel := context.WithTimeout(bg, SinkRetry)
		if err := app.Flush(fctx); err != nil {
			log.Warn("some log lines did not reach redis; they are in the allocation's stderr", "err", err)
		}
		cancel()
		app.Close()
	}
	if wantResult {
		rctx, cancel := context.WithTimeout(bg, SinkRetry)
		defer cancel()
		red.Result(&res)
		b, err := json.Marshal(res)
		if err == nil {
			err = retryRedis(rctx, func() error { return rdb.Set(rctx, ResultKey(prefix, taskID), b, ResultTTL).Err() })
		}
		if err != nil {
			log.Error("cannot leave the result in redis; the dispatcher will fail the task (the result is on stdout, in the allocation's logs)", "err", err)
		}
	}
}

func retryRedis(ctx context.Context, f func() error) error {
	backoff := 100 * time.Millisecond
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}
