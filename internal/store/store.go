package store

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
)

// Config configures a Store.
type Config struct {
	// Logger receives the store's logs. Default: slog.Default().
	Logger *slog.Logger
	// PlatformRoots are the directories platforms may live in. Default: none
	// (any clean absolute path).
	PlatformRoots []string
	// CatchUpWait is how long a list waits for the mirror to reflect this
	// process's own last write before reading the store directly. Default: 3s.
	CatchUpWait time.Duration
	// Now returns the current time. Default: time.Now.
	Now func() time.Time
	// ReadRetry is how long a read the backend answers ErrUnavailable is
	// retried, with backoff, before the error is returned (a Consul
	// restart or leader election takes a few seconds). Writes are not
	// retried here: one that failed may have been applied, and its caller
	// knows how to check. Default: 5s.
	ReadRetry time.Duration
}

func (c *Config) withDefaults() *Config {
	out := *c
	out.Logger = cmp.Or(out.Logger, slog.Default())
	out.CatchUpWait = cmp.Or(out.CatchUpWait, 3*time.Second)
	out.ReadRetry = cmp.Or(out.ReadRetry, 5*time.Second)
	if out.Now == nil {
		out.Now = time.Now
	}
	return &out
}

// Store is the repository: typed, validated, check-and-set access to every
// entity. It is safe for concurrent use.
type Store struct {
	kv    KV // reads retried while the backend is unavailable (retryReads)
	raw   KV // the backend itself
	cfg   *Config
	log   *slog.Logger
	sites *mirror[domain.Site]
	tasks *taskMirror
	// siteSort caches the mirrored sites sorted by domain.
	siteSort sortedSites
	// auth caches recent authentications for a moment.
	auth authCache
	// quotaLocks are the per-client mutexes of guarded changes (quotas.go).
	quotaLocks sync.Map
	// placement is the shared watch of servers, services and platforms
	// (WatchPlacement), started on first use.
	placementOnce sync.Once
	placement     *placementWatcher
	// ctx ends at Close; the mirrors and watches run under it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a Store on kv and starts the mirrors that serve lists. Close
// stops them (and closes kv).
func New(kv KV, cfg *Config) *Store {
	if cfg == nil {
		cfg = &Config{}
	}
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	raw := kv
	kv = &retryReads{KV: kv, limit: cfg.ReadRetry}
	s := &Store{kv: kv, raw: raw, cfg: cfg, log: cfg.Logger.With("component", "store"), ctx: ctx, cancel: cancel}
	s.sites = newMirror(kv, prefixSites, decodeSite, s.log)
	s.tasks = newTaskMirror(s)
	for _, m := range []interface{ run(context.Context) }{s.sites, s.tasks} {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			m.run(ctx)
		}()
	}
	return s
}

// Close stops the mirrors and closes the KV backend.
func (s *Store) Close() error {
	s.cancel()
	s.wg.Wait()
	return s.kv.Close()
}

// KV returns the backend, for components that keep their own keys (locks
// fall back to it in tests, the log archive stores chunks).
func (s *Store) KV() KV { return s.kv }

// Ping reads one small key from the backend (not from the mirrors), so
// it fails when the backend does not answer: Consul down or without a
// leader, a token that may not read aegir's keys, a closed bbolt file.
// The health endpoint and the status view call it.
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.raw.Get(ctx, keyWrites) // no retry: it reports now
	if err != nil && !errors.Is(err, ErrKeyNotFound) {
		return err
	}
	return nil
}

// Key prefixes.
const (
	prefixClients   = "clients/"
	prefixServers   = "servers/"
	prefixServices  = "services/"
	prefixPlatforms = "platforms/"
	prefixSites     = "sites/"
	prefixTasks     = "tasks/"
	prefixQueue     = "queue/"
	prefixBackups   = "backups/"
	prefixUsers     = "users/"
	prefixTokens    = "tokens/"
	prefixPackages  = "packages/"
	prefixReleases  = "releases/"
	prefixInstances = "instances/"
	prefixUnique    = "unique/"
	keyWrites       = "meta/writes"
	prefixFences    = "fences/"
)

func uniqueKey(kind, name string) string { return prefixUnique + kind + "/" + name }

// tx collects the operations of one transaction and what they mean, so a
// failed check can be reported as the domain error it stands for.
type tx struct {
	ops     []Op
	meaning map[int]error // op index → error to return when that op's check fails
	touches map[*mirrorBase]bool
	// buckets are the task hour buckets whose marker this transaction
	// sets (taskkeys.go).
	buckets map[string]bool
	// stamps set an entity's Version from its op's new ModifyIndex after a
	// successful commit.
	stamps []stamp
	// tasks are the tasks the transaction queues and newSites the sites
	// it creates, by client: what a quota guard counts (quotas.go).
	tasks    []*domain.Task
	newSites map[string]int
}

type stamp struct {
	op  int
	set func(uint64)
}

// stampVersion arranges for set to receive the new ModifyIndex of the last
// op added, once the transaction commits.
func (t *tx) stampVersion(set func(uint64)) {
	t.stamps = append(t.stamps, stamp{op: len(t.ops) - 1, set: set})
}

func newTx() *tx { return &tx{meaning: map[int]error{}, touches: map[*mirrorBase]bool{}} }

func (t *tx) add(op Op, onFail error) {
	if onFail != nil {
		t.meaning[len(t.ops)] = onFail
	}
	t.ops = append(t.ops, op)
}

func (t *tx) create(key string, v any, onFail error) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	t.add(Op{Verb: OpCAS, Key: key, Value: b}, onFail)
	return nil
}

func (t *tx) update(key string, v any, version uint64, onFail error) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if version == 0 {
		return fmt.Errorf("update of %s without a version: %w", key, domain.ErrConflict)
	}
	t.add(Op{Verb: OpCAS, Key: key, Value: b, Index: version}, onFail)
	return nil
}

func (t *tx) deleteCAS(key string, version uint64, onFail error) {
	t.add(Op{Verb: OpDeleteCAS, Key: key, Index: version}, onFail)
}

// commit runs the transaction. It maps a failed check to the meaning
// registered for that op (ErrConflict by default) and records the write's
// index with every mirror the transaction touched. With a quota guard on
// ctx (WithQuota), the transaction is checked against it (quotas.go).
func (s *Store) commit(ctx context.Context, t *tx) ([]*Pair, error) {
	if g, _ := ctx.Value(quotaCtxKey{}).(*QuotaGuard); g != nil {
		return s.commitGuarded(ctx, t, g)
	}
	return s.commitTx(ctx, t)
}

// commitTx is commit without the quota guard.
func (s *Store) commitTx(ctx context.Context, t *tx) ([]*Pair, error) {
	// A fresh value every time: a write of the value a key already holds
	// keeps its index, and this key exists to learn the transaction's index.
	// The audit entry the context carries (audit.go) rides along.
	audit, audited, err := s.auditOps(ctx)
	if err != nil {
		return nil, err
	}
	ops := append(slices.Clip(t.ops), audit...)
	ops = append(ops, Op{Verb: OpSet, Key: keyWrites, Value: []byte(domain.NewID())})
	if len(ops) > MaxTxnOps {
		return nil, fmt.Errorf("change needs %d store operations, more than the %d allowed: %w", len(ops), MaxTxnOps, domain.ErrTooLarge)
	}
	pairs, err := s.kv.Txn(ctx, ops)
	if err != nil {
		var te *TxnError
		if errors.As(err, &te) {
			if m, ok := t.meaning[te.OpIndex]; ok {
				return nil, m
			}
			return nil, fmt.Errorf("%s: %w", te.Op.Key, domain.ErrConflict)
		}
		if errors.Is(err, ErrCASFailed) {
			return nil, domain.ErrConflict
		}
		return nil, err
	}
	audited()
	for _, st := range t.stamps {
		st.set(versionOf(pairs, st.op))
	}
	if n := len(pairs); n > 0 && pairs[n-1] != nil {
		idx := pairs[n-1].ModifyIndex
		for m := range t.touches {
			m.wrote(idx)
		}
	}
	return pairs[:len(t.ops)], nil
}

// versionOf returns the ModifyIndex of the op at i in a commit result.
func versionOf(pairs []*Pair, i int) uint64 {
	if i < len(pairs) && pairs[i] != nil {
		return pairs[i].ModifyIndex
	}
	return 0
}

// get reads and decodes one entity.
func get[T any](ctx context.Context, kv KV, key, kind, id string, setVersion func(*T, uint64)) (*T, error) {
	if !domain.ValidID(id) {
		return nil, domain.NotFound(kind, id)
	}
	p, err := kv.Get(ctx, key)
	if errors.Is(err, ErrKeyNotFound) {
		return nil, domain.NotFound(kind, id)
	}
	if err != nil {
		return nil, err
	}
	var v T
	if err := json.Unmarshal(p.Value, &v); err != nil {
		return nil, fmt.Errorf("decode %s: %w", key, err)
	}
	setVersion(&v, p.ModifyIndex)
	return &v, nil
}

// list reads and decodes every entity under prefix.
func list[T any](ctx context.Context, kv KV, prefix string, setVersion func(*T, uint64)) ([]T, error) {
	pairs, _, err := kv.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(pairs))
	for _, p := range pairs {
		if strings.Contains(p.Key[len(prefix):], "/") {
			continue
		}
		var v T
		if err := json.Unmarshal(p.Value, &v); err != nil {
			return nil, fmt.Errorf("decode %s: %w", p.Key, err)
		}
		setVersion(&v, p.ModifyIndex)
		out = append(out, v)
	}
	return out, nil
}

// lookupUnique returns the id that owns a unique name, or "".
func (s *Store) lookupUnique(ctx context.Context, kind, name string) (string, error) {
	p, err := s.kv.Get(ctx, uniqueKey(kind, name))
	if errors.Is(err, ErrKeyNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return string(p.Value), nil
}

// errRefChanged marks the failure of a check that an entity a change
// refers to (the platform of a new site, the server of a new platform) is
// unchanged since it was read. withRefRetry re-reads and tries again: the
// referenced entity usually changed for an unrelated reason (a status
// update), and a real obstacle (a lock, a deletion) is found on re-reading.
var errRefChanged = errors.New("a referenced entity changed")

// withRefRetry runs fn again while it fails with errRefChanged, a few times.
func withRefRetry(fn func() error) error {
	var err error
	for range 5 {
		if err = fn(); !errors.Is(err, errRefChanged) {
			return err
		}
	}
	return fmt.Errorf("%w: %w", err, domain.ErrConflict)
}

func (s *Store) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Millisecond) }

// claim creates the unique key for kind/name owned by id; it fails the
// transaction with a *domain.DuplicateError when the name is taken.
func (t *tx) claim(kind, name, id string) {
	t.add(Op{Verb: OpCAS, Key: uniqueKey(kind, name), Value: []byte(id)},
		&domain.DuplicateError{Kind: kind, Value: name})
}

// release deletes the unique key for kind/name.
func (t *tx) release(kind, name string) {
	t.add(Op{Verb: OpDelete, Key: uniqueKey(kind, name)}, nil)
}
