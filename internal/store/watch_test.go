package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/store"
)

func TestWatchSites(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		sites, tok, err := s.WatchSites(ctx, 0)
		if err != nil || len(sites) != 0 || tok == 0 {
			t.Fatalf("first WatchSites = %d sites, token %d, %v; want 0 sites, a token", len(sites), tok, err)
		}
		// Nothing changed: the watch blocks until ctx ends.
		short, cancelShort := context.WithTimeout(ctx, 150*time.Millisecond)
		if _, _, err := s.WatchSites(short, tok); err == nil {
			t.Fatal("WatchSites returned without a change")
		}
		cancelShort()
		f := setup(t, s)
		done := make(chan error, 1)
		go func() {
			sites, _, err := s.WatchSites(ctx, tok)
			if err == nil && (len(sites) != 1 || sites[0].Domain != "watch.example.com") {
				t.Errorf("WatchSites after create = %+v", sites)
			}
			done <- err
		}()
		if _, err := s.CreateSite(ctx, f.site("watch.example.com"), "test"); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

func TestWatchPlacement(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		var tok store.PlacementToken
		var err error
		// The zero token answers at once.
		if tok, err = s.WatchPlacement(ctx, tok); err != nil {
			t.Fatal(err)
		}
		done := make(chan store.PlacementToken, 1)
		go func() {
			next := tok
			for next == tok && ctx.Err() == nil {
				next, _ = s.WatchPlacement(ctx, next)
			}
			done <- next
		}()
		setup(t, s) // creates a server, its services and a platform
		select {
		case next := <-done:
			if next == tok {
				t.Fatal("token unchanged after a server was created")
			}
		case <-ctx.Done():
			t.Fatal("WatchPlacement did not wake on a new server")
		}
	})
}
