package store_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/store/consulkv"
	"github.com/aegirhq/aegir/internal/testharness"
)

// TestPing: Ping answers nil on an empty store and after writes, on both
// backends; a Consul that does not listen makes it fail in time, naming
// what it tried.
func TestPing(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, s *store.Store) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("Ping of an empty store: %v", err)
		}
		if err := s.CreateClient(ctx, &domain.Client{Name: "acme"}); err != nil {
			t.Fatal(err)
		}
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("Ping after a write: %v", err)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		t.Parallel()
		kv, err := consulkv.New(consulkv.Config{Address: fmt.Sprintf("127.0.0.1:%d", testharness.FreePort(t)), Prefix: "aegir/v1/"})
		if err != nil {
			t.Fatal(err)
		}
		s := store.New(kv, &store.Config{Logger: slog.New(slog.DiscardHandler)})
		t.Cleanup(func() { s.Close() })
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := s.Ping(ctx); err == nil {
			t.Fatal("Ping of a Consul that does not listen answered nil")
		} else {
			t.Log(err)
		}
	})
}
