package dispatch

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
)

// flakyKV is a store backend that fails like a Consul restarting: while
// down, reads and writes fail; applyThenFail makes the next write apply
// and still answer an error, as Consul's "raft apply failed: leadership
// lost" may.
type flakyKV struct {
	store.KV
	down          atomic.Bool
	applyThenFail atomic.Int32
	failed        atomic.Int32
}

var errFlaky = errors.New("Unexpected response code: 500 (rpc error making call: raft apply failed: leadership lost while committing log)")

// Close leaves the bundle's KV open: the bundle's store closes it.
func (f *flakyKV) Close() error { return nil }

func (f *flakyKV) Get(ctx context.Context, key string) (*store.Pair, error) {
	if f.down.Load() {
		f.failed.Add(1)
		return nil, errFlaky
	}
	return f.KV.Get(ctx, key)
}

func (f *flakyKV) Txn(ctx context.Context, ops []store.Op) ([]*store.Pair, error) {
	if f.down.Load() {
		f.failed.Add(1)
		return nil, errFlaky
	}
	if f.applyThenFail.Add(-1) >= 0 {
		if _, err := f.KV.Txn(ctx, ops); err != nil {
			return nil, err
		}
		return nil, errFlaky
	}
	return f.KV.Txn(ctx, ops)
}

// setupFlaky is setup with the dispatcher's store on a flakyKV over the
// bundle's (the bundle's own store still reads and writes directly).
func setupFlaky(t *testing.T, mode string, configure ...func(*Config)) (*bundle, *flakyKV) {
	t.Helper()
	var f *flakyKV
	b := setup(t, mode, append([]func(*Config){func(c *Config) {
		f = &flakyKV{KV: c.Store.KV()}
		c.Store = store.New(f, &store.Config{Logger: testLogger(t)})
		t.Cleanup(func() { _ = c.Store.Close() }) // its mirrors; the bundle's store closes the KV
		c.RetryInterval = 10 * time.Millisecond
	}}, configure...)...)
	return b, f
}

// TestDispatchRetriesResultWhileStoreIsDown: the store fails when the
// back end ends; the dispatcher retries the result with backoff and the
// task ends with its real result once the store is back.
func TestDispatchRetriesResultWhileStoreIsDown(t *testing.T) {
	t.Parallel()
	b, f := setupFlaky(t, fakeGate)
	site, task := b.newSite(t)
	b.start(t)
	b.waitStarted(t, task.ID)
	b.waitTask(t, task.ID, func(t *domain.Task) bool { return t.Runner != "" })
	f.down.Store(true)
	b.release(t)
	deadline := time.Now().Add(10 * time.Second)
	for f.failed.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatal("the dispatcher never tried to record the result")
		}
		time.Sleep(5 * time.Millisecond)
	}
	f.down.Store(false)
	done := b.waitDone(t, task.ID)
	if done.Status != domain.TaskSucceeded || done.Summary != "fake install" {
		t.Fatalf("task = %s %s %q", done.Status, done.ErrorCode, done.Explanation)
	}
	if s := b.site(t, site.ID); s.Status != domain.SiteEnabled {
		t.Errorf("site is %s, want enabled", s.Status)
	}
}

// TestDispatchRunsTaskWhoseStartTheStoreApplied: the store applies the
// task's start but answers an error; the dispatcher reads the task again,
// finds it started under its own fencing token, and runs it once.
func TestDispatchRunsTaskWhoseStartTheStoreApplied(t *testing.T) {
	t.Parallel()
	b, f := setupFlaky(t, fakeOK)
	_, task := b.newSite(t)
	f.applyThenFail.Store(1)
	b.start(t)
	done := b.waitDone(t, task.ID)
	if done.Status != domain.TaskSucceeded {
		t.Fatalf("task = %s %s %q", done.Status, done.ErrorCode, done.Explanation)
	}
	n := 0
	for _, l := range b.logText(t, task.ID) {
		if strings.HasPrefix(l, "info aegir: running") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("task started %d times:\n%s", n, strings.Join(b.logText(t, task.ID), "\n"))
	}
}

// TestDispatchRecordsResultAfterLongStoreOutage: the store stays away
// longer than StoreRetry; the result is kept and the reap records it
// once the store is back, so the task still ends with its real result.
func TestDispatchRecordsResultAfterLongStoreOutage(t *testing.T) {
	t.Parallel()
	b, f := setupFlaky(t, fakeGate, func(c *Config) {
		c.StoreRetry, c.ReapInterval = 50*time.Millisecond, 50*time.Millisecond
	})
	site, task := b.newSite(t)
	b.start(t)
	b.waitStarted(t, task.ID)
	b.waitTask(t, task.ID, func(t *domain.Task) bool { return t.Runner != "" })
	f.down.Store(true)
	b.release(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.d.mu.Lock()
		_, kept := b.d.unrecorded[task.ID]
		b.d.mu.Unlock()
		if kept {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the result was never kept for the reap")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // a few reaps while the store is away
	f.down.Store(false)
	done := b.waitDone(t, task.ID)
	if done.Status != domain.TaskSucceeded || done.Summary != "fake install" {
		t.Fatalf("task = %s %s %q", done.Status, done.ErrorCode, done.Explanation)
	}
	if s := b.site(t, site.ID); s.Status != domain.SiteEnabled {
		t.Errorf("site is %s, want enabled", s.Status)
	}
}

// TestDispatchKeepsResultOnDiskAcrossRestart: the store is away when the
// back end ends and still when the dispatcher stops; the result is
// written to KeepDir, and the next dispatcher records it at its start, so
// the task ends with its real result instead of runner_gone.
func TestDispatchKeepsResultOnDiskAcrossRestart(t *testing.T) {
	t.Parallel()
	keep := t.TempDir()
	b, f := setupFlaky(t, fakeGate, func(c *Config) {
		c.StoreRetry, c.ReapInterval, c.KeepDir = 50*time.Millisecond, time.Hour, keep
	})
	site, task := b.newSite(t)
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- b.d.Run(ctx) }()
	b.waitStarted(t, task.ID)
	b.waitTask(t, task.ID, func(t *domain.Task) bool { return t.Runner != "" })
	f.down.Store(true)
	b.release(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.d.mu.Lock()
		_, kept := b.d.unrecorded[task.ID]
		b.d.mu.Unlock()
		if kept {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the result was never kept")
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(keep, task.ID+".json")); err != nil {
		t.Fatalf("the unrecorded result was not kept on disk: %v", err)
	}
	if tk, _ := b.st.GetTask(context.Background(), task.ID); tk.Status != domain.TaskRunning {
		t.Fatalf("task is %s while its result is kept", tk.Status)
	}

	// The next start, with the store back.
	f.down.Store(false)
	next, err := New(b.d.cfg)
	if err != nil {
		t.Fatal(err)
	}
	b.d = next
	b.start(t)
	done := b.waitDone(t, task.ID)
	if done.Status != domain.TaskSucceeded || done.Summary != "fake install" {
		t.Fatalf("task = %s %s %q", done.Status, done.ErrorCode, done.Explanation)
	}
	if s := b.site(t, site.ID); s.Status != domain.SiteEnabled {
		t.Errorf("site is %s, want enabled: the kept result's changes were not applied", s.Status)
	}
	if _, err := os.Stat(filepath.Join(keep, task.ID+".json")); !os.IsNotExist(err) {
		t.Errorf("the kept result is still on disk after it was recorded: %v", err)
	}
}
