package boltkv

import (
	"context"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/aegirhq/aegir/internal/store"
)

// Watch blocks until a key under prefix is written or deleted after index,
// then returns the list under prefix and the global index. Index 0 returns at
// once. After Config.WaitTime with no change under prefix it returns the
// current list with index unchanged. An index this process cannot judge
// (older than the change log, from before Open, or ahead of the store)
// returns at once with the global index.
func (k *KV) Watch(ctx context.Context, prefix string, index uint64) ([]*store.Pair, uint64, error) {
	if err := k.usable(ctx); err != nil {
		return nil, 0, err
	}
	if index == 0 {
		return k.list(prefix)
	}
	global, err := k.globalIndex()
	if err != nil {
		return nil, 0, err
	}
	if index > global {
		// Ahead of the store: an index from another store or a replaced
		// file. Answer at once so the caller starts over from ours.
		return k.list(prefix)
	}
	timer := time.NewTimer(k.cfg.WaitTime)
	defer timer.Stop()
	for {
		k.mu.Lock()
		changed := k.changedLocked(prefix, index)
		wake := k.notify
		k.mu.Unlock()
		if changed {
			return k.answer(prefix, index)
		}
		select {
		case <-wake:
		case <-timer.C:
			return k.answer(prefix, index)
		case <-k.closed:
			return nil, 0, ErrClosed
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
	}
}

// answer reads the list and picks the index to return with it: the global
// index when something under prefix changed after index, else index itself
// (so a caller comparing indexes sees no change).
func (k *KV) answer(prefix string, index uint64) ([]*store.Pair, uint64, error) {
	pairs, global, err := k.list(prefix)
	if err != nil {
		return nil, 0, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	// A commit is recorded just after bbolt makes it visible; if the read
	// saw a commit not yet recorded, treat it as a change to be safe.
	if global > k.lastRecordedLocked() || k.changedLocked(prefix, index) {
		return pairs, global, nil
	}
	return pairs, index, nil
}

// changedLocked reports whether a commit after index touched prefix, or
// whether index is one the change log cannot judge. k.mu must be held.
func (k *KV) changedLocked(prefix string, index uint64) bool {
	if index < k.floor {
		return true
	}
	// changes is sorted by index; walk back from the newest.
	for i := len(k.changes) - 1; i >= 0 && k.changes[i].index > index; i-- {
		for _, key := range k.changes[i].keys {
			if strings.HasPrefix(key, prefix) {
				return true
			}
		}
	}
	return false
}

// lastRecordedLocked is the index of the newest commit in the change log.
func (k *KV) lastRecordedLocked() uint64 {
	if n := len(k.changes); n > 0 {
		return k.changes[n-1].index
	}
	return k.floor
}

// globalIndex reads the store's index.
func (k *KV) globalIndex() (uint64, error) {
	var index uint64
	err := k.db.View(func(tx *bolt.Tx) error {
		index = readIndex(tx.Bucket(metaBucket))
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("boltkv: read index: %w", err)
	}
	return index, nil
}

// recordChange appends a commit to the change log and wakes every Watch.
func (k *KV) recordChange(c change) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.changes = append(k.changes, c)
	if over := len(k.changes) - k.cfg.ChangeLog; over > 0 {
		k.floor = k.changes[over-1].index
		// Copy so the dropped entries' memory is released over time.
		k.changes = append(k.changes[:0:0], k.changes[over:]...)
	}
	close(k.notify)
	k.notify = make(chan struct{})
}
