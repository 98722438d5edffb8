package store

import (
	"context"
	"sync"
	"time"

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
// changed since token (the zero token returns once the first indexes are
// known), and returns the new token. Like every watch it may return without
// a change; the caller re-reads what it needs (ListServers, ListServices,
// ListPlatforms).
//
// The three collections are watched by one long-lived blocking query each,
// shared by every caller and never cancelled before Close (placementWatch):
// an earlier version raced three queries per call and cancelled the two
// that lost, and Consul keeps a cancelled blocking query open until its
// wait time ends, so a busy cluster filled the agent's per-address
// connection limit and was answered 429.
func (s *Store) WatchPlacement(ctx context.Context, token PlacementToken) (PlacementToken, error) {
	w := s.placementWatch()
	for {
		w.mu.Lock()
		cur, err, known, changed := w.idx, w.err, w.known(), w.changed
		w.mu.Unlock()
		if known && cur != token {
			return cur, nil
		}
		if err != nil && known {
			// The watches are failing; say so, as the per-call queries
			// did, so the caller backs off and logs it.
			return token, err
		}
		select {
		case <-ctx.Done():
			return token, ctx.Err()
		case <-changed:
		}
	}
}

// placementWatcher holds the indexes of the placement collections as the
// shared watches last saw them.
type placementWatcher struct {
	mu      sync.Mutex
	idx     PlacementToken
	err     error         // the last watch error, nil once one answers again
	changed chan struct{} // closed (and replaced) on every change of idx or err
}

func (w *placementWatcher) known() bool { return w.idx[0] != 0 && w.idx[1] != 0 && w.idx[2] != 0 }

// set records collection i's index or error and wakes the waiters.
func (w *placementWatcher) set(i int, idx uint64, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil && w.idx[i] == idx && w.err == nil {
		return
	}
	if err == nil {
		w.idx[i] = idx
	}
	w.err = err
	close(w.changed)
	w.changed = make(chan struct{})
}

// placementWatch returns the store's placement watcher, starting its three
// watches on first use; they run until Close.
func (s *Store) placementWatch() *placementWatcher {
	s.placementOnce.Do(func() {
		w := &placementWatcher{changed: make(chan struct{})}
		s.placement = w
		for i, p := range placementPrefixes {
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				var last uint64
				backoff := 100 * time.Millisecond
				for s.ctx.Err() == nil {
					_, idx, err := s.raw.Watch(s.ctx, p, last)
					if s.ctx.Err() != nil {
						return
					}
					if err != nil {
						w.set(i, 0, err)
						select {
						case <-s.ctx.Done():
							return
						case <-time.After(backoff):
						}
						backoff = min(backoff*2, 5*time.Second)
						continue
					}
					backoff = 100 * time.Millisecond
					last = max(idx, 1)
					w.set(i, last, nil)
				}
			}()
		}
	})
	return s.placement
}
