package store

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// mirrorBase is the untyped part of a mirror: the index it has caught up to
// and the index this process last wrote, with a condition to wait on.
type mirrorBase struct {
	mu      sync.Mutex
	cond    *sync.Cond
	index   uint64 // index of the last snapshot applied
	want    uint64 // index of this process's last write to the collection
	ready   bool   // a first snapshot has been applied
	healthy bool   // the last watch call succeeded
}

func (m *mirrorBase) wrote(idx uint64) {
	m.mu.Lock()
	if idx > m.want {
		m.want = idx
	}
	m.mu.Unlock()
}

// mirror keeps every entity of one collection decoded in memory, fed by
// KV.Watch. Snapshot application decodes only the values whose ModifyIndex
// changed, so a change to one site among 10,000 costs one decode.
type mirror[T any] struct {
	mirrorBase
	kv     KV
	prefix string
	decode func(p *Pair) (*T, error)
	log    *slog.Logger
	items  map[string]mirrored[T]
	gen    uint64 // bumped on every applied change, for caches keyed by it
}

type mirrored[T any] struct {
	index uint64
	v     *T
}

func newMirror[T any](kv KV, prefix string, decode func(*Pair) (*T, error), log *slog.Logger) *mirror[T] {
	m := &mirror[T]{kv: kv, prefix: prefix, decode: decode, log: log, items: map[string]mirrored[T]{}}
	m.cond = sync.NewCond(&m.mu)
	return m
}

// run follows the collection until ctx ends, backing off on errors.
func (m *mirror[T]) run(ctx context.Context) {
	var index uint64
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		pairs, idx, err := m.kv.Watch(ctx, m.prefix, index)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			m.mu.Lock()
			m.healthy = false
			m.mu.Unlock()
			m.log.Warn("mirror watch failed; retrying", "prefix", m.prefix, "err", err, "backoff", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		if idx < index {
			index = 0 // the store was reset: take a fresh snapshot
			continue
		}
		m.apply(pairs, idx)
		index = idx
	}
}

func (m *mirror[T]) apply(pairs []*Pair, idx uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.healthy = true
	if m.ready && idx <= m.index {
		return
	}
	next := make(map[string]mirrored[T], len(pairs))
	changed := len(pairs) != len(m.items)
	for _, p := range pairs {
		if strings.Contains(p.Key[len(m.prefix):], "/") {
			continue
		}
		if old, ok := m.items[p.Key]; ok && old.index == p.ModifyIndex {
			next[p.Key] = old
			continue
		}
		v, err := m.decode(p)
		if err != nil {
			m.log.Error("mirror: undecodable value skipped", "key", p.Key, "err", err)
			continue
		}
		next[p.Key] = mirrored[T]{index: p.ModifyIndex, v: v}
		changed = true
	}
	m.items = next
	m.index = idx
	m.ready = true
	if changed {
		m.gen++
	}
	m.cond.Broadcast()
}

// snapshot returns the mirrored values and a generation number, after
// waiting (up to wait) until the mirror reflects this process's own writes.
// ok is false when it could not catch up; the caller then reads the store.
func (m *mirror[T]) snapshot(wait time.Duration) (items []*T, gen uint64, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.catchUp(wait) {
		return nil, 0, false
	}
	out := make([]*T, 0, len(m.items))
	for _, it := range m.items {
		out = append(out, it.v)
	}
	return out, m.gen, true
}

// generation returns the generation snapshot would return, after the same
// wait, without copying the items: callers with a cache keyed by generation
// skip the copy when nothing changed.
func (m *mirror[T]) generation(wait time.Duration) (gen uint64, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.catchUp(wait) {
		return 0, false
	}
	return m.gen, true
}

// catchUp waits (m.mu held) until the mirror reflects this process's own
// last write, up to wait; false when it cannot.
func (m *mirrorBase) catchUp(wait time.Duration) bool {
	deadline := time.Now().Add(wait)
	for !m.ready || m.index < m.want {
		if time.Now().After(deadline) || (m.ready && !m.healthy) {
			return false
		}
		t := time.AfterFunc(50*time.Millisecond, m.cond.Broadcast)
		m.cond.Wait()
		t.Stop()
	}
	return true
}

func decodeInto[T any](setVersion func(*T, uint64)) func(*Pair) (*T, error) {
	return func(p *Pair) (*T, error) {
		var v T
		if err := json.Unmarshal(p.Value, &v); err != nil {
			return nil, err
		}
		setVersion(&v, p.ModifyIndex)
		return &v, nil
	}
}
