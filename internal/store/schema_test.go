package store_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/aegirhq/aegir/internal/store"
)

func TestEnsureSchema(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		// Two servers starting at once on a store without a schema: one
		// records it, both read SchemaVersion.
		var wg sync.WaitGroup
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sc, err := s.EnsureSchema(ctx, "1.2.3")
				if err != nil || sc.Version != store.SchemaVersion {
					t.Errorf("EnsureSchema = %+v, %v", sc, err)
				}
			}()
		}
		wg.Wait()
		p, err := s.KV().Get(ctx, "meta/schema")
		if err != nil || !strings.Contains(string(p.Value), `"written_by":"1.2.3"`) {
			t.Fatalf("meta/schema = %+v, %v", p, err)
		}
		// Checking again writes nothing.
		if _, err := s.EnsureSchema(ctx, "1.2.4"); err != nil {
			t.Fatal(err)
		}
		if again, _ := s.KV().Get(ctx, "meta/schema"); again.ModifyIndex != p.ModifyIndex {
			t.Error("a second check rewrote meta/schema")
		}

		// A store of a newer schema is refused, saying who wrote it.
		if _, err := s.KV().Txn(ctx, []store.Op{{Verb: store.OpSet, Key: "meta/schema", Value: []byte(`{"version":99,"written_by":"9.0.0"}`)}}); err != nil {
			t.Fatal(err)
		}
		_, err = s.EnsureSchema(ctx, "1.2.3")
		if !errors.Is(err, store.ErrSchemaTooNew) || !strings.Contains(err.Error(), "schema 99 (written by aegir 9.0.0)") || !strings.Contains(err.Error(), "this aegir (1.2.3)") {
			t.Fatalf("newer schema: %v", err)
		}

		// And so is an export of it.
		var exp bytes.Buffer
		if _, err := store.Export(ctx, s.KV(), &exp, store.ExportOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := store.Import(ctx, emptyBolt(t), &exp, store.ImportOptions{}); !errors.Is(err, store.ErrSchemaTooNew) || !errors.Is(err, store.ErrBadExport) {
			t.Fatalf("import of a newer schema: %v", err)
		}
	})
}
