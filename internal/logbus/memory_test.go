package logbus_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/logbus"
)

func appendN(t *testing.T, bus logbus.Bus, task string, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if _, err := bus.Append(context.Background(), task, logbus.Line{Msg: fmt.Sprint("line ", i)}); err != nil {
			t.Fatal(err)
		}
	}
}

// readAll follows a task's log to its end, reading small pages.
func readAll(ctx context.Context, bus logbus.Bus, task string, page int) ([]logbus.Line, error) {
	var out []logbus.Line
	after := ""
	for {
		lines, done, err := bus.Read(ctx, task, after, page, time.Second)
		if errors.Is(err, logbus.ErrNoLog) {
			continue // not started yet
		}
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

func checkSequence(t *testing.T, lines []logbus.Line, n int) {
	t.Helper()
	if len(lines) != n {
		t.Fatalf("got %d lines, want %d", len(lines), n)
	}
	for i, l := range lines {
		if want := fmt.Sprint("line ", i); l.Msg != want {
			t.Fatalf("line %d is %q, want %q", i, l.Msg, want)
		}
		if i > 0 && !logbus.Less(lines[i-1].ID, l.ID) {
			t.Fatalf("ids out of order: %s then %s", lines[i-1].ID, l.ID)
		}
	}
}

func TestMemoryLateReaderGetsEverything(t *testing.T) {
	t.Parallel()
	bus := logbus.NewMemory(nil)
	appendN(t, bus, "t1", 0, 250)
	if err := bus.End(context.Background(), "t1"); err != nil {
		t.Fatal(err)
	}
	lines, err := readAll(context.Background(), bus, "t1", 100)
	if err != nil {
		t.Fatal(err)
	}
	checkSequence(t, lines, 250)
	if lines[0].Level != "info" || lines[0].Time.IsZero() {
		t.Errorf("defaults not filled: %+v", lines[0])
	}
}

func TestMemoryResumeAfterID(t *testing.T) {
	t.Parallel()
	bus := logbus.NewMemory(nil)
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
	// Nothing new, no wait: returns at once, empty.
	none, done, err := bus.Read(ctx, "t1", rest[len(rest)-1].ID, 0, 0)
	if err != nil || done || len(none) != 0 {
		t.Fatalf("caught up: %v %v %v", none, done, err)
	}
	if err := bus.End(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	_, done, _ = bus.Read(ctx, "t1", rest[len(rest)-1].ID, 0, 0)
	if !done {
		t.Fatal("ended log caught up is not done")
	}
	if _, err := bus.Append(ctx, "t1", logbus.Line{Msg: "late"}); err == nil {
		t.Fatal("append after End accepted")
	}
}

func TestMemoryConcurrentFollowers(t *testing.T) {
	t.Parallel()
	bus := logbus.NewMemory(nil)
	const followers, n = 100, 500
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	results := make([][]logbus.Line, followers)
	errs := make([]error, followers)
	for i := range followers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = readAll(ctx, bus, "t1", 37)
		}()
	}
	for i := range n {
		appendN(t, bus, "t1", i, 1)
		if i%50 == 0 {
			time.Sleep(time.Millisecond) // let followers catch up and block
		}
	}
	if err := bus.End(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i := range followers {
		if errs[i] != nil {
			t.Fatalf("follower %d: %v", i, errs[i])
		}
		checkSequence(t, results[i], n)
	}
}

func TestMemoryReadWaitsForFirstLine(t *testing.T) {
	t.Parallel()
	bus := logbus.NewMemory(nil)
	ctx := context.Background()
	if _, _, err := bus.Read(ctx, "nope", "", 0, 0); !errors.Is(err, logbus.ErrNoLog) {
		t.Fatalf("read of unknown log: %v, want ErrNoLog", err)
	}
	got := make(chan []logbus.Line)
	go func() {
		lines, _, _ := bus.Read(ctx, "t1", "", 0, 10*time.Second)
		got <- lines
	}()
	appendN(t, bus, "t1", 0, 1)
	if lines := <-got; len(lines) != 1 || lines[0].Msg != "line 0" {
		t.Fatalf("waiting reader got %v", lines)
	}
}

func TestMemoryReadHonoursContextAndWait(t *testing.T) {
	t.Parallel()
	bus := logbus.NewMemory(nil)
	appendN(t, bus, "t1", 0, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := bus.Read(ctx, "t1", "1-0", 0, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled read: %v", err)
	}
	lines, done, err := bus.Read(context.Background(), "t1", "1-0", 0, 10*time.Millisecond)
	if err != nil || done || len(lines) != 0 {
		t.Fatalf("timed-out read: %v %v %v", lines, done, err)
	}
}

func TestMemoryDeleteWakesFollowers(t *testing.T) {
	t.Parallel()
	bus := logbus.NewMemory(nil)
	ctx := context.Background()
	appendN(t, bus, "t1", 0, 1)
	errc := make(chan error)
	go func() {
		_, _, err := bus.Read(ctx, "t1", "1-0", 0, time.Minute)
		errc <- err
	}()
	time.Sleep(10 * time.Millisecond)
	if err := bus.Delete(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, logbus.ErrNoLog) {
			t.Fatalf("follower of deleted log: %v, want ErrNoLog", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follower not woken by Delete")
	}
}

func TestMemoryBoundDropsOldestWithMarker(t *testing.T) {
	t.Parallel()
	bus := logbus.NewMemory(&logbus.MemoryConfig{MaxLines: 10, MaxMsgSize: 8})
	ctx := context.Background()
	appendN(t, bus, "t1", 0, 25)
	_ = bus.End(ctx, "t1")
	lines, err := readAll(ctx, bus, "t1", 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 11 {
		t.Fatalf("got %d lines, want the marker and the last 10", len(lines))
	}
	if lines[0].Level != "warn" || !strings.Contains(lines[0].Msg, "15 earlier lines were dropped") || lines[0].ID != "15-0" {
		t.Errorf("marker = %+v", lines[0])
	}
	if lines[1].Msg != "line 15" || lines[10].Msg != "line 24" || lines[10].ID != "25-0" {
		t.Errorf("kept lines: first %+v, last %+v", lines[1], lines[10])
	}
	// A reader already past the dropped part sees no marker.
	tail, _, _ := bus.Read(ctx, "t1", "20-0", 0, 0)
	if len(tail) != 5 || tail[0].Msg != "line 20" {
		t.Errorf("tail after 20-0: %+v", tail)
	}
	id, _ := bus.Append(ctx, "t2", logbus.Line{Msg: "0123456789abc"})
	long, _, _ := bus.Read(ctx, "t2", "", 0, 0)
	if id != "1-0" || long[0].Msg != "01234567…[truncated]" {
		t.Errorf("long line = %q (id %s)", long[0].Msg, id)
	}
}

func TestMemoryEndEmptyLog(t *testing.T) {
	t.Parallel()
	bus := logbus.NewMemory(nil)
	if err := bus.End(context.Background(), "t1"); err != nil {
		t.Fatal(err)
	}
	lines, done, err := bus.Read(context.Background(), "t1", "", 0, time.Minute)
	if err != nil || !done || len(lines) != 0 {
		t.Fatalf("ended empty log: %v %v %v", lines, done, err)
	}
}

func TestLess(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"", "1-0", true},
		{"0", "1-0", true},
		{"1-0", "", false},
		{"9-0", "10-0", true},
		{"10-0", "9-0", false},
		{"1700000000000-5", "1700000000000-12", true},
		{"1700000000001-0", "1700000000000-99", false},
		{"5-0", "5-0", false},
		{"5", "5-1", true},
		{"garbage", "1-0", true},
	} {
		if got := logbus.Less(tc.a, tc.b); got != tc.want {
			t.Errorf("Less(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestValidID(t *testing.T) {
	t.Parallel()
	for id, want := range map[string]bool{
		"": true, "0": true, "0-0": true, "3-0": true, "1700000000000-12": true,
		"abc": false, "1-": false, "-1": false, "1-x": false, "+1-0": false, "1-+0": false,
		"1-0-0": false, " 1-0": false, "99999999999999999999-0": false,
	} {
		if got := logbus.ValidID(id); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", id, got, want)
		}
	}
}

func BenchmarkMemoryAppendRead(b *testing.B) {
	bus := logbus.NewMemory(nil)
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		id, _ := bus.Append(ctx, "t1", logbus.Line{Msg: "x"})
		if _, _, err := bus.Read(ctx, "t1", "", 1, 0); err != nil {
			b.Fatal(err)
		}
		_ = id
	}
}
