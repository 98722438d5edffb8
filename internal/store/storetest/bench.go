package storetest

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aegirhq/aegir/internal/store"
)

// OpenB returns an empty store for a benchmark and arranges its cleanup.
type OpenB func(b *testing.B) store.KV

// Bench runs the store benchmarks as sub-benchmarks of b:
//
//	CASUpdate          read-free CAS update of one key, ns/op
//	CASUpdateParallel  CAS updates of one key per goroutine (b.RunParallel)
//	Get                Get of one ~600-byte value
//	List10k            List of a prefix of 10,000 ~600-byte values, ms/op
func Bench(b *testing.B, open OpenB) {
	b.Run("CASUpdate", func(b *testing.B) { BenchCASUpdate(b, open(b)) })
	b.Run("CASUpdateParallel", func(b *testing.B) { BenchCASUpdateParallel(b, open(b)) })
	b.Run("Get", func(b *testing.B) { BenchGet(b, open(b)) })
	// Seed the big prefix once, in a store that lives as long as the parent,
	// not on every round of the sub-benchmark.
	var big store.KV
	parent := b
	b.Run("List10k", func(b *testing.B) {
		if big == nil {
			big = open(parent)
			SeedSites(b, big, "sites/", 10000)
		}
		BenchList(b, big, "sites/", 10000)
	})
}

// siteRecord is a JSON-ish site record of about 600 bytes.
func siteRecord(i int) []byte {
	s := fmt.Sprintf(`{"id":"site-%06d","domain":"site%06d.example.com","aliases":["www.site%06d.example.com"],`+
		`"platform":"plat-drupal-10-3-1","client":"client-%04d","db_server":"db-1","status":"enabled",`+
		`"profile":"standard","language":"en","created_at":"2025-01-01T00:00:00Z","updated_at":"2025-01-01T00:00:00Z",`+
		`"https":true,"redirect_to_main":true,"cron_interval":3600,"notes":"`, i, i, i, i%100)
	pad := 600 - len(s) - 2
	return []byte(s + strings.Repeat("n", max(pad, 0)) + `"}`)
}

// SeedSites writes n site records under prefix in transactions of 64.
func SeedSites(b *testing.B, kv store.KV, prefix string, n int) {
	b.Helper()
	ctx := context.Background()
	for start := 0; start < n; start += store.MaxTxnOps {
		var ops []store.Op
		for i := start; i < min(start+store.MaxTxnOps, n); i++ {
			ops = append(ops, store.Op{Verb: store.OpCAS, Key: fmt.Sprintf("%ssite-%06d", prefix, i), Value: siteRecord(i)})
		}
		if _, err := kv.Txn(ctx, ops); err != nil {
			b.Fatalf("seed: %v", err)
		}
	}
}

// BenchCASUpdate updates one key by CAS b.N times, reusing the index each
// write returns (no read in between).
func BenchCASUpdate(b *testing.B, kv store.KV) {
	ctx := context.Background()
	value := siteRecord(1)
	res, err := kv.Txn(ctx, []store.Op{{Verb: store.OpCAS, Key: "bench/cas", Value: value}})
	if err != nil {
		b.Fatal(err)
	}
	index := res[0].ModifyIndex
	// Alternate two values: writing the same value again is a no-op in
	// both backends, which would not measure a write.
	values := [][]byte{siteRecord(2), value}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		res, err := kv.Txn(ctx, []store.Op{{Verb: store.OpCAS, Key: "bench/cas", Value: values[i%2], Index: index}})
		if err != nil {
			b.Fatal(err)
		}
		index = res[0].ModifyIndex
	}
}

// BenchCASUpdateParallel is BenchCASUpdate with one key per goroutine: the
// store's write throughput under concurrency.
func BenchCASUpdateParallel(b *testing.B, kv store.KV) {
	ctx := context.Background()
	value := siteRecord(1)
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		key := fmt.Sprintf("bench/par/%d", next.Add(1))
		values := [][]byte{value, siteRecord(2)}
		var index uint64
		for i := 0; pb.Next(); i++ {
			res, err := kv.Txn(ctx, []store.Op{{Verb: store.OpCAS, Key: key, Value: values[i%2], Index: index}})
			if err != nil {
				b.Error(err)
				return
			}
			index = res[0].ModifyIndex
		}
	})
}

// BenchGet reads one ~600-byte value.
func BenchGet(b *testing.B, kv store.KV) {
	ctx := context.Background()
	if _, err := kv.Txn(ctx, []store.Op{{Verb: store.OpSet, Key: "bench/get", Value: siteRecord(1)}}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := kv.Get(ctx, "bench/get"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchList lists a prefix holding n values and reports ms/op.
func BenchList(b *testing.B, kv store.KV, prefix string, n int) {
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		pairs, _, err := kv.List(ctx, prefix)
		if err != nil {
			b.Fatal(err)
		}
		if len(pairs) != n {
			b.Fatalf("list %s: %d pairs, want %d", prefix, len(pairs), n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
}
