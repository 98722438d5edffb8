package logbus_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aegirhq/aegir/dashboard"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/logbus"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/store/boltkv"
)

// lineEvery paces the benchmarks at 1,000 lines a second.
const lineEvery = time.Millisecond

// BenchmarkLogLineLatency measures one log line from the back end's XADD
// (logbus.Redis.Append) to a Go SSE client following the dashboard's
// /api/v1/tasks/{id}/log?follow=1 on a real listener, at 1,000 lines/s;
// then, in the same run, the raw XADD → blocking XREAD round trip over the
// same Redis (the floor). Each iteration is one line.
func BenchmarkLogLineLatency(b *testing.B) {
	r := setupRedis(b, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	taskID, token, st := benchStore(b)
	api, err := dashboard.New(&dashboard.Config{Store: st, Logs: r.bus, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = api.Serve(ln) }()
	defer api.Shutdown(context.Background())

	// sent[i] is when line i went to XADD; got[i] when the client had it.
	sent := make([]time.Time, 0, 1<<16)
	got := make(chan sseLine, 1<<18) // 262 s of lines at 1,000/s
	sseErr := make(chan error, 1)
	go func() {
		sseErr <- followSSE(ctx, "http://"+ln.Addr().String()+"/api/v1/tasks/"+taskID+"/log?follow=1", token, got)
	}()
	// The first line opens the stream; wait until the client has it.
	if _, err := r.bus.Append(ctx, taskID, logbus.Line{Msg: "start"}); err != nil {
		b.Fatal(err)
	}
	select {
	case <-got:
	case err := <-sseErr:
		b.Fatalf("SSE client: %v", err)
	case <-time.After(10 * time.Second):
		b.Fatal("SSE client got no first line")
	}

	start := time.Now()
	for i := 0; b.Loop(); i++ {
		time.Sleep(time.Until(start.Add(time.Duration(i) * lineEvery)))
		sent = append(sent, time.Now())
		if _, err := r.bus.Append(ctx, taskID, logbus.Line{Msg: benchMsg(i)}); err != nil {
			b.Fatal(err)
		}
	}
	n := len(sent)
	if err := r.bus.End(ctx, taskID); err != nil {
		b.Fatal(err)
	}
	// The client ends at the "end" event, after every line it got is in
	// got (buffered): wait for it, then drain.
	select {
	case err := <-sseErr:
		if err != nil {
			b.Fatalf("SSE client: %v", err)
		}
	case <-time.After(30 * time.Second):
		b.Fatal("SSE client did not get the end of the log")
	}
	close(got)
	sse := make([]time.Duration, 0, n)
	for l := range got {
		if i, ok := benchSeq(l.msg); ok && i < n {
			sse = append(sse, l.at.Sub(sent[i]))
		}
	}
	if len(sse) != n {
		b.Fatalf("SSE client got %d of %d lines", len(sse), n)
	}
	raw := rawRoundTrips(b, r, n)
	report(b, "sse", sse)
	report(b, "raw", raw)
}

// rawRoundTrips paces n XADDs at lineEvery and measures each until a
// reader blocked in XREAD on another connection has it.
func rawRoundTrips(b *testing.B, r *redisBundle, n int) []time.Duration {
	ctx := context.Background()
	key := r.prefix + "raw"
	sent := make([]time.Time, n)
	out := make(chan []time.Duration, 1)
	ready := make(chan struct{})
	go func() {
		lat := make([]time.Duration, 0, n)
		last := "0-0"
		close(ready)
		for len(lat) < n {
			res, err := r.client.XRead(ctx, &redis.XReadArgs{Streams: []string{key, last}, Block: 5 * time.Second, Count: 100}).Result()
			if err != nil {
				break
			}
			now := time.Now()
			for _, m := range res[0].Messages {
				i, _ := strconv.Atoi(m.Values["i"].(string))
				lat = append(lat, now.Sub(sent[i]))
				last = m.ID
			}
		}
		out <- lat
	}()
	<-ready
	start := time.Now()
	for i := range n {
		time.Sleep(time.Until(start.Add(time.Duration(i) * lineEvery)))
		sent[i] = time.Now()
		if err := r.client.XAdd(ctx, &redis.XAddArgs{Stream: key, Values: []string{"i", strconv.Itoa(i), "msg", benchMsg(i)}}).Err(); err != nil {
			b.Fatal(err)
		}
	}
	lat := <-out
	if len(lat) != n {
		b.Fatalf("raw reader got %d of %d", len(lat), n)
	}
	return lat
}

func report(b *testing.B, name string, lat []time.Duration) {
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(int(float64(len(lat))*p), len(lat)-1)]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.50), name+"-p50-ms")
	b.ReportMetric(pct(0.99), name+"-p99-ms")
	b.ReportMetric(pct(1), name+"-max-ms")
}

func benchMsg(i int) string {
	return "seq=" + strconv.Itoa(i) + " drush: updating the database schema of example.com, step 7 of 12"
}

func benchSeq(msg string) (int, bool) {
	rest, ok := strings.CutPrefix(msg, "seq=")
	if !ok {
		return 0, false
	}
	n, _, _ := strings.Cut(rest, " ")
	i, err := strconv.Atoi(n)
	return i, err == nil
}

type sseLine struct {
	msg string
	at  time.Time
}

// followSSE reads the event stream as a browser's EventSource would and
// sends each line's message with the time it arrived.
func followSSE(ctx context.Context, url, token string, out chan<- sseLine) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: %s", resp.Status, body)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			if event == "end" {
				return nil
			}
			var l logbus.Line
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &l); err != nil {
				return err
			}
			out <- sseLine{msg: l.Msg, at: time.Now()}
		case line == "":
			event = ""
		}
	}
	return sc.Err()
}

// benchStore is a bbolt store with an admin token and one task (a
// server's verify task) to follow.
func benchStore(b *testing.B) (taskID, token string, st *store.Store) {
	ctx := context.Background()
	kv, err := boltkv.Open(filepath.Join(b.TempDir(), "aegir.db"), &boltkv.Config{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	st = store.New(kv, &store.Config{Logger: slog.New(slog.DiscardHandler)})
	b.Cleanup(func() { st.Close() })
	token, _, err = st.EnsureAdmin(ctx)
	if err != nil {
		b.Fatal(err)
	}
	task, err := st.CreateServer(ctx, &domain.Server{Name: "web1", Address: "127.0.0.1"},
		[]domain.Service{{Kind: domain.KindBuiltin, Port: 8080}}, "bench")
	if err != nil {
		b.Fatal(err)
	}
	return task.ID, token, st
}

// BenchmarkBufferedAppenderThroughput is how many lines a second one task
// can log through a BufferedAppender before Append starts to block (the
// sustained rate at which the appender drains into Redis; bursts up to
// QueueLines are absorbed at memory speed), next to the unbuffered
// Redis.Append (one round trip per line) in the same run.
func BenchmarkBufferedAppenderThroughput(b *testing.B) {
	r := setupRedis(b, nil)
	ctx := context.Background()
	a := logbus.NewBufferedAppender(r.bus, "buffered", nil)
	defer a.Close()
	start := time.Now()
	i := 0
	for b.Loop() {
		if err := a.Append(ctx, logbus.Line{Msg: benchMsg(i)}); err != nil {
			b.Fatal(err)
		}
		i++
	}
	if err := a.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	buffered := float64(i) / time.Since(start).Seconds()

	const syncLines = 2000
	start = time.Now()
	for i := range syncLines {
		if _, err := r.bus.Append(ctx, "sync", logbus.Line{Msg: benchMsg(i)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(buffered, "buffered-lines/s")
	b.ReportMetric(syncLines/time.Since(start).Seconds(), "sync-append-lines/s")
}
