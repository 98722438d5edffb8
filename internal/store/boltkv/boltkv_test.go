package boltkv_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/store/boltkv"
	"github.com/aegirhq/aegir/internal/store/storetest"
)

func open(t testing.TB, cfg *boltkv.Config) *boltkv.KV {
	t.Helper()
	kv, err := boltkv.Open(filepath.Join(t.TempDir(), "aegir.db"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kv.Close() })
	return kv
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.KV { return open(t, nil) })
}

func BenchmarkKV(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.KV { return open(b, nil) })
}

func TestWatchTimeoutKeepsIndex(t *testing.T) {
	t.Parallel()
	kv := open(t, &boltkv.Config{WaitTime: 200 * time.Millisecond})
	ctx := t.Context()
	if _, err := kv.Txn(ctx, []store.Op{{Verb: store.OpSet, Key: "w/a", Value: []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	_, index, err := kv.List(ctx, "w/")
	if err != nil {
		t.Fatal(err)
	}
	// A write elsewhere moves the global index but not w/'s.
	if _, err := kv.Txn(ctx, []store.Op{{Verb: store.OpSet, Key: "x", Value: []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	pairs, got, err := kv.Watch(ctx, "w/", index)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 150*time.Millisecond || took > 5*time.Second {
		t.Fatalf("watch returned after %v, want about the 200ms wait", took)
	}
	if got != index || len(pairs) != 1 {
		t.Fatalf("watch = %v@%d, want the unchanged list at %d", pairs, got, index)
	}
}

func TestIndexSurvivesReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "aegir.db")
	ctx := t.Context()
	kv, err := boltkv.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := kv.Txn(ctx, []store.Op{{Verb: store.OpCAS, Key: "k", Value: []byte("v")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Close(); err != nil {
		t.Fatal(err)
	}
	kv, err = boltkv.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer kv.Close()
	p, err := kv.Get(ctx, "k")
	if err != nil || p.ModifyIndex != res[0].ModifyIndex {
		t.Fatalf("after reopen get = %+v, %v; want index %d", p, err, res[0].ModifyIndex)
	}
	// A watcher holding an index from before the reopen gets an answer at
	// once: this process cannot tell what changed before it started.
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, _, err := kv.Watch(wctx, "", res[0].ModifyIndex-1); err != nil {
		t.Fatalf("watch with a pre-reopen index: %v", err)
	}
	// An index ahead of the store also answers at once.
	if _, idx, err := kv.Watch(wctx, "", res[0].ModifyIndex+100); err != nil || idx != res[0].ModifyIndex {
		t.Fatalf("watch ahead of the store = %d, %v; want %d at once", idx, err, res[0].ModifyIndex)
	}
	res2, err := kv.Txn(ctx, []store.Op{{Verb: store.OpCAS, Key: "k", Value: []byte("v2"), Index: p.ModifyIndex}})
	if err != nil || res2[0].ModifyIndex <= p.ModifyIndex {
		t.Fatalf("update after reopen = %+v, %v; want an index above %d", res2, err, p.ModifyIndex)
	}
}

func TestLockedFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "aegir.db")
	kv, err := boltkv.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer kv.Close()
	// bbolt's flock is per open file description, so a second Open in this
	// process contends like another process would.
	_, err = boltkv.Open(path, &boltkv.Config{LockTimeout: 100 * time.Millisecond})
	if err == nil {
		t.Fatal("second Open of a locked file succeeded")
	}
	t.Logf("second open: %v", err)
}

func TestCloseWakesWatch(t *testing.T) {
	t.Parallel()
	kv := open(t, nil)
	ctx := t.Context()
	_, index, err := kv.List(ctx, "w/")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := kv.Watch(ctx, "w/", index)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := kv.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, boltkv.ErrClosed) {
			t.Fatalf("watch after close = %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake the watch")
	}
	if _, err := kv.Get(ctx, "k"); !errors.Is(err, boltkv.ErrClosed) {
		t.Fatalf("get after close = %v, want ErrClosed", err)
	}
}

func TestChangeLogOverflow(t *testing.T) {
	t.Parallel()
	kv := open(t, &boltkv.Config{ChangeLog: 4, WaitTime: 10 * time.Second})
	ctx := t.Context()
	_, index, err := kv.List(ctx, "w/")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := kv.Txn(ctx, []store.Op{{Verb: store.OpSet, Key: "x", Value: []byte{byte(i)}}}); err != nil {
			t.Fatal(err)
		}
	}
	// index fell out of the change log: answered at once, as a change.
	start := time.Now()
	_, got, err := kv.Watch(ctx, "w/", index)
	if err != nil || got <= index || time.Since(start) > 5*time.Second {
		t.Fatalf("watch behind the change log = %d, %v after %v; want a newer index at once", got, err, time.Since(start))
	}
}

// BenchmarkCASUpdateNoSync shows what the fsync of every commit costs.
func BenchmarkCASUpdateNoSync(b *testing.B) {
	storetest.BenchCASUpdate(b, open(b, &boltkv.Config{NoSync: true}))
}
