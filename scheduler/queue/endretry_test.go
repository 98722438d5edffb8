package queue

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/locks"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/store/boltkv"
)

// FakeOutageKV is a real KV whose transactions that write a pass's end
// (a pass record whose state is no longer running) fail as a restarting
// Consul's do, `fail` times: refused outright, or, with applied set,
// applied and then answered with ErrUnavailable (Consul committed the
// write but the answer was lost).
type FakeOutageKV struct {
	store.KV
	fail    atomic.Int32
	applied bool
}

func (f *FakeOutageKV) Txn(ctx context.Context, ops []store.Op) ([]*store.Pair, error) {
	for _, op := range ops {
		if !strings.Contains(op.Key, "/passes/") || bytes.Contains(op.Value, []byte(`"state":"running"`)) {
			continue
		}
		if f.fail.Add(-1) < 0 {
			break
		}
		if f.applied {
			if _, err := f.KV.Txn(ctx, ops); err != nil {
				return nil, err
			}
		}
		return nil, fmt.Errorf("FakeOutageKV: Consul restarting: %w", store.ErrUnavailable)
	}
	return f.KV.Txn(ctx, ops)
}

// FakeRedisOutageLocker fails its first `fail` acquisitions of the stats
// queue's lock as a Redis that does not answer does, and with lose set
// hands out one lease that is lost when lose closes.
type FakeRedisOutageLocker struct {
	locks.Locker
	fail atomic.Int32
	lose atomic.Pointer[chan struct{}] // the next lease handed out is lost when it closes
}

func (l *FakeRedisOutageLocker) TryAcquire(ctx context.Context, name string, ttl time.Duration) (locks.Lease, error) {
	if name == "queue/"+Stats && l.fail.Add(-1) >= 0 {
		return nil, fmt.Errorf("take lock %s in redis: %w: connection refused", name, locks.ErrUnavailable)
	}
	lease, err := l.Locker.TryAcquire(ctx, name, ttl)
	if err != nil || name != "queue/"+Stats {
		return lease, err
	}
	if lose := l.lose.Swap(nil); lose != nil {
		return &fakeLosableLease{Lease: lease, lost: *lose}, nil
	}
	return lease, nil
}

// fakeLosableLease is lost when its locker's lose channel closes, as a
// lease Redis stopped renewing is.
type fakeLosableLease struct {
	locks.Lease
	lost chan struct{}
}

func (l *fakeLosableLease) Lost() <-chan struct{} { return l.lost }

type outageBundle struct {
	st *store.Store
	kv *FakeOutageKV
	lk *FakeRedisOutageLocker
}

func setupOutage(t *testing.T, applied bool) *outageBundle {
	t.Helper()
	bolt, err := boltkv.Open(filepath.Join(t.TempDir(), "aegir.db"), &boltkv.Config{NoSync: true})
	must(t, err)
	kv := &FakeOutageKV{KV: bolt, applied: applied}
	st := store.New(kv, &store.Config{Logger: testLogger(t)})
	t.Cleanup(func() { _ = st.Close() })
	return &outageBundle{st: st, kv: kv, lk: &FakeRedisOutageLocker{Locker: locks.NewMemory()}}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// A pass whose end cannot be written while the store does not answer
// retries, holding its lock, and records its end once the store is back,
// whether the failed writes were refused or applied without an answer
// (then the pass recognises its own write and is not an orphan).
func TestPassEndRecordedAfterStoreOutage(t *testing.T) {
	t.Parallel()
	for _, applied := range []bool{false, true} {
		t.Run(fmt.Sprintf("applied=%v", applied), func(t *testing.T) {
			t.Parallel()
			b := setupOutage(t, applied)
			logs := &logRecorder{t: t}
			log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
			q, err := New(Config{Store: b.st, Locker: b.lk, Logger: log, Poll: 5 * time.Millisecond, EndRetry: 10 * time.Second})
			must(t, err)
			t.Cleanup(q.Close)
			ctx := context.Background()
			b.kv.fail.Store(3)
			rep, err := q.RunPass(ctx, Stats)
			if err != nil || rep.State != PassDone {
				t.Fatalf("pass over an outage at its end: %+v, %v", rep, err)
			}
			if n := b.kv.fail.Load(); n >= 0 {
				t.Fatalf("the outage did not happen (%d failures left)", n+1)
			}
			got, err := q.Pass(ctx, Stats, rep.ID)
			if err != nil || got.State != PassDone || got.Finished.IsZero() {
				t.Fatalf("its record: %+v, %v", got, err)
			}
			if logs.has("took over this pass's record") {
				t.Fatal("the pass took its own applied write for another pass's")
			}
			if last, err := q.Passes(ctx, Stats); err != nil || len(last) != 1 {
				t.Fatalf("passes: %+v, %v", last, err)
			}
			// The lock was let go: the next pass starts.
			if rep, err := q.RunPass(ctx, Stats); err != nil || rep.State != PassDone {
				t.Fatalf("next pass: %+v, %v", rep, err)
			}
		})
	}
}

// A pass that cannot start because Redis does not answer, past
// StartRetry, is recorded failed with bus_unavailable, and Run tries the
// queue again within its interval (here an hour) rather than after it.
func TestRunRetriesPassWithinItsInterval(t *testing.T) {
	t.Parallel()
	b := setupOutage(t, false)
	q, err := New(Config{Store: b.st, Locker: b.lk, Logger: testLogger(t), Poll: 5 * time.Millisecond, StartRetry: 30 * time.Millisecond})
	must(t, err)
	t.Cleanup(q.Close)
	ctx, cancel := context.WithCancel(context.Background())
	s := Defaults(Stats)
	s.Interval = Duration(time.Hour)
	_, err = q.PutSettings(ctx, Stats, s)
	must(t, err)
	b.lk.fail.Store(8)
	done := make(chan struct{})
	go func() { defer close(done); _ = q.Run(ctx) }()
	defer func() { cancel(); <-done }()

	deadline := time.Now().Add(20 * time.Second)
	for {
		ps, err := q.Passes(ctx, Stats)
		must(t, err)
		var ok, failed bool
		for _, p := range ps {
			ok = ok || p.State == PassDone
			failed = failed || (p.State == PassFailed && p.Code == CodeBusUnavailable && strings.Contains(p.Error, "could not start"))
		}
		if ok && failed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no retried pass within the interval: %+v", ps)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logRecorder logs through t and keeps what it logged.
type logRecorder struct {
	t   *testing.T
	mu  sync.Mutex
	buf strings.Builder
}

func (l *logRecorder) Write(p []byte) (int, error) {
	l.t.Log(string(p))
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logRecorder) has(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Contains(l.buf.String(), s)
}

// A pass whose lock Redis stopped renewing is interrupted with
// bus_unavailable, and Run tries the queue again within its interval:
// the next pass skips the site whose task is still queued and ends done.
func TestRunRetriesAPassThatLostItsLock(t *testing.T) {
	t.Parallel()
	b := setupOutage(t, false)
	seedSite(t, b.st)
	lose := make(chan struct{})
	b.lk.lose.Store(&lose)
	q, err := New(Config{Store: b.st, Locker: b.lk, Logger: testLogger(t), Poll: 5 * time.Millisecond})
	must(t, err)
	t.Cleanup(q.Close)
	ctx, cancel := context.WithCancel(context.Background())
	s := Defaults(Stats)
	s.Interval = Duration(time.Hour)
	_, err = q.PutSettings(ctx, Stats, s)
	must(t, err)
	done := make(chan struct{})
	go func() { defer close(done); _ = q.Run(ctx) }()
	defer func() { cancel(); <-done }()

	waitQueued(t, b.st, "stats")
	close(lose)
	deadline := time.Now().Add(20 * time.Second)
	for {
		ps, err := q.Passes(ctx, Stats)
		must(t, err)
		var interrupted, next bool
		for _, p := range ps {
			interrupted = interrupted || (p.State == PassInterrupted && p.Code == CodeBusUnavailable)
			next = next || (p.State == PassDone && p.Skipped == 1)
		}
		if interrupted && next {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no interrupted pass retried within the interval: %+v", ps)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
