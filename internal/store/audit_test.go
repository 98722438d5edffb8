package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
)

// TestAuditRidesTheChange: an entry on the context is written with the
// change it records, once; a change that fails writes none; filters and
// pruning work; on both backends.
func TestAuditRidesTheChange(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		f := setup(t, s)
		e := &domain.AuditEntry{Action: "create", Kind: "site", UserName: "alice", Address: "192.0.2.1", ClientID: f.client.ID}
		site := f.site("audit.example.com")
		actx := store.WithAudit(ctx, e, func(e *domain.AuditEntry) { e.ObjectID = site.ID })
		if _, err := s.CreateSite(actx, site, "alice"); err != nil {
			t.Fatal(err)
		}
		if !store.AuditWritten(actx) {
			t.Fatal("the entry was not written")
		}
		// A second write with the same context does not repeat it.
		site.Profile = "x"
		if _, err := s.UpdateSite(actx, site, "alice"); err != nil {
			t.Fatal(err)
		}
		// A failing change writes nothing.
		dup := store.WithAudit(ctx, &domain.AuditEntry{Action: "create", Kind: "site"}, nil)
		if _, err := s.CreateSite(dup, f.site("audit.example.com"), "alice"); err == nil {
			t.Fatal("a duplicate domain was accepted")
		}
		if store.AuditWritten(dup) {
			t.Fatal("a failed change wrote its entry")
		}
		if err := s.AppendAudit(ctx, &domain.AuditEntry{Action: "login_failed", Kind: "user", UserName: "mallory", Address: "198.51.100.7"}); err != nil {
			t.Fatal(err)
		}
		all, err := s.ListAudit(ctx, store.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if all.Total != 2 || all.Items[0].Action != "login_failed" || all.Items[1].ObjectID != site.ID || all.Items[1].Address != "192.0.2.1" {
			t.Fatalf("entries: %+v", all)
		}
		for _, c := range []struct {
			name string
			f    store.AuditFilter
			want int
		}{
			{"client", store.AuditFilter{ClientIDs: []string{f.client.ID}}, 1},
			{"no clients", store.AuditFilter{ClientIDs: []string{}}, 0},
			{"user", store.AuditFilter{UserName: "mallory"}, 1},
			{"object", store.AuditFilter{ObjectID: site.ID}, 1},
			{"future", store.AuditFilter{Since: time.Now().Add(time.Hour)}, 0},
			{"past", store.AuditFilter{Until: time.Now().Add(-time.Hour)}, 0},
			{"page", store.AuditFilter{Offset: 1, Limit: 1}, 1},
		} {
			p, err := s.ListAudit(ctx, c.f)
			if err != nil || len(p.Items) != c.want {
				t.Errorf("%s: %d items, %v; want %d", c.name, len(p.Items), err, c.want)
			}
		}
		if n, err := s.PruneAudit(ctx, time.Now()); err != nil || n != 0 {
			t.Errorf("prune of today: %d, %v", n, err)
		}
		if n, err := s.PruneAudit(ctx, time.Now().AddDate(0, 0, 2)); err != nil || n != 2 {
			t.Errorf("prune: %d, %v", n, err)
		}
		if p, err := s.ListAudit(ctx, store.AuditFilter{}); err != nil || p.Total != 0 {
			t.Errorf("after prune: %+v, %v", p, err)
		}
	})
}

// TestAuditFitsBatches: ending more sessions than one transaction holds,
// with an audit entry on the context, still fits the transaction limit.
func TestAuditFitsBatches(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := &domain.User{Name: "many", Role: domain.RoleAdmin}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		for range store.MaxTxnOps + 3 {
			if _, _, err := s.CreateSession(ctx, store.Session{UserID: u.ID}); err != nil {
				t.Fatal(err)
			}
		}
		actx := store.WithAudit(ctx, &domain.AuditEntry{Action: "end_sessions", Kind: "user", ObjectID: u.ID}, nil)
		n, err := s.DeleteUserSessions(actx, u.ID)
		if err != nil || n != store.MaxTxnOps+3 || !store.AuditWritten(actx) {
			t.Fatalf("DeleteUserSessions = %d, %v; audit written %v", n, err, store.AuditWritten(actx))
		}
	})
}
