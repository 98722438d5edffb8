package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/store/boltkv"
)

// BenchmarkListTasks100k measures ListTasks on bbolt with 100,000 tasks in
// the mirror (the dashboard benchmark's size), in ms/op: the first page
// with no filter, a page filtered by status (failed: 1 in 17), and one
// filtered by target (one site of 1,000). The tasks are written straight
// into the KV in transactions of 64, in the store's layout (tasks/<hour>/<id>
// and the hour's marker, domain.Task JSON; one task every 6 s, so ~7 days
// of hours), and the benchmark waits until the mirror holds them.
//
// write+first-page queues a task through the store and then lists the
// first page, which waits for the mirror to catch up and re-sorts; write
// alone, measured next to it, is its baseline: the difference is what a
// list costs right after any task changed.
func BenchmarkListTasks100k(b *testing.B) {
	const n, targets = 100_000, 1000
	kv, err := boltkv.Open(filepath.Join(b.TempDir(), "aegir.db"), &boltkv.Config{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	st := store.New(kv, &store.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer st.Close()
	ctx := context.Background()
	seedTaskRecords(b, kv, n, targets)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		p, err := st.ListTasks(ctx, store.TaskFilter{Limit: 1})
		if err != nil {
			b.Fatal(err)
		}
		if p.Total >= n {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("the task mirror holds %d of %d tasks", p.Total, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cases := []struct {
		name string
		f    store.TaskFilter
		want int
	}{
		{"first-page", store.TaskFilter{}, n},
		{"filtered-status", store.TaskFilter{Status: domain.TaskFailed, Offset: 50}, (n + 16) / 17},
		{"filtered-target", store.TaskFilter{TargetKind: domain.TargetSite, TargetID: fmt.Sprintf("site-%04d", targets/2)}, n / targets},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				p, err := st.ListTasks(ctx, c.f)
				if err != nil {
					b.Fatal(err)
				}
				if p.Total != c.want || len(p.Items) == 0 {
					b.Fatalf("total %d, %d items; want total %d", p.Total, len(p.Items), c.want)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
		})
	}
	srv := &domain.Server{Name: "bench1", Address: "127.0.0.1"}
	if _, err := st.CreateServer(ctx, srv, nil, "bench"); err != nil {
		b.Fatal(err)
	}
	for _, list := range []bool{false, true} {
		name := "write"
		if list {
			name = "write+first-page"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := st.RequestServerTask(ctx, srv.ID, domain.TaskVerifyServer, "bench"); err != nil {
					b.Fatal(err)
				}
				if list {
					if p, err := st.ListTasks(ctx, store.TaskFilter{}); err != nil || p.Total < n {
						b.Fatalf("list: %v", err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
		})
	}
}

// seedTaskRecords writes n finished tasks spread over targets sites
// straight into kv, MaxTxnOps per transaction.
func seedTaskRecords(b *testing.B, kv store.KV, n, targets int) {
	b.Helper()
	ctx := context.Background()
	types := []domain.TaskType{domain.TaskVerify, domain.TaskBackup, domain.TaskVerify, domain.TaskDisable, domain.TaskEnable}
	now := time.Now().UTC()
	ops := make([]store.Op, 0, store.MaxTxnOps)
	for i := range n {
		site := i % targets
		created := now.Add(-time.Duration(n-i) * 6 * time.Second)
		started, finished := created.Add(time.Second), created.Add(3*time.Second)
		t := domain.Task{
			ID: domain.NewIDAt(created), Type: types[i%len(types)], TargetKind: domain.TargetSite,
			TargetID: fmt.Sprintf("site-%04d", site), TargetName: fmt.Sprintf("site%04d.example.com", site),
			ClientID: fmt.Sprintf("client-%02d", site%50), Status: domain.TaskSucceeded, RequestedBy: "bench",
			CreatedAt: created, StartedAt: &started, FinishedAt: &finished, Summary: "done",
		}
		if i%17 == 0 {
			t.Status, t.ErrorCode, t.Explanation, t.Summary = domain.TaskFailed, "web_reload", "nginx did not reload", ""
		}
		v, err := json.Marshal(t)
		if err != nil {
			b.Fatal(err)
		}
		// Each task with its hour's marker, as the store writes them.
		ops = append(ops, store.TaskBucketOp(t.ID), store.Op{Verb: store.OpSet, Key: store.TaskKey(t.ID), Value: v})
		if len(ops) >= store.MaxTxnOps-1 || i == n-1 {
			if _, err := kv.Txn(ctx, ops); err != nil {
				b.Fatal(err)
			}
			ops = ops[:0]
		}
	}
}
