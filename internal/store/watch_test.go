package store_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/store/consulkv"
	"github.com/aegirhq/aegir/internal/testharness"
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

// TestWatchPlacementUnderChurn: hundreds of placement changes while a
// watcher loops (the routing reconciler's pattern) never make Consul
// refuse the watcher. WatchPlacement once raced three blocking queries per
// call and cancelled the losers, which Consul keeps open until their wait
// ends: a few hundred changes filled the agent's per-address connection
// limit (200) and every request was answered 429. Its own agent, so that
// other tests' connections do not count.
func TestWatchPlacementUnderChurn(t *testing.T) {
	t.Parallel()
	agent := testharness.Consul(t)
	kv, err := consulkv.New(consulkv.Config{Address: agent.Addr, Prefix: testharness.UniquePrefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	s := store.New(kv, &store.Config{PlatformRoots: []string{"/srv"}})
	t.Cleanup(func() { s.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	f := setup(t, s)

	var watchErr atomic.Value
	wakes := atomic.Int64{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var tok store.PlacementToken
		for ctx.Err() == nil {
			next, err := s.WatchPlacement(ctx, tok)
			if err != nil {
				if ctx.Err() == nil {
					watchErr.Store(err)
				}
				return
			}
			if next != tok {
				wakes.Add(1)
			}
			tok = next
		}
	}()
	const changes = 300
	for i := range changes {
		p, err := s.GetPlatform(ctx, f.platform.ID)
		if err != nil {
			t.Fatalf("change %d: %v", i, err)
		}
		p.Release = fmt.Sprintf("static %d", i)
		if err := s.PutPlatform(ctx, p); err != nil {
			t.Fatalf("change %d: %v", i, err)
		}
	}
	cancel()
	<-done
	if err, _ := watchErr.Load().(error); err != nil {
		t.Fatalf("the watcher failed during %d changes: %v", changes, err)
	}
	if wakes.Load() < 2 {
		t.Errorf("the watcher woke %d times for %d changes", wakes.Load(), changes)
	}
	t.Logf("%d changes, the watcher woke %d times", changes, wakes.Load())
}
