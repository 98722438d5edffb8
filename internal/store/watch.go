package store

import (
	"context"
	"sync"

	"github.com/aegirhq/aegir/internal/domain"
)

// WatchSites blocks until the set of sites may differ from the one an
// earlier call returned with token since, then returns every site and a new
// token. since 0 returns as soon as the site mirror has its first snapshot.
// It reads the in-memory mirror (fed by one KV watch), so any number of
// watchers cost no store reads. It returns ctx's error when ctx ends.
//
// Sites are returned by value, in no particular order. A mirror that lost
// its store keeps answering from its last snapshot and catches up when the
// store is back.
func (s *Store) WatchSites(ctx context.Context, since uint64) ([]domain.Site, uint64, error) {
	m := s.sites
	stop := context.AfterFunc(ctx, func() {
		m.mu.Lock()
		m.cond.Broadcast()
		m.mu.Unlock()
	})
	defer stop()
	m.mu.Lock()
	defer m.mu.Unlock()
	// The token is gen+1 so that 0 never names a snapshot.
	for !m.ready || m.gen+1 == since {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		m.cond.Wait()
	}
	out := make([]domain.Site, 0, len(m.items))
	for _, it := range m.items {
		out = append(out, *it.v)
	}
	return out, m.gen + 1, nil
}

// PlacementToken is what WatchPlacement returns and takes back: the store
// indexes of servers, services and platforms last seen.
type PlacementToken [3]uint64

// placementPrefixes are the collections that decide where a site is served.
var placementPrefixes = [3]string{prefixServers, prefixServices, prefixPlatforms}

// WatchPlacement blocks until a server, service or platform may have
// changed since token (the zero token returns at once), and returns the
// new token. Like every watch it may return without a change; the caller
// re-reads what it needs (ListServers, ListServices, ListPlatforms).
func (s *Store) WatchPlacement(ctx context.Context, token PlacementToken) (PlacementToken, error) {
	if token[0] == 0 || token[1] == 0 || token[2] == 0 {
		// First call: index 0 answers at once.
		for i, p := range placementPrefixes {
			_, idx, err := s.kv.Watch(ctx, p, token[i])
			if err != nil {
				return token, err
			}
			token[i] = max(idx, 1)
		}
		return token, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type res struct {
		i   int
		idx uint64
		err error
	}
	ch := make(chan res, len(placementPrefixes))
	var wg sync.WaitGroup
	for i, p := range placementPrefixes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, idx, err := s.kv.Watch(ctx, p, token[i])
			ch <- res{i, idx, err}
		}()
	}
	first := <-ch
	cancel()
	wg.Wait()
	close(ch)
	if first.err != nil {
		return token, first.err
	}
	out := token
	out[first.i] = first.idx
	// The others may have answered too before they saw the cancel.
	for r := range ch {
		if r.err == nil {
			out[r.i] = r.idx
		}
	}
	return out, nil
}
