// Package storetest is the conformance suite every store.KV backend must
// pass: the semantics the repository relies on (check-and-set, atomic
// transactions, sorted prefix lists, blocking watches), including under
// concurrent writers. Backends run it from their own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.KV { return open(t) })
//	}
//
// open must return a store that is empty as far as the test can see (a new
// file, or a fresh key prefix on a shared Consul) and close it when t ends.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/store"
)

// Open returns an empty store for one test and arranges its cleanup.
type Open func(t *testing.T) store.KV

// Run runs the whole suite as subtests of t.
func Run(t *testing.T, open Open) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, kv store.KV)
	}{
		{"GetMissing", testGetMissing},
		{"CASCreate", testCASCreate},
		{"CASUpdate", testCASUpdate},
		{"DeleteCAS", testDeleteCAS},
		{"Delete", testDelete},
		{"Checks", testChecks},
		{"TxnAtomic", testTxnAtomic},
		{"TxnResults", testTxnResults},
		{"TxnSeesEarlierOps", testTxnSeesEarlierOps},
		{"SameValueKeepsIndex", testSameValueKeepsIndex},
		{"Limits", testLimits},
		{"ListPrefix", testListPrefix},
		{"WatchIndexZero", testWatchIndexZero},
		{"WatchWakesOnPut", testWatchWakesOnPut},
		{"WatchWakesOnDelete", testWatchWakesOnDelete},
		{"WatchIgnoresOtherPrefix", testWatchIgnoresOtherPrefix},
		{"WatchContextCancel", testWatchContextCancel},
		{"ConcurrentCASCounter", testConcurrentCASCounter},
		{"ConcurrentCreateOneWinner", testConcurrentCreateOneWinner},
		{"ConcurrentUniqueDomain", testConcurrentUniqueDomain},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// ctx is the context of one test: it ends with the test, and bounds it.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

func cas(key string, value string, index uint64) store.Op {
	return store.Op{Verb: store.OpCAS, Key: key, Value: []byte(value), Index: index}
}

// put creates or overwrites key and returns its new index.
func put(t *testing.T, kv store.KV, key, value string) uint64 {
	t.Helper()
	res, err := kv.Txn(ctx(t), []store.Op{{Verb: store.OpSet, Key: key, Value: []byte(value)}})
	if err != nil {
		t.Fatalf("set %s: %v", key, err)
	}
	return res[0].ModifyIndex
}

func mustGet(t *testing.T, kv store.KV, key string) *store.Pair {
	t.Helper()
	p, err := kv.Get(ctx(t), key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	return p
}

func mustMissing(t *testing.T, kv store.KV, key string) {
	t.Helper()
	p, err := kv.Get(ctx(t), key)
	if !errors.Is(err, store.ErrKeyNotFound) {
		t.Fatalf("get %s: got %+v, %v; want ErrKeyNotFound", key, p, err)
	}
}

// wantTxnErr checks err is a *store.TxnError wrapping ErrCASFailed for op i.
func wantTxnErr(t *testing.T, err error, i int) {
	t.Helper()
	if !errors.Is(err, store.ErrCASFailed) {
		t.Fatalf("err = %v, want one wrapping ErrCASFailed", err)
	}
	var te *store.TxnError
	if !errors.As(err, &te) {
		t.Fatalf("err = %T %v, want a *store.TxnError", err, err)
	}
	if te.OpIndex != i {
		t.Fatalf("TxnError.OpIndex = %d, want %d (%v)", te.OpIndex, i, err)
	}
}

func testGetMissing(t *testing.T, kv store.KV) {
	mustMissing(t, kv, "nothing/here")
}

func testCASCreate(t *testing.T, kv store.KV) {
	res, err := kv.Txn(ctx(t), []store.Op{cas("sites/a", "one", 0)})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if len(res) != 1 || res[0] == nil || res[0].Key != "sites/a" || res[0].ModifyIndex == 0 {
		t.Fatalf("create result = %+v, want the pair with its index", res)
	}
	p := mustGet(t, kv, "sites/a")
	if string(p.Value) != "one" || p.ModifyIndex != res[0].ModifyIndex {
		t.Fatalf("get = %q@%d, want %q@%d", p.Value, p.ModifyIndex, "one", res[0].ModifyIndex)
	}
	_, err = kv.Txn(ctx(t), []store.Op{cas("sites/a", "two", 0)})
	wantTxnErr(t, err, 0)
	if p := mustGet(t, kv, "sites/a"); string(p.Value) != "one" {
		t.Fatalf("failed create overwrote the value: %q", p.Value)
	}
}

func testCASUpdate(t *testing.T, kv store.KV) {
	first := put(t, kv, "k", "v1")
	res, err := kv.Txn(ctx(t), []store.Op{cas("k", "v2", first)})
	if err != nil {
		t.Fatalf("update with the current index: %v", err)
	}
	second := res[0].ModifyIndex
	if second <= first {
		t.Fatalf("index went from %d to %d, want it to grow", first, second)
	}
	_, err = kv.Txn(ctx(t), []store.Op{cas("k", "stale", first)})
	wantTxnErr(t, err, 0)
	if p := mustGet(t, kv, "k"); string(p.Value) != "v2" || p.ModifyIndex != second {
		t.Fatalf("get = %q@%d, want v2@%d", p.Value, p.ModifyIndex, second)
	}
	// A CAS with an index on a missing key fails rather than creating it.
	_, err = kv.Txn(ctx(t), []store.Op{cas("missing", "x", second)})
	wantTxnErr(t, err, 0)
	mustMissing(t, kv, "missing")
}

func testDeleteCAS(t *testing.T, kv store.KV) {
	idx := put(t, kv, "k", "v")
	_, err := kv.Txn(ctx(t), []store.Op{{Verb: store.OpDeleteCAS, Key: "k", Index: idx + 1000}})
	wantTxnErr(t, err, 0)
	mustGet(t, kv, "k")
	res, err := kv.Txn(ctx(t), []store.Op{{Verb: store.OpDeleteCAS, Key: "k", Index: idx}})
	if err != nil {
		t.Fatalf("delete-cas with the current index: %v", err)
	}
	if len(res) != 1 || res[0] != nil {
		t.Fatalf("delete-cas result = %+v, want [nil]", res)
	}
	mustMissing(t, kv, "k")
	// As in Consul, deleting what is already gone is not a conflict.
	if _, err := kv.Txn(ctx(t), []store.Op{{Verb: store.OpDeleteCAS, Key: "k", Index: idx}}); err != nil {
		t.Fatalf("delete-cas of a missing key: %v, want success", err)
	}
}

func testDelete(t *testing.T, kv store.KV) {
	put(t, kv, "k", "v")
	if _, err := kv.Txn(ctx(t), []store.Op{{Verb: store.OpDelete, Key: "k"}}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	mustMissing(t, kv, "k")
	if _, err := kv.Txn(ctx(t), []store.Op{{Verb: store.OpDelete, Key: "k"}}); err != nil {
		t.Fatalf("delete of a missing key: %v, want success", err)
	}
}

func testChecks(t *testing.T, kv store.KV) {
	idx := put(t, kv, "k", "v")
	ok := [][]store.Op{
		{{Verb: store.OpCheckIndex, Key: "k", Index: idx}},
		{{Verb: store.OpCheckNotExists, Key: "other"}},
	}
	for _, ops := range ok {
		if _, err := kv.Txn(ctx(t), ops); err != nil {
			t.Fatalf("%v %s: %v, want success", ops[0].Verb, ops[0].Key, err)
		}
	}
	bad := [][]store.Op{
		{{Verb: store.OpCheckIndex, Key: "k", Index: idx + 1000}},
		{{Verb: store.OpCheckIndex, Key: "other", Index: idx}},
		{{Verb: store.OpCheckIndex, Key: "other", Index: 0}},
		{{Verb: store.OpCheckNotExists, Key: "k"}},
	}
	for _, ops := range bad {
		_, err := kv.Txn(ctx(t), ops)
		wantTxnErr(t, err, 0)
	}
}

func testTxnAtomic(t *testing.T, kv store.KV) {
	idx := put(t, kv, "exists", "v")
	// The failing check comes last, first, and in the middle.
	for i := range 3 {
		ops := []store.Op{
			cas("new/a", "a", 0),
			{Verb: store.OpSet, Key: "new/b", Value: []byte("b")},
			{Verb: store.OpDelete, Key: "exists"},
		}
		check := store.Op{Verb: store.OpCheckIndex, Key: "exists", Index: idx + 1000}
		ops = append(ops[:i], append([]store.Op{check}, ops[i:]...)...)
		_, err := kv.Txn(ctx(t), ops)
		wantTxnErr(t, err, i)
		mustMissing(t, kv, "new/a")
		mustMissing(t, kv, "new/b")
		if p := mustGet(t, kv, "exists"); p.ModifyIndex != idx {
			t.Fatalf("failed txn changed exists: index %d, want %d", p.ModifyIndex, idx)
		}
	}
	pairs, _, err := kv.List(ctx(t), "new/")
	if err != nil || len(pairs) != 0 {
		t.Fatalf("list new/ after failed txns = %v, %v; want nothing", pairs, err)
	}
}

func testTxnResults(t *testing.T, kv store.KV) {
	cIdx := put(t, kv, "c", "c")
	put(t, kv, "d", "d")
	ops := []store.Op{
		{Verb: store.OpCheckNotExists, Key: "a"},
		cas("a", "A", 0),
		{Verb: store.OpDelete, Key: "d"},
		{Verb: store.OpCheckIndex, Key: "c", Index: cIdx},
		{Verb: store.OpSet, Key: "b", Value: []byte("B")},
		{Verb: store.OpDeleteCAS, Key: "nope", Index: 7},
		cas("c", "C", cIdx),
	}
	res, err := kv.Txn(ctx(t), ops)
	if err != nil {
		t.Fatalf("txn: %v", err)
	}
	if len(res) != len(ops) {
		t.Fatalf("got %d results for %d ops", len(res), len(ops))
	}
	var index uint64
	for i, op := range ops {
		writes := op.Verb == store.OpCAS || op.Verb == store.OpSet
		if !writes {
			if res[i] != nil {
				t.Fatalf("result %d (%v) = %+v, want nil", i, op.Verb, res[i])
			}
			continue
		}
		r := res[i]
		if r == nil || r.Key != op.Key || !bytes.Equal(r.Value, op.Value) {
			t.Fatalf("result %d = %+v, want %s=%q", i, r, op.Key, op.Value)
		}
		if index == 0 {
			index = r.ModifyIndex
		}
		if r.ModifyIndex != index || index <= cIdx {
			t.Fatalf("result %d index %d; want every write at one new index > %d (first %d)", i, r.ModifyIndex, cIdx, index)
		}
		if p := mustGet(t, kv, op.Key); p.ModifyIndex != index || !bytes.Equal(p.Value, op.Value) {
			t.Fatalf("get %s = %q@%d, want %q@%d", op.Key, p.Value, p.ModifyIndex, op.Value, index)
		}
	}
	mustMissing(t, kv, "d")
}

func testTxnSeesEarlierOps(t *testing.T, kv store.KV) {
	res, err := kv.Txn(ctx(t), []store.Op{
		cas("a", "1", 0),
		{Verb: store.OpCheckNotExists, Key: "b"},
		{Verb: store.OpDelete, Key: "a"},
		{Verb: store.OpCheckNotExists, Key: "a"},
	})
	if err != nil {
		t.Fatalf("txn: %v", err)
	}
	if res[0] == nil {
		t.Fatalf("no result for the create")
	}
	mustMissing(t, kv, "a")
	_, err = kv.Txn(ctx(t), []store.Op{
		cas("b", "1", 0),
		cas("b", "2", 0),
	})
	wantTxnErr(t, err, 1)
	mustMissing(t, kv, "b")
}

// testSameValueKeepsIndex pins Consul's rule: writing the value a key
// already holds is not a change, so its ModifyIndex stays.
func testSameValueKeepsIndex(t *testing.T, kv store.KV) {
	idx := put(t, kv, "k", "v")
	res, err := kv.Txn(ctx(t), []store.Op{cas("k", "v", idx)})
	if err != nil {
		t.Fatalf("cas with the same value: %v", err)
	}
	if res[0].ModifyIndex != idx {
		t.Fatalf("cas with the same value moved the index from %d to %d", idx, res[0].ModifyIndex)
	}
	if again := put(t, kv, "k", "v"); again != idx {
		t.Fatalf("set with the same value moved the index from %d to %d", idx, again)
	}
	if p := mustGet(t, kv, "k"); p.ModifyIndex != idx {
		t.Fatalf("get index %d, want %d", p.ModifyIndex, idx)
	}
}

func testLimits(t *testing.T, kv store.KV) {
	ops := make([]store.Op, store.MaxTxnOps+1)
	for i := range ops {
		ops[i] = cas("many/"+strconv.Itoa(i), "v", 0)
	}
	if _, err := kv.Txn(ctx(t), ops); !errors.Is(err, store.ErrTooManyOps) {
		t.Fatalf("%d ops: err = %v, want ErrTooManyOps", len(ops), err)
	}
	if _, err := kv.Txn(ctx(t), ops[:store.MaxTxnOps]); err != nil {
		t.Fatalf("%d ops: %v, want success", store.MaxTxnOps, err)
	}
	big := bytes.Repeat([]byte("x"), store.MaxValueSize+1)
	if _, err := kv.Txn(ctx(t), []store.Op{{Verb: store.OpSet, Key: "big", Value: big}}); !errors.Is(err, store.ErrValueTooLarge) {
		t.Fatalf("value of %d bytes: err = %v, want ErrValueTooLarge", len(big), err)
	}
	half := bytes.Repeat([]byte("x"), 200*1024)
	_, err := kv.Txn(ctx(t), []store.Op{
		{Verb: store.OpSet, Key: "big1", Value: half},
		{Verb: store.OpSet, Key: "big2", Value: half},
	})
	if !errors.Is(err, store.ErrTxnTooLarge) {
		t.Fatalf("txn of 2×%d bytes: err = %v, want ErrTxnTooLarge", len(half), err)
	}
	mustMissing(t, kv, "big")
	mustMissing(t, kv, "big1")
	// One value of 200 KiB goes through on every backend.
	if _, err := kv.Txn(ctx(t), []store.Op{{Verb: store.OpSet, Key: "big1", Value: half}}); err != nil {
		t.Fatalf("txn of one %d-byte value: %v", len(half), err)
	}
	if p := mustGet(t, kv, "big1"); !bytes.Equal(p.Value, half) {
		t.Fatalf("big1 came back with %d bytes, want %d", len(p.Value), len(half))
	}
}

func testListPrefix(t *testing.T, kv store.KV) {
	for _, k := range []string{"a/3", "ab/1", "a/1", "a", "b/1", "a/2/x", "a/2"} {
		put(t, kv, k, "v:"+k)
	}
	pairs, index, err := kv.List(ctx(t), "a/")
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	var keys []string
	for _, p := range pairs {
		keys = append(keys, p.Key)
		if string(p.Value) != "v:"+p.Key {
			t.Errorf("%s = %q, want %q", p.Key, p.Value, "v:"+p.Key)
		}
		if p.ModifyIndex == 0 || p.ModifyIndex > index {
			t.Errorf("%s has index %d; list index %d must cover it", p.Key, p.ModifyIndex, index)
		}
	}
	want := []string{"a/1", "a/2", "a/2/x", "a/3"}
	if fmt.Sprint(keys) != fmt.Sprint(want) {
		t.Fatalf("list a/ = %v, want %v", keys, want)
	}
	pairs, _, err = kv.List(ctx(t), "none/")
	if err != nil || len(pairs) != 0 {
		t.Fatalf("list none/ = %v, %v; want nothing", pairs, err)
	}
}

// watchResult is what a Watch running in a goroutine returned.
type watchResult struct {
	pairs []*store.Pair
	index uint64
	err   error
	took  time.Duration
}

func watchAsync(ctx context.Context, kv store.KV, prefix string, index uint64) <-chan watchResult {
	ch := make(chan watchResult, 1)
	go func() {
		start := time.Now()
		pairs, idx, err := kv.Watch(ctx, prefix, index)
		ch <- watchResult{pairs, idx, err, time.Since(start)}
	}()
	return ch
}

func testWatchIndexZero(t *testing.T, kv store.KV) {
	put(t, kv, "w/a", "1")
	start := time.Now()
	pairs, index, err := kv.Watch(ctx(t), "w/", 0)
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("watch with index 0 took %v, want at once", took)
	}
	if len(pairs) != 1 || index == 0 || index < pairs[0].ModifyIndex {
		t.Fatalf("watch = %v@%d, want w/a with an index covering it", pairs, index)
	}
}

// waitWoken waits for a watch expected to return because of a change.
func waitWoken(t *testing.T, ch <-chan watchResult, after uint64) watchResult {
	t.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("watch: %v", r.err)
		}
		if r.index <= after {
			t.Fatalf("watch returned index %d after a change, want > %d", r.index, after)
		}
		for _, p := range r.pairs {
			if p.ModifyIndex > r.index {
				t.Fatalf("watch index %d does not cover %s@%d", r.index, p.Key, p.ModifyIndex)
			}
		}
		return r
	case <-time.After(10 * time.Second):
		t.Fatalf("watch did not wake within 10s of a change under its prefix")
	}
	return watchResult{}
}

func testWatchWakesOnPut(t *testing.T, kv store.KV) {
	put(t, kv, "w/a", "1")
	_, index, err := kv.List(ctx(t), "w/")
	if err != nil {
		t.Fatal(err)
	}
	ch := watchAsync(ctx(t), kv, "w/", index)
	time.Sleep(100 * time.Millisecond) // let it block
	written := put(t, kv, "w/b", "2")
	r := waitWoken(t, ch, index)
	if len(r.pairs) != 2 || r.pairs[1].Key != "w/b" || r.index < written {
		t.Fatalf("watch = %v@%d, want w/a and w/b at ≥ %d", r.pairs, r.index, written)
	}
}

func testWatchWakesOnDelete(t *testing.T, kv store.KV) {
	put(t, kv, "w/a", "1")
	put(t, kv, "w/b", "2")
	_, index, err := kv.List(ctx(t), "w/")
	if err != nil {
		t.Fatal(err)
	}
	ch := watchAsync(ctx(t), kv, "w/", index)
	time.Sleep(100 * time.Millisecond)
	if _, err := kv.Txn(ctx(t), []store.Op{{Verb: store.OpDelete, Key: "w/b"}}); err != nil {
		t.Fatal(err)
	}
	r := waitWoken(t, ch, index)
	if len(r.pairs) != 1 || r.pairs[0].Key != "w/a" {
		t.Fatalf("watch after delete = %v, want only w/a", r.pairs)
	}
}

func testWatchIgnoresOtherPrefix(t *testing.T, kv store.KV) {
	put(t, kv, "w/a", "1")
	_, index, err := kv.List(ctx(t), "w/")
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx(t), 1500*time.Millisecond)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; wctx.Err() == nil; i++ {
			// "wx/" shares the first letter; "w" is the prefix itself
			// without its slash. Neither is under "w/".
			_, err := kv.Txn(ctx(t), []store.Op{
				{Verb: store.OpSet, Key: "wx/" + strconv.Itoa(i%3), Value: []byte(strconv.Itoa(i))},
				{Verb: store.OpSet, Key: "w", Value: []byte(strconv.Itoa(i))},
			})
			if err != nil {
				t.Errorf("write elsewhere: %v", err)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	// The contract allows an early return with no change, so keep
	// watching until the deadline and insist nothing reported a change.
	for {
		pairs, idx, err := kv.Watch(wctx, "w/", index)
		if err != nil {
			if wctx.Err() == nil {
				t.Fatalf("watch: %v", err)
			}
			break
		}
		if idx != index {
			t.Fatalf("watch on w/ woke with index %d (was %d) and %v after writes elsewhere", idx, index, pairs)
		}
	}
	<-done
}

func testWatchContextCancel(t *testing.T, kv store.KV) {
	put(t, kv, "w/a", "1")
	_, index, err := kv.List(ctx(t), "w/")
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx(t))
	ch := watchAsync(wctx, kv, "w/", index)
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case r := <-ch:
		if !errors.Is(r.err, context.Canceled) {
			t.Fatalf("watch after cancel = %v, want context.Canceled", r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("watch did not return within 5s of its context ending")
	}
}

// Concurrency: counts stay modest so the suite runs in seconds on Consul.
const (
	writers  = 8
	attempts = 25
)

func testConcurrentCASCounter(t *testing.T, kv store.KV) {
	if _, err := kv.Txn(ctx(t), []store.Op{cas("counter", "0", 0)}); err != nil {
		t.Fatal(err)
	}
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		succeeded int
		conflicts int
		start     = make(chan struct{})
	)
	for range writers {
		wg.Go(func() {
			<-start
			for range attempts {
				for {
					p, err := kv.Get(ctx(t), "counter")
					if err != nil {
						t.Errorf("get: %v", err)
						return
					}
					n, err := strconv.Atoi(string(p.Value))
					if err != nil {
						t.Errorf("counter holds %q", p.Value)
						return
					}
					_, err = kv.Txn(ctx(t), []store.Op{cas("counter", strconv.Itoa(n+1), p.ModifyIndex)})
					if errors.Is(err, store.ErrCASFailed) {
						mu.Lock()
						conflicts++
						mu.Unlock()
						continue
					}
					if err != nil {
						t.Errorf("cas: %v", err)
						return
					}
					mu.Lock()
					succeeded++
					mu.Unlock()
					break
				}
			}
		})
	}
	close(start)
	wg.Wait()
	p := mustGet(t, kv, "counter")
	if got := string(p.Value); got != strconv.Itoa(succeeded) || succeeded != writers*attempts {
		t.Fatalf("counter = %s after %d successful increments (want %d): lost updates", got, succeeded, writers*attempts)
	}
	t.Logf("%d increments, %d CAS conflicts retried", succeeded, conflicts)
}

func testConcurrentCreateOneWinner(t *testing.T, kv store.KV) {
	const n = 2 * writers
	var (
		wg    sync.WaitGroup
		errs  = make([]error, n)
		start = make(chan struct{})
	)
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = kv.Txn(ctx(t), []store.Op{cas("the-key", strconv.Itoa(i), 0)})
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("goroutines %d and %d both created the key", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrCASFailed):
			t.Fatalf("goroutine %d: %v, want ErrCASFailed", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("no goroutine created the key")
	}
	if p := mustGet(t, kv, "the-key"); string(p.Value) != strconv.Itoa(winner) {
		t.Fatalf("the-key = %q, want the winner's %d", p.Value, winner)
	}
}

// testConcurrentUniqueDomain is how the repository keeps a domain unique
// across sites: creating a site claims its domain in the same transaction.
func testConcurrentUniqueDomain(t *testing.T, kv store.KV) {
	const n = 2 * writers
	var (
		wg    sync.WaitGroup
		errs  = make([]error, n)
		start = make(chan struct{})
	)
	for i := range n {
		wg.Go(func() {
			<-start
			id := "site-" + strconv.Itoa(i)
			_, errs[i] = kv.Txn(ctx(t), []store.Op{
				cas("sites/"+id, `{"id":"`+id+`","domain":"example.com"}`, 0),
				cas("index/domains/example.com", id, 0),
			})
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("sites %d and %d both claimed example.com", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrCASFailed):
			t.Fatalf("site %d: %v, want ErrCASFailed", i, err)
		default:
			wantTxnErr(t, err, 1)
		}
	}
	if winner < 0 {
		t.Fatalf("no site was created")
	}
	sites, _, err := kv.List(ctx(t), "sites/")
	if err != nil {
		t.Fatal(err)
	}
	want := "sites/site-" + strconv.Itoa(winner)
	if len(sites) != 1 || sites[0].Key != want {
		t.Fatalf("sites = %v, want only %s: a loser wrote its site", sites, want)
	}
	if p := mustGet(t, kv, "index/domains/example.com"); string(p.Value) != "site-"+strconv.Itoa(winner) {
		t.Fatalf("domain index = %q, want site-%d", p.Value, winner)
	}
}
