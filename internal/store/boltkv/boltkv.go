package boltkv

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/aegirhq/aegir/internal/store"
)

var _ store.KV = (*KV)(nil)

// Config tunes a bbolt store. The zero value is ready to use.
type Config struct {
	// LockTimeout is how long Open waits for the file lock another process
	// may hold. Default 5s.
	LockTimeout time.Duration
	// WaitTime bounds how long Watch blocks when nothing changes.
	// Default 60s.
	WaitTime time.Duration
	// FileMode is the mode of a newly created file. Default 0600.
	FileMode os.FileMode
	// NoSync skips fsync on commit: faster, but a machine crash can lose or
	// corrupt recent writes. Default false; only for throwaway stores.
	NoSync bool
	// ChangeLog is how many recent commits Watch remembers to tell which
	// prefixes changed; a watcher further behind gets an answer at once.
	// Default 4096.
	ChangeLog int
}

func (c *Config) withDefaults() Config {
	var out Config
	if c != nil {
		out = *c
	}
	out.LockTimeout = cmp.Or(out.LockTimeout, 5*time.Second)
	out.WaitTime = cmp.Or(out.WaitTime, 60*time.Second)
	out.FileMode = cmp.Or(out.FileMode, 0o600)
	out.ChangeLog = cmp.Or(out.ChangeLog, 4096)
	return out
}

var (
	dataBucket = []byte("kv")
	metaBucket = []byte("meta")
	indexKey   = []byte("index")
)

// headerLen is the ModifyIndex stored in front of every value.
const headerLen = 8

// ErrClosed is returned by calls made after Close.
var ErrClosed = errors.New("boltkv: store is closed")

// KV is the bbolt backend of store.KV. It is safe for concurrent use.
type KV struct {
	db   *bolt.DB
	cfg  Config
	path string

	// writeMu serialises Txn so that commits and their change-log entries
	// are recorded in index order.
	writeMu sync.Mutex

	// mu guards the watch state below.
	mu      sync.Mutex
	changes []change      // recent commits, oldest first
	floor   uint64        // changes after floor are all in changes
	notify  chan struct{} // closed and replaced on every commit
	closed  chan struct{}
}

// change records which keys one commit wrote or deleted.
type change struct {
	index uint64
	keys  []string
}

// Open opens (creating if needed) the bbolt file at path. cfg may be nil.
func Open(path string, cfg *Config) (*KV, error) {
	c := cfg.withDefaults()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("boltkv: create directory for %s: %w", path, err)
	}
	db, err := bolt.Open(path, c.FileMode, &bolt.Options{
		Timeout:        c.LockTimeout,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
		NoSync:         c.NoSync,
	})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("boltkv: %s is locked by another process (is another aegir running on this data dir?): %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("boltkv: open %s: %w", path, err)
	}
	var index uint64
	err = db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(dataBucket); err != nil {
			return err
		}
		meta, err := tx.CreateBucketIfNotExists(metaBucket)
		if err != nil {
			return err
		}
		index = readIndex(meta)
		if index == 0 {
			// Start at 1 so that no answer ever carries index 0, which
			// means "return at once" to Watch.
			index = 1
			return writeIndex(meta, index)
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("boltkv: initialise %s: %w", path, err)
	}
	return &KV{
		db:     db,
		cfg:    c,
		path:   path,
		floor:  index,
		notify: make(chan struct{}),
		closed: make(chan struct{}),
	}, nil
}

// Path is the file the store lives in.
func (k *KV) Path() string { return k.path }

// Close wakes every Watch (they return ErrClosed) and closes the file.
func (k *KV) Close() error {
	k.mu.Lock()
	select {
	case <-k.closed:
		k.mu.Unlock()
		return nil
	default:
	}
	close(k.closed)
	k.mu.Unlock()
	// Wait for an in-flight Txn so its change is recorded before closing.
	k.writeMu.Lock()
	defer k.writeMu.Unlock()
	return k.db.Close()
}

// Get returns the pair at key or an error wrapping store.ErrKeyNotFound.
func (k *KV) Get(ctx context.Context, key string) (*store.Pair, error) {
	if err := k.usable(ctx); err != nil {
		return nil, err
	}
	if key == "" {
		return nil, errors.New("boltkv: get with an empty key")
	}
	var p *store.Pair
	err := k.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(dataBucket).Get([]byte(key))
		if v == nil {
			return nil
		}
		p = decodePair([]byte(key), v)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltkv: get %q: %w", key, err)
	}
	if p == nil {
		return nil, fmt.Errorf("get %q: %w", key, store.ErrKeyNotFound)
	}
	return p, nil
}

// List returns the pairs under prefix, sorted by key, with the global index.
func (k *KV) List(ctx context.Context, prefix string) ([]*store.Pair, uint64, error) {
	if err := k.usable(ctx); err != nil {
		return nil, 0, err
	}
	return k.list(prefix)
}

func (k *KV) list(prefix string) ([]*store.Pair, uint64, error) {
	var (
		pairs []*store.Pair
		index uint64
	)
	err := k.db.View(func(tx *bolt.Tx) error {
		index = readIndex(tx.Bucket(metaBucket))
		c := tx.Bucket(dataBucket).Cursor()
		p := []byte(prefix)
		var a arena
		for key, v := c.Seek(p); key != nil && bytes.HasPrefix(key, p); key, v = c.Next() {
			pairs = append(pairs, a.pair(key, v))
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("boltkv: list %q: %w", prefix, err)
	}
	return pairs, index, nil
}

// usable refuses calls on a closed store or with an ended context.
func (k *KV) usable(ctx context.Context) error {
	select {
	case <-k.closed:
		return ErrClosed
	default:
	}
	return ctx.Err()
}

// decodePair copies key and value out of bbolt's memory, which is only
// valid inside the transaction.
func decodePair(key, v []byte) *store.Pair {
	return &store.Pair{
		Key:         string(key),
		Value:       bytes.Clone(v[headerLen:]),
		ModifyIndex: binary.BigEndian.Uint64(v[:headerLen]),
	}
}

// arena hands out Pairs and value bytes from shared chunks, so a List of
// thousands of keys makes a few dozen allocations for them instead of two
// per key. Each value is capped to its length, so appending to one never
// writes into its neighbour.
type arena struct {
	pairs []store.Pair
	bytes []byte
}

const (
	arenaPairs = 256
	arenaBytes = 64 * 1024
)

func (a *arena) pair(key, v []byte) *store.Pair {
	if len(a.pairs) == cap(a.pairs) {
		a.pairs = make([]store.Pair, 0, arenaPairs)
	}
	val := v[headerLen:]
	var copied []byte
	if len(val) > arenaBytes/4 {
		copied = bytes.Clone(val)
	} else {
		if cap(a.bytes)-len(a.bytes) < len(val) {
			a.bytes = make([]byte, 0, arenaBytes)
		}
		n := len(a.bytes)
		a.bytes = append(a.bytes, val...)
		copied = a.bytes[n : n+len(val) : n+len(val)]
	}
	a.pairs = append(a.pairs, store.Pair{
		Key:         string(key),
		Value:       copied,
		ModifyIndex: binary.BigEndian.Uint64(v[:headerLen]),
	})
	return &a.pairs[len(a.pairs)-1]
}

func encodeValue(index uint64, value []byte) []byte {
	out := make([]byte, headerLen+len(value))
	binary.BigEndian.PutUint64(out, index)
	copy(out[headerLen:], value)
	return out
}

func readIndex(meta *bolt.Bucket) uint64 {
	v := meta.Get(indexKey)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func writeIndex(meta *bolt.Bucket, index uint64) error {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], index)
	return meta.Put(indexKey, b[:])
}
