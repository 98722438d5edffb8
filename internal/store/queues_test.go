package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/aegirhq/aegir/internal/store"
)

// TestQueueRecords: the periodic queues' records are read and written
// through the store's methods: check-and-set on their version, plain sets
// in batches, and sets listed by id.
func TestQueueRecords(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		settings := store.QueueSettingsKey("cron")
		if _, err := s.GetQueueRecord(ctx, settings); !errors.Is(err, store.ErrKeyNotFound) {
			t.Fatalf("missing record: %v", err)
		}
		v1, err := s.PutQueueRecord(ctx, settings, []byte(`{"a":1}`), 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.PutQueueRecord(ctx, settings, []byte(`{"a":2}`), 0); !errors.Is(err, store.ErrCASFailed) {
			t.Fatalf("create over an existing record: %v", err)
		}
		v2, err := s.PutQueueRecord(ctx, settings, []byte(`{"a":2}`), v1)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := s.GetQueueRecord(ctx, settings)
		if err != nil || string(rec.Value) != `{"a":2}` || rec.Version != v2 {
			t.Fatalf("read back %+v %v (version %d)", rec, err, v2)
		}

		// More runs than one transaction holds, and a run of another queue.
		runs := map[store.QueueKey][]byte{store.QueueRuns("backup").Key("other"): []byte("x")}
		for i := range store.MaxTxnOps + 3 {
			runs[store.QueueRuns("cron").Key(fmt.Sprintf("site%03d", i))] = []byte(fmt.Sprint(i))
		}
		if err := s.SetQueueRecords(ctx, runs); err != nil {
			t.Fatal(err)
		}
		recs, err := s.ListQueueRecords(ctx, store.QueueRuns("cron"))
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != store.MaxTxnOps+3 || recs[0].ID != "site000" || string(recs[5].Value) != "5" || recs[5].Version == 0 {
			t.Fatalf("listed %d runs, first %+v", len(recs), recs[0])
		}

		pass := store.QueuePasses("cron").Key("p1")
		v, err := s.PutQueueRecord(ctx, pass, []byte("running"), 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteQueueRecord(ctx, pass, v+1000); !errors.Is(err, store.ErrCASFailed) {
			t.Fatalf("delete of a changed record: %v", err)
		}
		if err := s.DeleteQueueRecord(ctx, pass, v); err != nil {
			t.Fatal(err)
		}
		if recs, err := s.ListQueueRecords(ctx, store.QueuePasses("cron")); err != nil || len(recs) != 0 {
			t.Fatalf("passes after the delete: %v %v", recs, err)
		}
	})
}
