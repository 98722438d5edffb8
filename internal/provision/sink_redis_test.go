package provision

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aegirhq/aegir/internal/config"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/logbus"
	"github.com/aegirhq/aegir/internal/testharness"
)

// A back end with the redis sinks streams its redacted log lines to the
// bus (without ending the log: the dispatcher does) and leaves its result
// in the result record.
func TestRedisSink(t *testing.T) {
	t.Parallel()
	srv := testharness.Redis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	const taskID = "06h17f9mp005b896pkvb"

	red := NewRedactor()
	red.Add("s3cret-value")
	sink := &redisSink{}
	log := NewLogger(sink, red, slog.LevelInfo)
	log.Info("before the context: dropped")
	if err := sink.open(EnvInfo{LogSink: "redis", ResultSink: "redis", RedisAddr: srv.Addr, RedisPrefix: "t1:"}, taskID); err != nil {
		t.Fatal(err)
	}
	log.Info("step one")
	log.Warn("password is s3cret-value")
	sink.finish(ctx, red, Result{Version: 1, TaskID: taskID, Status: domain.TaskFailed, Explanation: "leaked s3cret-value"}, log)

	bus := logbus.NewRedis(rdb, &logbus.RedisConfig{Prefix: "t1:"})
	lines, done, err := bus.Read(ctx, taskID, "", 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	if done {
		t.Error("the back end ended the log; the dispatcher must")
	}
	var got []string
	for _, l := range lines {
		got = append(got, l.Level+" "+l.Msg)
	}
	if len(got) != 2 || got[0] != "info step one" || got[1] != "warn password is [redacted]" {
		t.Errorf("lines %q", got)
	}
	b, err := rdb.Get(ctx, ResultKey("t1:", taskID)).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	var res Result
	if err := json.Unmarshal(b, &res); err != nil || res.Explanation != "leaked [redacted]" || res.TaskID != taskID {
		t.Errorf("result %s (%v)", b, err)
	}
	if ttl := rdb.TTL(ctx, ResultKey("t1:", taskID)).Val(); ttl <= 0 || ttl > ResultTTL {
		t.Errorf("result TTL %s", ttl)
	}
}

// A back end that finishes while Redis is down for longer than 10 s (here
// 15 s) delivers every log line and its result once Redis is back: before,
// its lines were given up after 10 s.
func TestRedisSinkWaitsOutAnOutage(t *testing.T) {
	t.Parallel()
	srv := testharness.Redis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	const taskID = "06h17f9mp005b896pkvc"
	red := NewRedactor()
	sink := &redisSink{}
	log := NewLogger(sink, red, slog.LevelInfo)
	if err := sink.open(EnvInfo{LogSink: "redis", ResultSink: "redis", RedisAddr: srv.Addr, RedisPrefix: "t4:"}, taskID); err != nil {
		t.Fatal(err)
	}
	srv.Stop(t)
	log.Info("written while redis is down")
	finished := make(chan struct{})
	go func() {
		sink.finish(ctx, red, Result{Version: 1, TaskID: taskID, Status: domain.TaskSucceeded, Summary: "done"}, log)
		close(finished)
	}()
	time.Sleep(15 * time.Second)
	srv.Restart(t)
	select {
	case <-finished:
	case <-time.After(SinkRetry):
		t.Fatal("finish did not return after redis came back")
	}
	bus := logbus.NewRedis(rdb, &logbus.RedisConfig{Prefix: "t4:"})
	lines, _, err := bus.Read(ctx, taskID, "", 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 1 || lines[0].Msg != "written while redis is down" {
		t.Errorf("lines after the outage: %+v", lines)
	}
	if err := rdb.Get(ctx, ResultKey("t4:", taskID)).Err(); err != nil {
		t.Errorf("result after the outage: %v", err)
	}
}

// Without redis sinks nothing is opened and nothing is written.
func TestRedisSinkOff(t *testing.T) {
	t.Parallel()
	sink := &redisSink{}
	if err := sink.open(EnvInfo{}, "06h17f9mp005b896pkvb"); err != nil {
		t.Fatal(err)
	}
	if _, err := sink.Write([]byte(`{"msg":"x"}` + "\n")); err != nil {
		t.Fatal(err)
	}
	sink.finish(context.Background(), NewRedactor(), Result{}, slog.New(slog.DiscardHandler))
	if err := (&redisSink{}).open(EnvInfo{LogSink: "redis"}, "06h17f9mp005b896pkvb"); err == nil && os.Getenv("AEGIR_REDIS_ADDR") == "" {
		t.Error("redis sink without an address accepted")
	}
}

// A back end reaches a Redis with a password through the AEGIR_REDIS_*
// environment (under Nomad, a password file rendered from the job's
// Nomad Variable); without it, open fails at once, saying what to set.
// Not parallel: it sets the environment.
func TestRedisSinkPassword(t *testing.T) {
	const password = "sink-Pa55word"
	srv := testharness.RedisWith(t, testharness.RedisOptions{Password: password})
	pwFile := filepath.Join(t.TempDir(), "redis-password")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const taskID = "06h17f9mp005b896pkvc"
	env := EnvInfo{LogSink: "redis", ResultSink: "redis", RedisAddr: srv.Addr, RedisPrefix: "t2:"}

	t.Setenv("AEGIR_REDIS_PASSWORD_FILE", "")
	err := (&redisSink{}).open(env, taskID)
	if !errors.Is(err, config.ErrRedisRefused) || !strings.Contains(err.Error(), "password") {
		t.Errorf("open without the password: %v", err)
	}

	t.Setenv("AEGIR_REDIS_PASSWORD_FILE", pwFile)
	red := NewRedactor()
	sink := &redisSink{}
	log := NewLogger(sink, red, slog.LevelInfo)
	if err := sink.open(env, taskID); err != nil {
		t.Fatal(err)
	}
	log.Info("step one")
	sink.finish(context.Background(), red, Result{Version: 1, TaskID: taskID, Status: domain.TaskSucceeded}, log)

	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, Password: password})
	t.Cleanup(func() { _ = rdb.Close() })
	lines, _, err := logbus.NewRedis(rdb, &logbus.RedisConfig{Prefix: "t2:"}).Read(context.Background(), taskID, "", 100, 0)
	if err != nil || len(lines) != 1 || lines[0].Msg != "step one" {
		t.Errorf("lines %+v, %v", lines, err)
	}
	if n, err := rdb.Exists(context.Background(), ResultKey("t2:", taskID)).Result(); err != nil || n != 1 {
		t.Errorf("no result record: %d, %v", n, err)
	}
}

// A back end on Nomad whose task aegir gave up: the mark is seen by
// abandoned and, while it runs, by watchAbandoned within AbandonCheck; what
// it made by then is removed.
func TestAbandonedTask(t *testing.T) {
	t.Parallel()
	srv := testharness.Redis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	const taskID = "06h17f9mp005b896pkvc"
	log := slog.New(slog.DiscardHandler)
	sink := &redisSink{}
	if err := sink.open(EnvInfo{LogSink: "redis", ResultSink: "redis", RedisAddr: srv.Addr}, taskID); err != nil {
		t.Fatal(err)
	}
	defer sink.finish(ctx, NewRedactor(), Result{Version: 1, TaskID: taskID, Status: domain.TaskFailed}, log)
	if sink.abandoned(ctx) {
		t.Fatal("abandoned before aegir said so")
	}
	stopped := make(chan struct{})
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go sink.watchAbandoned(wctx, func() { close(stopped) })
	if err := rdb.Set(ctx, AbandonedKey("", taskID), "1", ResultTTL).Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stopped:
	case <-time.After(2*AbandonCheck + time.Second):
		t.Fatal("a running back end did not notice its task was given up")
	}
	if !sink.abandoned(ctx) {
		t.Error("abandoned does not see the mark")
	}

	archive := filepath.Join(t.TempDir(), "site.tar.zst")
	if err := os.WriteFile(archive, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	res := Result{Version: 1, TaskID: taskID, Status: domain.TaskSucceeded, Changes: Changes{Backups: []NewBackup{{Path: archive}}}}
	got := abandonedResult(res, Result{Version: 1, TaskID: taskID, Status: domain.TaskFailed, ErrorCode: CodeAbandoned}, log)
	if got.ErrorCode != CodeAbandoned || len(got.Changes.Backups) != 0 {
		t.Errorf("result of a given-up task: %+v", got)
	}
	if _, err := os.Stat(archive); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the archive of a given-up backup is still there: %v", err)
	}
}
