package logbus

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisConfig configures a Redis bus.
type RedisConfig struct {
	// Prefix starts every key, so several aegir clusters (or tests) can
	// share one Redis. A task's stream is "<Prefix>log:<task id>".
	// Default: "aegir:".
	Prefix string
	// MaxLen bounds a stream with an approximate MAXLEN: Redis drops the
	// oldest lines (in whole blocks, so a little more than MaxLen may stay)
	// once a runaway task logs more. Default: 100,000.
	MaxLen int64
	// MaxMsgSize bounds one line's message in bytes; longer messages are
	// cut and marked "…[truncated]". Default: 16 KiB.
	MaxMsgSize int
	// EndTTL is how long an ended stream stays after End. The dispatcher
	// archives and deletes it long before; the TTL removes the logs of
	// tasks whose archive never happened. Default: 24h.
	EndTTL time.Duration
	// IdleTTL is how long a stream that was never ended stays after its
	// last line (a task whose runner and dispatcher both died). Default: 7 days.
	IdleTTL time.Duration
	// Logger receives the bus's own logs. Default: slog.Default().
	Logger *slog.Logger
}

func (c RedisConfig) withDefaults() RedisConfig {
	c.Prefix = cmp.Or(c.Prefix, "aegir:")
	c.MaxLen = cmp.Or(c.MaxLen, DefaultMaxLines)
	c.MaxMsgSize = cmp.Or(c.MaxMsgSize, 16*1024)
	c.EndTTL = cmp.Or(c.EndTTL, 24*time.Hour)
	c.IdleTTL = cmp.Or(c.IdleTTL, 7*24*time.Hour)
	c.Logger = cmp.Or(c.Logger, slog.Default())
	return c
}

// Redis is the Bus on Redis Streams, for production: one stream per task,
// shared by every back end appending and every dashboard following. See
// the package doc for the stream layout and what survives a Redis restart.
//
// The client should have ContextTimeoutEnabled set (so a cancelled reader
// lets go at once) and a PoolSize above the number of followers at once:
// each following reader holds a connection while it blocks in XREAD.
type Redis struct {
	rdb redis.UniversalClient
	cfg RedisConfig
	log *slog.Logger
}

var _ Bus = (*Redis)(nil)

// NewRedis returns a bus on the client. cfg may be nil.
func NewRedis(rdb redis.UniversalClient, cfg *RedisConfig) *Redis {
	c := RedisConfig{}
	if cfg != nil {
		c = *cfg
	}
	c = c.withDefaults()
	return &Redis{rdb: rdb, cfg: c, log: c.Logger.With("component", "logbus-redis")}
}

// Key returns the stream key of a task's log.
func (r *Redis) Key(taskID string) string { return r.cfg.Prefix + "log:" + taskID }

// Stream entries are time/level/msg; the end marker is the one entry whose
// first field is "end". ErrEnded comes from the scripts' "ENDED" error.
const (
	fieldEnd   = "end"
	errEnded   = "ENDED"
	statusOK   = "OK"
	statusLost = "LOST"
)

// ErrEnded means a line was appended to a log that has ended.
var ErrEnded = errors.New("the task's log has ended; a finished task takes no more lines")

// appendScript adds lines to a stream, refusing once the log has ended.
// With a nonempty ARGV[3] (the id of the appender's last line that reached
// Redis) it first checks that line is still there: if not, Redis lost part
// of the stream (a restart without persistence, a flush, a partial AOF) and
// it answers {"LOST", id of the last entry before ARGV[3] or ""} without
// appending, so the appender can send the lost lines again first.
//
// KEYS[1] stream; ARGV[1] maxlen, ARGV[2] ttl in ms, ARGV[3] must-have id,
// then time, level, msg per line. Answers {"OK", id...}.
var appendScript = redis.NewScript(`
if ARGV[3] ~= '' then
  if #redis.call('XRANGE', KEYS[1], ARGV[3], ARGV[3]) == 0 then
    local before = redis.call('XREVRANGE', KEYS[1], ARGV[3], '-', 'COUNT', 1)
    if before[1] then return {'LOST', before[1][1]} end
    return {'LOST', ''}
  end
end
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if last[1] and last[1][2][1] == 'end' then
  return redis.error_reply('ENDED the log has ended')
end
local out = {'OK'}
for i = 4, #ARGV, 3 do
  out[#out+1] = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*',
    'time', ARGV[i], 'level', ARGV[i+1], 'msg', ARGV[i+2])
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return out
`)

// resendScript puts lines Redis lost back with their original ids, so
// followers resuming after an id they saw neither miss nor repeat a line.
// A line whose id is no longer above the stream's last (someone else has
// appended since the loss) gets a new id instead; order is kept.
//
// KEYS[1] stream; ARGV[1] maxlen, ARGV[2] ttl in ms, then id, time, level,
// msg per line. Answers {"OK", id...}.
var resendScript = redis.NewScript(`
local out = {'OK'}
local fresh = false
for i = 3, #ARGV, 4 do
  local id
  if not fresh then
    id = redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], ARGV[i],
      'time', ARGV[i+1], 'level', ARGV[i+2], 'msg', ARGV[i+3])
    if type(id) == 'table' and id.err then fresh = true end
  end
  if fresh then
    id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*',
      'time', ARGV[i+1], 'level', ARGV[i+2], 'msg', ARGV[i+3])
  end
  out[#out+1] = id
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return out
`)

// endScript adds the end marker once and sets the ended stream's TTL, with
// the same must-have check as appendScript.
//
// KEYS[1] stream; ARGV[1] maxlen, ARGV[2] ttl in ms, ARGV[3] must-have id.
var endScript = redis.NewScript(`
if ARGV[3] ~= '' then
  if #redis.call('XRANGE', KEYS[1], ARGV[3], ARGV[3]) == 0 then
    local before = redis.call('XREVRANGE', KEYS[1], ARGV[3], '-', 'COUNT', 1)
    if before[1] then return {'LOST', before[1][1]} end
    return {'LOST', ''}
  end
end
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if not (last[1] and last[1][2][1] == 'end') then
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'end', '1')
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {'OK'}
`)

// prepare fills a line's defaults as Memory does.
func (r *Redis) prepare(l Line) Line {
	if l.Time.IsZero() {
		l.Time = time.Now().UTC()
	}
	l.Level = cmp.Or(l.Level, "info")
	if len(l.Msg) > r.cfg.MaxMsgSize {
		l.Msg = l.Msg[:r.cfg.MaxMsgSize] + "…[truncated]"
	}
	return l
}

// Append adds a line to the task's log (XADD with an approximate MAXLEN)
// and returns its stream id. A zero Time becomes now and an empty Level
// "info". Appending to an ended log fails with ErrEnded. It does not
// buffer: while Redis is unreachable it fails, and the caller loses the
// line unless it uses a BufferedAppender.
func (r *Redis) Append(ctx context.Context, taskID string, l Line) (string, error) {
	ids, lost, err := r.appendLines(ctx, taskID, "", []Line{r.prepare(l)})
	if err != nil {
		return "", err
	}
	if lost != nil || len(ids) != 1 {
		return "", fmt.Errorf("append to the log of task %s: unexpected answer from redis", taskID)
	}
	return ids[0], nil
}

// appendLines runs appendScript. lost is non-nil (the id the stream still
// has before mustHave, maybe "") when mustHave is gone.
func (r *Redis) appendLines(ctx context.Context, taskID, mustHave string, lines []Line) (ids []string, lost *string, err error) {
	args := make([]any, 0, 3+3*len(lines))
	args = append(args, r.cfg.MaxLen, r.cfg.IdleTTL.Milliseconds(), mustHave)
	for _, l := range lines {
		args = append(args, l.Time.UTC().Format(time.RFC3339Nano), l.Level, l.Msg)
	}
	res, err := appendScript.Run(ctx, r.rdb, []string{r.Key(taskID)}, args...).StringSlice()
	if err != nil {
		if strings.HasPrefix(err.Error(), errEnded) {
			return nil, nil, fmt.Errorf("task %s: %w", taskID, ErrEnded)
		}
		return nil, nil, fmt.Errorf("append to the log of task %s in redis: %w", taskID, err)
	}
	return scriptAnswer(res)
}

// resendLines runs resendScript; lines carry the ids they had.
func (r *Redis) resendLines(ctx context.Context, taskID string, lines []Line) ([]string, error) {
	args := make([]any, 0, 2+4*len(lines))
	args = append(args, r.cfg.MaxLen, r.cfg.IdleTTL.Milliseconds())
	for _, l := range lines {
		args = append(args, l.ID, l.Time.UTC().Format(time.RFC3339Nano), l.Level, l.Msg)
	}
	res, err := resendScript.Run(ctx, r.rdb, []string{r.Key(taskID)}, args...).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("re-send lost lines of task %s to redis: %w", taskID, err)
	}
	ids, _, err := scriptAnswer(res)
	if err == nil && len(ids) != len(lines) {
		err = fmt.Errorf("re-send lost lines of task %s: redis answered %d ids for %d lines", taskID, len(ids), len(lines))
	}
	return ids, err
}

// endLog runs endScript.
func (r *Redis) endLog(ctx context.Context, taskID, mustHave string) (lost *string, err error) {
	res, err := endScript.Run(ctx, r.rdb, []string{r.Key(taskID)}, r.cfg.MaxLen, r.cfg.EndTTL.Milliseconds(), mustHave).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("end the log of task %s in redis: %w", taskID, err)
	}
	_, lost, err = scriptAnswer(res)
	return lost, err
}

func scriptAnswer(res []string) (ids []string, lost *string, err error) {
	switch {
	case len(res) == 2 && res[0] == statusLost:
		return nil, &res[1], nil
	case len(res) >= 1 && res[0] == statusOK:
		return res[1:], nil, nil
	}
	return nil, nil, fmt.Errorf("unexpected answer from redis: %q", res)
}

// End adds the end marker (once) and sets the stream to expire after
// EndTTL. Ending a log that has no lines creates an ended, empty one.
func (r *Redis) End(ctx context.Context, taskID string) error {
	_, err := r.endLog(ctx, taskID, "")
	return err
}

// Delete removes the task's stream. Followers blocked in XREAD are not
// woken (Redis does not wake them on DEL): they get ErrNoLog when their
// wait ends. The end marker, added before the dispatcher archives and
// deletes, normally ends them first.
func (r *Redis) Delete(ctx context.Context, taskID string) error {
	if err := r.rdb.Del(ctx, r.Key(taskID)).Err(); err != nil {
		return fmt.Errorf("delete the log of task %s in redis: %w", taskID, err)
	}
	return nil
}

// Read returns up to max lines after afterID: XRANGE, and when there are
// none yet, one blocking XREAD of up to wait. done is true when the end
// marker follows the last line returned. A log that does not exist (yet,
// or any more) after the wait gives ErrNoLog. A malformed afterID counts
// as the start.
func (r *Redis) Read(ctx context.Context, taskID, afterID string, max int, wait time.Duration) ([]Line, bool, error) {
	if max <= 0 {
		max = DefaultMaxReadLines
	}
	key := r.Key(taskID)
	ms, seq := parseID(afterID)
	after := strconv.FormatUint(ms, 10) + "-" + strconv.FormatUint(seq, 10)
	start := strconv.FormatUint(ms, 10) + "-" + strconv.FormatUint(seq+1, 10)
	// One entry more than asked for tells whether the end marker is next.
	msgs, err := r.rdb.XRangeN(ctx, key, start, "+", int64(max)+1).Result()
	if err != nil {
		return nil, false, fmt.Errorf("read the log of task %s from redis: %w", taskID, err)
	}
	if lines, done := toLines(msgs, max); len(lines) > 0 || done {
		return lines, done, nil
	}
	if wait > 0 {
		streams, err := r.rdb.XRead(ctx, &redis.XReadArgs{
			Streams: []string{key, after}, Count: int64(max) + 1, Block: wait,
		}).Result()
		switch {
		case errors.Is(err, redis.Nil):
		case err != nil:
			if ctx.Err() != nil {
				return nil, false, ctx.Err()
			}
			return nil, false, fmt.Errorf("follow the log of task %s in redis: %w", taskID, err)
		case len(streams) > 0:
			if lines, done := toLines(streams[0].Messages, max); len(lines) > 0 || done {
				return lines, done, nil
			}
		}
	}
	n, err := r.rdb.Exists(ctx, key).Result()
	if err != nil {
		return nil, false, fmt.Errorf("read the log of task %s from redis: %w", taskID, err)
	}
	if n == 0 {
		return nil, false, ErrNoLog
	}
	return nil, false, nil
}

// toLines converts stream entries, stopping at the end marker (done) or
// after max lines.
func toLines(msgs []redis.XMessage, max int) ([]Line, bool) {
	var out []Line
	for _, m := range msgs {
		if _, ok := m.Values[fieldEnd]; ok {
			return out, true
		}
		if len(out) == max {
			break
		}
		l := Line{ID: m.ID}
		l.Level, _ = m.Values["level"].(string)
		l.Msg, _ = m.Values["msg"].(string)
		if ts, ok := m.Values["time"].(string); ok {
			l.Time, _ = time.Parse(time.RFC3339Nano, ts)
		}
		out = append(out, l)
	}
	return out, false
}
