package logbus_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aegirhq/aegir/internal/logbus"
	"github.com/aegirhq/aegir/internal/testharness"
)

type redisBundle struct {
	srv    *testharness.RedisServer
	client *redis.Client
	bus    *logbus.Redis
	prefix string
}

// setupRedis starts a redis-server for the test and returns a bus on it
// under a key prefix of the test's own.
func setupRedis(t testing.TB, cfg *logbus.RedisConfig) *redisBundle {
	t.Helper()
	srv := testharness.Redis(t)
	client := redis.NewClient(&redis.Options{
		Addr: srv.Addr, PoolSize: 200, ContextTimeoutEnabled: true,
		DialTimeout: time.Second, MaxRetries: -1,
	})
	t.Cleanup(func() { client.Close() })
	c := logbus.RedisConfig{}
	if cfg != nil {
		c = *cfg
	}
	c.Prefix = testharness.UniquePrefix(t)
	return &redisBundle{srv: srv, client: client, bus: logbus.NewRedis(client, &c), prefix: c.Prefix}
}

func TestRedisLateReaderGetsEverything(t *testing.T) {
	t.Parallel()
	r := setupRedis(t, nil)
	appendN(t, r.bus, "t1", 0, 250)
	if err := r.bus.End(context.Background(), "t1"); err != nil {
		t.Fatal(err)
	}
	lines, err := readAll(context.Background(), r.bus, "t1", 100)
	if err != nil {
		t.Fatal(err)
	}
	checkSequence(t, lines, 250)
	if lines[0].Level != "info" || lines[0].Time.IsZero() {
		t.Errorf("defaults not filled: %+v", lines[0])
	}
	if keys, _ := r.client.Keys(context.Background(), r.prefix+"*").Result(); len(keys) != 1 || keys[0] != r.bus.Key("t1") {
		t.Errorf("keys = %v, want only %s", keys, r.bus.Key("t1"))
	}
	ttl, _ := r.client.TTL(context.Background(), r.bus.Key("t1")).Result()
	if ttl <= 23*time.Hour || ttl > 24*time.Hour {
		t.Errorf("ended stream TTL = %s, want 24h", ttl)
	}
}

func TestRedisResumeAfterID(t *testing.T) {
	t.Parallel()
	r := setupRedis(t, nil)
	bus := r.bus
	ctx := context.Background()
	appendN(t, bus, "t1", 0, 10)
	first, done, err := bus.Read(ctx, "t1", "0", 4, 0)
	if err != nil || done || len(first) != 4 {
		t.Fatalf("first page: %d lines, done %v, err %v", len(first), done, err)
	}
	rest, done, err := bus.Read(ctx, "t1", first[3].ID, 0, 0)
	if err != nil || done {
		t.Fatalf("resume: done %v, err %v", done, err)
	}
	checkSequence(t, append(first, rest...), 10)
	none, done, err := bus.Read(ctx, "t1", rest[len(rest)-1].ID, 0, 0)
	if err != nil || done || len(none) != 0 {
		t.Fatalf("caught up: %v %v %v", none, done, err)
	}
	if err := bus.End(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if err := bus.End(ctx, "t1"); err != nil {
		t.Fatalf("second End: %v", err)
	}
	// The last page reports done; so does a read at the very end.
	last, done, _ := bus.Read(ctx, "t1", first[3].ID, 6, 0)
	if !done || len(last) != 6 {
		t.Fatalf("last page: %d lines, done %v", len(last), done)
	}
	_, done, _ = bus.Read(ctx, "t1", rest[len(rest)-1].ID, 0, 0)
	if !done {
		t.Fatal("ended log caught up is not done")
	}
	if _, err := bus.Append(ctx, "t1", logbus.Line{Msg: "late"}); !errors.Is(err, logbus.ErrEnded) {
		t.Fatalf("append after End: %v, want ErrEnded", err)
	}
	// A malformed id reads from the start, as in Memory.
	all, _, err := bus.Read(ctx, "t1", "garbage", 0, 0)
	if err != nil || len(all) != 10 {
		t.Fatalf("read after a malformed id: %d lines, %v", len(all), err)
	}
}

// TestRedisFollowersLiveAndMany: 100 followers of one task, joining before
// and during the run, all get every line in order; a follower that drops
// its connection and resumes from its last id misses nothing.
func TestRedisFollowersLiveAndMany(t *testing.T) {
	t.Parallel()
	r := setupRedis(t, nil)
	const followers, n = 100, 500
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	results := make([][]logbus.Line, followers)
	errs := make([]error, followers)
	follow := func(i int) {
		defer wg.Done()
		results[i], errs[i] = readAll(ctx, r.bus, "t1", 37)
	}
	for i := range followers / 2 {
		wg.Add(1)
		go follow(i)
	}
	// A reconnecting follower: reads a little, "disconnects", resumes.
	var resumed []logbus.Line
	var resumeErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		after := ""
		for len(resumed) < 100 {
			lines, _, err := r.bus.Read(ctx, "t1", after, 30, time.Second)
			if err != nil && !errors.Is(err, logbus.ErrNoLog) {
				resumeErr = err
				return
			}
			resumed = append(resumed, lines...)
			if len(lines) > 0 {
				after = lines[len(lines)-1].ID
			}
		}
		rest, err := readAllAfter(ctx, r.bus, "t1", after, 50)
		resumed, resumeErr = append(resumed, rest...), err
	}()
	for i := range n {
		appendN(t, r.bus, "t1", i, 1)
		if i == n/2 {
			for j := followers / 2; j < followers; j++ {
				wg.Add(1)
				go follow(j) // late joiners
			}
		}
		if i%50 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	if err := r.bus.End(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i := range followers {
		if errs[i] != nil {
			t.Fatalf("follower %d: %v", i, errs[i])
		}
		checkSequence(t, results[i], n)
	}
	if resumeErr != nil {
		t.Fatal(resumeErr)
	}
	checkSequence(t, resumed, n)
}

func readAllAfter(ctx context.Context, bus logbus.Bus, task, after string, page int) ([]logbus.Line, error) {
	var out []logbus.Line
	for {
		lines, done, err := bus.Read(ctx, task, after, page, time.Second)
		if err != nil {
			return out, err
		}
		out = append(out, lines...)
		if len(lines) > 0 {
			after = lines[len(lines)-1].ID
		}
		if done {
			return out, nil
		}
	}
}

func TestRedisReadWaitsForFirstLineAndDelete(t *testing.T) {
	t.Parallel()
	r := setupRedis(t, nil)
	ctx := context.Background()
	if _, _, err := r.bus.Read(ctx, "nope", "", 0, 0); !errors.Is(err, logbus.ErrNoLog) {
		t.Fatalf("read of unknown log: %v, want ErrNoLog", err)
	}
	if _, _, err := r.bus.Read(ctx, "nope", "", 0, 20*time.Millisecond); !errors.Is(err, logbus.ErrNoLog) {
		t.Fatalf("waited read of unknown log: %v, want ErrNoLog", err)
	}
	got := make(chan []logbus.Line)
	go func() {
		lines, _, _ := r.bus.Read(ctx, "t1", "", 0, 10*time.Second)
		got <- lines
	}()
	time.Sleep(20 * time.Millisecond)
	appendN(t, r.bus, "t1", 0, 1)
	lines := <-got
	if len(lines) != 1 || lines[0].Msg != "line 0" {
		t.Fatalf("waiting reader got %v", lines)
	}
	// A waiting reader that times out on a live log gets nothing, no error.
	none, done, err := r.bus.Read(ctx, "t1", lines[0].ID, 0, 20*time.Millisecond)
	if err != nil || done || len(none) != 0 {
		t.Fatalf("timed-out read: %v %v %v", none, done, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := r.bus.Read(cctx, "t1", lines[0].ID, 0, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled read: %v", err)
	}
	if err := r.bus.Delete(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.bus.Read(ctx, "t1", "", 0, 0); !errors.Is(err, logbus.ErrNoLog) {
		t.Fatalf("read of deleted log: %v", err)
	}
}

func TestRedisEndEmptyLogAndBounds(t *testing.T) {
	t.Parallel()
	r := setupRedis(t, &logbus.RedisConfig{MaxLen: 100, MaxMsgSize: 8})
	ctx := context.Background()
	if err := r.bus.End(ctx, "empty"); err != nil {
		t.Fatal(err)
	}
	lines, done, err := r.bus.Read(ctx, "empty", "", 0, time.Minute)
	if err != nil || !done || len(lines) != 0 {
		t.Fatalf("ended empty log: %v %v %v", lines, done, err)
	}
	appendN(t, r.bus, "big", 0, 2000)
	n, _ := r.client.XLen(ctx, r.bus.Key("big")).Result()
	if n < 100 || n > 400 {
		t.Errorf("stream of 2000 lines with MaxLen 100 kept %d", n)
	}
	if _, err := r.bus.Append(ctx, "long", logbus.Line{Msg: "0123456789abc"}); err != nil {
		t.Fatal(err)
	}
	long, _, _ := r.bus.Read(ctx, "long", "", 0, 0)
	if long[0].Msg != "01234567…[truncated]" {
		t.Errorf("long line = %q", long[0].Msg)
	}
	ttl, _ := r.client.TTL(ctx, r.bus.Key("long")).Result()
	if ttl < 6*24*time.Hour {
		t.Errorf("live stream TTL = %s, want the 7-day idle TTL", ttl)
	}
}

// TestBufferedAppenderSurvivesRedisRestart appends 2,000 lines while Redis
// restarts without persistence (the stream is wiped): afterwards the
// stream holds every line, in order, and the lines that were already in
// Redis kept their ids.
func TestBufferedAppenderSurvivesRedisRestart(t *testing.T) {
	t.Parallel()
	r := setupRedis(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a := logbus.NewBufferedAppender(r.bus, "t1", &logbus.BufferConfig{RetryMin: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond})
	defer a.Close()
	const n = 2000
	var before []logbus.Line
	for i := range n {
		if err := a.Append(ctx, logbus.Line{Msg: fmt.Sprint("line ", i)}); err != nil {
			t.Fatal(err)
		}
		if i == n/2 {
			if err := a.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			before, _ = readPage(ctx, r.bus, "t1")
			r.srv.Restart(t)
		}
		if i%100 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	if err := a.End(ctx); err != nil {
		t.Fatal(err)
	}
	lines, err := readAll(ctx, r.bus, "t1", 500)
	if err != nil {
		t.Fatal(err)
	}
	checkSequence(t, lines, n)
	if len(before) != n/2+1 {
		t.Fatalf("before the restart the stream had %d lines, want %d", len(before), n/2+1)
	}
	for i, l := range before {
		if lines[i].ID != l.ID {
			t.Fatalf("line %d was %s before the restart, %s after", i, l.ID, lines[i].ID)
		}
	}
	if kept := a.Lines(); len(kept) != n || kept[n-1].ID != lines[n-1].ID {
		t.Fatalf("appender kept %d lines", len(kept))
	}
}

func readPage(ctx context.Context, bus logbus.Bus, task string) ([]logbus.Line, error) {
	lines, _, err := bus.Read(ctx, task, "", 100000, 0)
	return lines, err
}

// TestBufferedAppenderWaitsOutRedisDown: Redis is down before the first
// line and comes back later; Append never blocks on it, and End delivers
// everything.
func TestBufferedAppenderWaitsOutRedisDown(t *testing.T) {
	t.Parallel()
	r := setupRedis(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := logbus.NewBufferedBus(r.bus, &logbus.BufferConfig{RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond})
	defer b.Close()
	r.srv.Stop(t)
	for i := range 300 {
		if _, err := b.Append(ctx, "t1", logbus.Line{Msg: fmt.Sprint("line ", i)}); err != nil {
			t.Fatal(err)
		}
	}
	flushCtx, stop := context.WithTimeout(ctx, 50*time.Millisecond)
	if err := b.Flush(flushCtx, "t1"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("flush with redis down: %v", err)
	}
	stop()
	if n := b.Buffered(); n != 300 {
		t.Errorf("Buffered() with redis down = %d, want 300", n)
	}
	r.srv.Restart(t)
	if err := b.End(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if n := b.Buffered(); n != 0 {
		t.Errorf("Buffered() after End = %d, want 0", n)
	}
	lines, err := readAll(ctx, b, "t1", 100)
	if err != nil {
		t.Fatal(err)
	}
	checkSequence(t, lines, 300)
	if _, err := b.Append(ctx, "t1", logbus.Line{Msg: "late"}); err == nil {
		// A new appender is made for the task, whose first batch finds the
		// end marker: the line is refused when sent.
		err = b.Flush(ctx, "t1")
		if !errors.Is(err, logbus.ErrEnded) {
			t.Fatalf("line after End: %v, want ErrEnded", err)
		}
	}
}

func TestBufferedAppenderQueueBound(t *testing.T) {
	t.Parallel()
	r := setupRedis(t, nil)
	r.srv.Stop(t)
	a := logbus.NewBufferedAppender(r.bus, "t1", &logbus.BufferConfig{QueueLines: 10})
	defer a.Close()
	ctx := context.Background()
	for i := range 10 {
		if err := a.Append(ctx, logbus.Line{Msg: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	full, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if err := a.Append(full, logbus.Line{Msg: "11th"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("append to a full queue: %v, want to block until ctx ends", err)
	}
}

// TestBufferedAppenderReportsLinesItLetGo: with a keep bound smaller than
// the log, a wipe loses the lines no longer kept, and the log says so.
func TestBufferedAppenderReportsLinesItLetGo(t *testing.T) {
	t.Parallel()
	r := setupRedis(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := logbus.NewBufferedAppender(r.bus, "t1", &logbus.BufferConfig{KeepLines: 50, RetryMin: 10 * time.Millisecond})
	defer a.Close()
	for i := range 100 {
		_ = a.Append(ctx, logbus.Line{Msg: fmt.Sprint("line ", i)})
	}
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.client.Del(ctx, r.bus.Key("t1")).Err(); err != nil { // as a FLUSHALL would
		t.Fatal(err)
	}
	if err := a.End(ctx); err != nil {
		t.Fatal(err)
	}
	lines, err := readAll(ctx, r.bus, "t1", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 51 || !strings.Contains(lines[0].Msg, "50 earlier lines were lost") || lines[1].Msg != "line 50" {
		t.Fatalf("got %d lines, first %q", len(lines), lines[0].Msg)
	}
}

// TestBufferedBusShutdownSendsQueuedLines: a stopping aegir's last lines
// (the dispatcher's note that it hands a running task over) are still
// queued, or on their way, when it stops; Shutdown sends them before it
// stops the appenders, where Close dropped them. Redis holds every write
// for a second (CLIENT PAUSE WRITE), so the lines are surely unsent when
// Shutdown starts.
func TestBufferedBusShutdownSendsQueuedLines(t *testing.T) {
	t.Parallel()
	r := setupRedis(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := logbus.NewBufferedBus(r.bus, nil)
	if err := r.client.Do(ctx, "CLIENT", "PAUSE", "1000", "WRITE").Err(); err != nil {
		t.Fatal(err)
	}
	tasks := []string{"t1", "t2"}
	for _, task := range tasks {
		if _, err := b.Append(ctx, task, logbus.Line{Msg: "handed over"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := b.Buffered(); n != len(tasks) {
		t.Fatalf("Buffered() = %d before the shutdown, want %d: Redis took writes while paused", n, len(tasks))
	}
	if err := b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		lines, err := readPage(ctx, r.bus, task)
		if err != nil || len(lines) != 1 || lines[0].Msg != "handed over" {
			t.Errorf("task %s's log after the shutdown: %v, %v; want its one line", task, lines, err)
		}
	}
	if _, err := b.Append(ctx, "t1", logbus.Line{Msg: "after"}); err != nil {
		t.Fatal(err) // a new appender: the bus stays usable, as after Close
	}
	b.Close()
}

// TestBufferedBusShutdownIsBounded: with Redis down the shutdown waits
// only as long as its ctx, and says how many lines it dropped.
func TestBufferedBusShutdownIsBounded(t *testing.T) {
	t.Parallel()
	r := setupRedis(t, nil)
	b := logbus.NewBufferedBus(r.bus, &logbus.BufferConfig{RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond})
	r.srv.Stop(t)
	for i := range 3 {
		if _, err := b.Append(context.Background(), "t1", logbus.Line{Msg: fmt.Sprint("line ", i)}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := b.Shutdown(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "3 live log lines") {
		t.Fatalf("shutdown with Redis down: %v; want the 3 dropped lines counted and the deadline", err)
	}
	if n := b.Buffered(); n != 0 {
		t.Errorf("Buffered() after the shutdown = %d, want 0: the appenders are stopped", n)
	}
}
