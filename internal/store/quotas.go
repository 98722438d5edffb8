package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
)

// Quotas are checked in the transaction of the change they limit, so
// that requests racing each other cannot together go over a limit.
//
// Each client has a guard key:
//
//	quotaguards/<client id>   {"active": [the tasks its users queued that may still run]}
//
// A change made with a context carrying a QuotaGuard (WithQuota) reads the
// guard, counts what the client holds (the guard's tasks that have not
// finished, and, when the change adds to them, its sites, manual backups
// and disk), refuses with a *domain.QuotaError when the change would go
// over a limit, and otherwise commits with one more op: the guard
// rewritten check-and-set on the index it was read at, listing the new
// tasks too. Of two changes that counted the same guard only one commits;
// the other counts again (in this process they take turns on a mutex
// first, so they rarely race at all). Sites, backups and disk are only
// read when a change adds to them, and every change that does goes
// through the guard, so the counts a change sees include every earlier
// guarded change.
const prefixQuotaGuards = "quotaguards/"

// quotaRetries bounds how often a guarded change counts again after
// another process's change to the same client won the race.
const quotaRetries = 20

// errQuotaRaced marks the failure of the guard's check-and-set.
var errQuotaRaced = errors.New("another change to the client's quota usage came first")

// QuotaGuard is what a guarded change is held to.
type QuotaGuard struct {
	ClientID   string
	ClientName string // for the error message
	// Limits are the quotas that apply (0: no limit); every name of
	// domain.QuotaNames that is missing is no limit.
	Limits domain.Quotas
}

type quotaCtxKey struct{}

// WithQuota returns ctx carrying g: the next store write made with it that
// queues a task or creates a site of g's client is checked against g's
// limits in its own transaction, and refused with a *domain.QuotaError
// (nothing written) when it would go over one.
func WithQuota(ctx context.Context, g QuotaGuard) context.Context {
	return context.WithValue(ctx, quotaCtxKey{}, &g)
}

// guardedTask is one task in a client's guard.
type guardedTask struct {
	ID   string          `json:"id"`
	Type domain.TaskType `json:"type"`
	// Manual marks a manual backup (counted by QuotaBackups).
	Manual bool `json:"manual,omitempty"`
}

type quotaGuardRecord struct {
	Active []guardedTask `json:"active"`
}

// quotaAdd is what one change adds to a client's usage.
type quotaAdd struct {
	tasks   []guardedTask
	sites   int
	backups int
}

func (t *tx) quotaAdd(clientID string) quotaAdd {
	var add quotaAdd
	add.sites = t.newSites[clientID]
	for _, task := range t.tasks {
		if task.ClientID != clientID {
			continue
		}
		g := guardedTask{ID: task.ID, Type: task.Type}
		switch task.Type {
		case domain.TaskClone:
			add.sites++
		case domain.TaskBackup:
			if r := task.Args["reason"]; r == "" || r == "manual" {
				g.Manual = true
				add.backups++
			}
		}
		add.tasks = append(add.tasks, g)
	}
	return add
}

// quotaLock returns the mutex this process's guarded changes of clientID
// take turns on.
func (s *Store) quotaLock(clientID string) *sync.Mutex {
	m, _ := s.quotaLocks.LoadOrStore(clientID, &sync.Mutex{})
	return m.(*sync.Mutex)
}

// commitGuarded commits t with the quota check of g (see the top of this
// file).
func (s *Store) commitGuarded(ctx context.Context, t *tx, g *QuotaGuard) ([]*Pair, error) {
	add := t.quotaAdd(g.ClientID)
	if len(add.tasks) == 0 && add.sites == 0 {
		return s.commitTx(ctx, t)
	}
	mu := s.quotaLock(g.ClientID)
	mu.Lock()
	defer mu.Unlock()
	for try := 0; ; try++ {
		active, index, err := s.activeTasks(ctx, g.ClientID)
		if err != nil {
			return nil, err
		}
		if err := s.checkQuota(ctx, g, active, add); err != nil {
			return nil, err
		}
		b, err := json.Marshal(quotaGuardRecord{Active: append(active, add.tasks...)})
		if err != nil {
			return nil, err
		}
		guarded := *t
		guarded.ops = append(slices.Clip(t.ops), Op{Verb: OpCAS, Key: prefixQuotaGuards + g.ClientID, Value: b, Index: index})
		guarded.meaning = map[int]error{len(t.ops): errQuotaRaced}
		for i, m := range t.meaning {
			guarded.meaning[i] = m
		}
		pairs, err := s.commitTx(ctx, &guarded)
		if errors.Is(err, errQuotaRaced) && try < quotaRetries {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Duration(1+rand.IntN(20)) * time.Millisecond):
			}
			continue
		}
		if errors.Is(err, errQuotaRaced) {
			return nil, domain.ErrConflict
		}
		if err != nil {
			return nil, err
		}
		return pairs[:len(t.ops)], nil
	}
}

// activeTasks reads clientID's guard: the tasks in it that have not
// finished, and the index to write it back at (0: no guard yet).
func (s *Store) activeTasks(ctx context.Context, clientID string) ([]guardedTask, uint64, error) {
	p, err := s.kv.Get(ctx, prefixQuotaGuards+clientID)
	if errors.Is(err, ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	var rec quotaGuardRecord
	if err := json.Unmarshal(p.Value, &rec); err != nil {
		// A guard that cannot be read is started again: the quota is a
		// limit, not a ledger.
		s.log.Warn("quota guard unreadable; starting it again", "client_id", clientID, "err", err)
		return nil, p.ModifyIndex, nil
	}
	live := rec.Active[:0]
	for _, g := range rec.Active {
		tp, err := s.kv.Get(ctx, TaskKey(g.ID))
		if errors.Is(err, ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		var task struct {
			Status domain.TaskStatus `json:"status"`
		}
		if json.Unmarshal(tp.Value, &task) == nil && task.Status.Done() {
			continue
		}
		live = append(live, g)
	}
	return live, p.ModifyIndex, nil
}

// checkQuota refuses add when it takes g's client over a limit. Only the
// quotas add adds to are checked: a client an admin took over one quota
// (admins are not held to them) is refused only what adds to that one.
func (s *Store) checkQuota(ctx context.Context, g *QuotaGuard, active []guardedTask, add quotaAdd) error {
	over := func(name string, used, adds int64) error {
		if lim := g.Limits[name]; lim > 0 && adds > 0 && used+adds > lim {
			return &domain.QuotaError{Quota: name, Client: g.ClientName, Limit: lim, Used: used}
		}
		return nil
	}
	if err := over(domain.QuotaTasks, int64(len(active)), int64(len(add.tasks))); err != nil {
		return err
	}
	need := map[string]bool{
		domain.QuotaSites:   add.sites > 0 && g.Limits[domain.QuotaSites] > 0,
		domain.QuotaBackups: add.backups > 0 && g.Limits[domain.QuotaBackups] > 0,
		domain.QuotaDisk:    (add.sites > 0 || add.backups > 0) && g.Limits[domain.QuotaDisk] > 0,
	}
	if !need[domain.QuotaSites] && !need[domain.QuotaBackups] && !need[domain.QuotaDisk] {
		return nil
	}
	used, err := s.quotaUsage(ctx, g.ClientID, active, need)
	if err != nil {
		return err
	}
	if err := over(domain.QuotaSites, used[domain.QuotaSites], int64(add.sites)); err != nil {
		return err
	}
	if err := over(domain.QuotaBackups, used[domain.QuotaBackups], int64(add.backups)); err != nil {
		return err
	}
	if !need[domain.QuotaDisk] {
		return nil
	}
	// A change's size is not known before it runs: at or over the limit,
	// nothing more.
	return over(domain.QuotaDisk, used[domain.QuotaDisk], 1)
}

// quotaUsage counts what clientID holds of the quotas need names, with
// active its guard's unfinished tasks.
func (s *Store) quotaUsage(ctx context.Context, clientID string, active []guardedTask, need map[string]bool) (domain.Quotas, error) {
	used := domain.Quotas{domain.QuotaTasks: int64(len(active))}
	for _, g := range active {
		switch {
		case g.Type == domain.TaskClone:
			used[domain.QuotaSites]++
		case g.Manual:
			used[domain.QuotaBackups]++
		}
	}
	live := map[string]bool{}
	if need[domain.QuotaSites] || need[domain.QuotaDisk] {
		sites, err := list(ctx, s.kv, prefixSites, setSiteVersion)
		if err != nil {
			return nil, err
		}
		for _, st := range sites {
			if st.ClientID == clientID && st.Status != domain.SiteDeleted {
				live[st.ID] = true
			}
		}
		used[domain.QuotaSites] += int64(len(live))
	}
	if need[domain.QuotaBackups] || need[domain.QuotaDisk] {
		backups, err := list(ctx, s.kv, prefixBackups, setBackupVersion)
		if err != nil {
			return nil, err
		}
		for _, b := range backups {
			if b.ClientID != clientID {
				continue
			}
			used[domain.QuotaDisk] += b.Size
			if b.Reason == "" || b.Reason == "manual" {
				used[domain.QuotaBackups]++
			}
		}
	}
	if need[domain.QuotaDisk] {
		latest, err := s.ListQueueRecords(ctx, StatsLatest())
		if err != nil {
			return nil, err
		}
		for _, rec := range latest {
			if !live[rec.ID] {
				continue
			}
			var pt struct {
				Figures map[string]float64 `json:"figures"`
			}
			if json.Unmarshal(rec.Value, &pt) == nil {
				used[domain.QuotaDisk] += int64(pt.Figures["disk_bytes"] + pt.Figures["db_bytes"])
			}
		}
	}
	return used, nil
}

// QuotaUsage counts what client clientID holds of every quota: the tasks
// its users queued that have not finished, its sites (and those being
// cloned), its manual backups (and those being made), and its disk (its
// sites' latest measured files and databases, and its backups).
func (s *Store) QuotaUsage(ctx context.Context, clientID string) (domain.Quotas, error) {
	active, _, err := s.activeTasks(ctx, clientID)
	if err != nil {
		return nil, err
	}
	all := map[string]bool{}
	for _, n := range domain.QuotaNames {
		all[n] = true
	}
	return s.quotaUsage(ctx, clientID, active, all)
}

// keyQuotaDefaults holds the quota defaults an admin set (domain.Quotas):
// they override the configuration's, on every server at once.
const keyQuotaDefaults = "settings/quotas"

// QuotaDefaults returns the quota defaults an admin set (nil when none)
// and the version to write them back at (0: never set).
func (s *Store) QuotaDefaults(ctx context.Context) (domain.Quotas, uint64, error) {
	p, err := s.kv.Get(ctx, keyQuotaDefaults)
	if errors.Is(err, ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	var q domain.Quotas
	if err := json.Unmarshal(p.Value, &q); err != nil {
		return nil, 0, fmt.Errorf("decode %s: %w", keyQuotaDefaults, err)
	}
	return q, p.ModifyIndex, nil
}

// SetQuotaDefaults stores q as the quota defaults if nobody changed them
// since version was read (0: never set), and returns the new version.
func (s *Store) SetQuotaDefaults(ctx context.Context, q domain.Quotas, version uint64) (uint64, error) {
	if err := q.Validate("quotas"); err != nil {
		return 0, err
	}
	if q == nil {
		q = domain.Quotas{}
	}
	t := newTx()
	if err := t.create(keyQuotaDefaults, q, nil); err != nil {
		return 0, err
	}
	t.ops[0].Index = version
	pairs, err := s.commit(ctx, t)
	if err != nil {
		return 0, err
	}
	return versionOf(pairs, 0), nil
}
