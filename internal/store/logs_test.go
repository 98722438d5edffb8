package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/aegirhq/aegir/internal/store"
)

// TestLogArchive: a task's archived log is written chunks first and index
// last, in as many transactions as it takes, never over an existing
// record; read back by chunk number; and deleted whole. Another task's
// records (t1 and t10 share a prefix) are left alone.
func TestLogArchive(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if ok, err := s.HasLogIndex(ctx, "t1"); ok || err != nil {
			t.Fatalf("index of a task never archived: %v %v", ok, err)
		}
		chunks := make([][]byte, store.MaxTxnOps+3)
		for i := range chunks {
			chunks[i] = []byte(fmt.Sprint("chunk", i))
		}
		if err := s.PutLogArchive(ctx, "t1", chunks, []byte(`{"chunks":67}`)); err != nil {
			t.Fatal(err)
		}
		if err := s.PutLogArchive(ctx, "t10", chunks[:1], []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.HasLogIndex(ctx, "t1"); !ok || err != nil {
			t.Fatalf("index after the write: %v %v", ok, err)
		}
		if err := s.PutLogArchive(ctx, "t1", chunks[:1], []byte(`{}`)); !errors.Is(err, store.ErrCASFailed) {
			t.Fatalf("a second archive over the first: %v", err)
		}
		got, err := s.GetLogArchive(ctx, "t1")
		if err != nil {
			t.Fatal(err)
		}
		if string(got.Index) != `{"chunks":67}` || len(got.Chunks) != len(chunks) || string(got.Chunks[66]) != "chunk66" {
			t.Fatalf("read back index %s and %d chunks", got.Index, len(got.Chunks))
		}
		if err := s.DeleteLogArchive(ctx, "t1"); err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetLogArchive(ctx, "t1"); err != nil || got.Index != nil || len(got.Chunks) != 0 {
			t.Fatalf("after delete: %+v %v", got, err)
		}
		if ok, err := s.HasLogIndex(ctx, "t10"); !ok || err != nil {
			t.Fatalf("the other task's archive: %v %v", ok, err)
		}
	})
}
