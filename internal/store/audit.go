package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
)

// The audit log is append-only and grows with every change, so, like
// tasks, it is stored by time: entries by the day they were written in,
// and a marker per day, so a list reads the days it needs and a prune
// drops whole days.
//
//	audit/<yyyymmdd>/<id>    one domain.AuditEntry (ids sort by time)
//	auditdays/<yyyymmdd>     marks a day that has entries
//
// An entry is written in the same transaction as the change it records:
// the service layer puts it on the context (WithAudit) and the next commit
// made with that context carries it as one more op. A change that fails
// leaves no entry; one that succeeds always has one.
const (
	prefixAudit     = "audit/"
	prefixAuditDays = "auditdays/"
	auditDayLayout  = "20060102"
)

// auditOpsMax is how many ops an audit entry adds to a transaction: a
// batch that fills transactions to MaxTxnOps leaves room for them.
const auditOpsMax = 2

type auditCtxKey struct{}

// pendingAudit is an entry waiting for its transaction: the first commit
// that succeeds with it writes it, later ones in the same request do not.
type pendingAudit struct {
	mu      sync.Mutex
	entry   *domain.AuditEntry
	fill    func(*domain.AuditEntry)
	written bool
}

// WithAudit returns ctx carrying e: the next store write made with the
// returned context records e in its own transaction (once; later writes
// with the same context do not repeat it). e's ID and Time are set when
// empty. fill, when not nil, completes e at commit time, when what the
// change creates has its id (an entity's ID, its normalised fields).
func WithAudit(ctx context.Context, e *domain.AuditEntry, fill func(*domain.AuditEntry)) context.Context {
	if e == nil {
		return ctx
	}
	return context.WithValue(ctx, auditCtxKey{}, &pendingAudit{entry: e, fill: fill})
}

// AuditWritten reports whether the entry ctx carries was written.
func AuditWritten(ctx context.Context) bool {
	p, _ := ctx.Value(auditCtxKey{}).(*pendingAudit)
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.written
}

// auditOps returns the ops that write ctx's pending entry, and a func to
// call once they committed; none when there is no entry or it is written.
func (s *Store) auditOps(ctx context.Context) ([]Op, func(), error) {
	p, _ := ctx.Value(auditCtxKey{}).(*pendingAudit)
	if p == nil {
		return nil, func() {}, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.written {
		return nil, func() {}, nil
	}
	e := *p.entry
	if p.fill != nil {
		p.fill(&e)
	}
	ops, err := s.entryOps(&e)
	if err != nil {
		return nil, nil, err
	}
	return ops, func() {
		p.mu.Lock()
		p.written = true
		p.mu.Unlock()
	}, nil
}

func (s *Store) entryOps(e *domain.AuditEntry) ([]Op, error) {
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	e.Time = e.Time.UTC()
	if e.ID == "" {
		// NewID, not NewIDAt: ids made in one millisecond must keep their
		// order, which is the log's.
		e.ID = domain.NewID()
	}
	b, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	day := e.Time.Format(auditDayLayout)
	return []Op{
		{Verb: OpCAS, Key: prefixAudit + day + "/" + e.ID, Value: b},
		{Verb: OpSet, Key: prefixAuditDays + day, Value: []byte(day)},
	}, nil
}

// AppendAudit writes e alone: for what changes nothing in the store but
// must be on record (a failed login).
func (s *Store) AppendAudit(ctx context.Context, e *domain.AuditEntry) error {
	ops, err := s.entryOps(e)
	if err != nil {
		return err
	}
	_, err = s.kv.Txn(ctx, ops)
	return err
}

// AuditFilter selects audit entries. Empty fields match everything.
type AuditFilter struct {
	UserID   string
	UserName string
	// ClientIDs restricts to entries about these clients' objects; nil
	// means no restriction, an empty non-nil slice matches nothing.
	ClientIDs []string
	ClientID  string
	Kind      string
	ObjectID  string
	Action    string
	Since     time.Time // inclusive
	Until     time.Time // exclusive
	Offset    int
	Limit     int // default 50, at most 1000
}

func (f *AuditFilter) match(e *domain.AuditEntry) bool {
	switch {
	case f.UserID != "" && e.UserID != f.UserID,
		f.UserName != "" && e.UserName != f.UserName,
		f.ClientID != "" && e.ClientID != f.ClientID,
		f.ClientIDs != nil && (e.ClientID == "" || !slices.Contains(f.ClientIDs, e.ClientID)),
		f.Kind != "" && e.Kind != f.Kind,
		f.ObjectID != "" && e.ObjectID != f.ObjectID,
		f.Action != "" && e.Action != f.Action,
		!f.Since.IsZero() && e.Time.Before(f.Since),
		!f.Until.IsZero() && !e.Time.Before(f.Until):
		return false
	}
	return true
}

// AuditPage is one page of entries, newest first, and how many match.
type AuditPage struct {
	Items []domain.AuditEntry `json:"items"`
	Total int                 `json:"total"`
}

// auditDays returns the days that have entries, oldest first.
func (s *Store) auditDays(ctx context.Context) ([]string, error) {
	pairs, _, err := s.kv.List(ctx, prefixAuditDays)
	if err != nil {
		return nil, err
	}
	days := make([]string, 0, len(pairs))
	for _, p := range pairs {
		days = append(days, strings.TrimPrefix(p.Key, prefixAuditDays))
	}
	return days, nil
}

// ListAudit returns the entries matching f, newest first. It reads only
// the days f's time range covers.
func (s *Store) ListAudit(ctx context.Context, f AuditFilter) (*AuditPage, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 1000)
	days, err := s.auditDays(ctx)
	if err != nil {
		return nil, err
	}
	page := &AuditPage{Items: []domain.AuditEntry{}}
	for i := len(days) - 1; i >= 0; i-- {
		day := days[i]
		if !f.Since.IsZero() && day < f.Since.UTC().Format(auditDayLayout) {
			break
		}
		if !f.Until.IsZero() && day > f.Until.UTC().Format(auditDayLayout) {
			continue
		}
		pairs, _, err := s.kv.List(ctx, prefixAudit+day+"/")
		if err != nil {
			return nil, err
		}
		for j := len(pairs) - 1; j >= 0; j-- {
			var e domain.AuditEntry
			if err := json.Unmarshal(pairs[j].Value, &e); err != nil {
				s.log.Warn("skipping an unreadable audit entry", "key", pairs[j].Key, "err", err)
				continue
			}
			if !f.match(&e) {
				continue
			}
			if page.Total >= f.Offset && len(page.Items) < limit {
				page.Items = append(page.Items, e)
			}
			page.Total++
		}
	}
	return page, nil
}

// PruneAudit deletes the entries of the days wholly before before, and
// returns how many it deleted.
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (int, error) {
	days, err := s.auditDays(ctx)
	if err != nil {
		return 0, err
	}
	cut := before.UTC().Format(auditDayLayout)
	n := 0
	for _, day := range days {
		if day >= cut {
			break
		}
		pairs, _, err := s.kv.List(ctx, prefixAudit+day+"/")
		if err != nil {
			return n, err
		}
		for chunk := range slices.Chunk(pairs, MaxTxnOps-1) {
			ops := make([]Op, 0, len(chunk))
			for _, p := range chunk {
				ops = append(ops, Op{Verb: OpDelete, Key: p.Key})
			}
			if _, err := s.kv.Txn(ctx, ops); err != nil {
				return n, fmt.Errorf("prune the audit log of %s: %w", day, err)
			}
			n += len(chunk)
		}
		if _, err := s.kv.Txn(ctx, []Op{{Verb: OpDelete, Key: prefixAuditDays + day}}); err != nil {
			return n, err
		}
	}
	return n, nil
}
