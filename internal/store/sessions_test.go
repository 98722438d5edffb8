package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
)

func TestSessions(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		alice := &domain.User{Name: "alice", Role: domain.RoleAdmin, PasswordHash: "h1"}
		bob := &domain.User{Name: "bob", Role: domain.RoleAdmin}
		for _, u := range []*domain.User{alice, bob} {
			if err := s.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		newSession := func(u *domain.User) (*store.Session, string) {
			t.Helper()
			sess, secret, err := s.CreateSession(ctx, store.Session{UserID: u.ID, Stamp: "st", Address: "192.0.2.1", UserAgent: strings.Repeat("x", 500)})
			if err != nil {
				t.Fatal(err)
			}
			return sess, secret
		}
		a1, secret1 := newSession(alice)
		_, secret2 := newSession(alice)
		_, bobSecret := newSession(bob)
		if len(a1.UserAgent) != 200 || a1.Address != "192.0.2.1" || a1.Stamp != "st" || strings.Contains(a1.ID, secret1) {
			t.Fatalf("session %+v", a1)
		}
		got, err := s.SessionBySecret(ctx, secret1)
		if err != nil || got.ID != a1.ID || got.UserID != alice.ID {
			t.Fatalf("SessionBySecret: %+v %v", got, err)
		}
		// The store holds no secret: the key is its hash.
		pairs, _, _ := s.KV().List(ctx, "sessions/")
		for _, p := range pairs {
			for _, sec := range []string{secret1, secret2, bobSecret} {
				if strings.Contains(p.Key+string(p.Value), sec) {
					t.Fatalf("the store holds a session secret: %s", p.Key)
				}
			}
		}
		for _, bad := range []string{"", "short", secret1 + "x", strings.ToUpper(secret1), a1.ID} {
			if _, err := s.SessionBySecret(ctx, bad); !errors.Is(err, domain.ErrUnauthorized) {
				t.Errorf("SessionBySecret(%q) = %v", bad, err)
			}
		}
		// Touch: check-and-set; a stale copy's touch is no error.
		later := time.Now().Add(time.Minute)
		stale := *got
		if err := s.TouchSession(ctx, got, later); err != nil {
			t.Fatal(err)
		}
		if err := s.TouchSession(ctx, &stale, later.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if again, _ := s.SessionBySecret(ctx, secret1); !again.LastSeen.Equal(later.UTC().Truncate(time.Millisecond)) {
			t.Fatalf("last seen %v, want %v", again.LastSeen, later)
		}
		// Expiry.
		if a1.Expired(a1.CreatedAt.Add(time.Hour), 2*time.Hour, 12*time.Hour) ||
			!a1.Expired(a1.CreatedAt.Add(3*time.Hour), 2*time.Hour, 12*time.Hour) ||
			!a1.Expired(a1.CreatedAt.Add(13*time.Hour), 0, 12*time.Hour) || a1.Expired(a1.CreatedAt.Add(100*time.Hour), 0, 0) {
			t.Fatal("Expired")
		}
		if list, _ := s.ListSessions(ctx, alice.ID); len(list) != 2 {
			t.Fatalf("alice has %d sessions, want 2", len(list))
		}
		// Logout ends one.
		if err := s.DeleteSession(ctx, a1.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SessionBySecret(ctx, secret1); !errors.Is(err, domain.ErrUnauthorized) {
			t.Fatalf("a deleted session: %v", err)
		}
		// A change of name keeps sessions; of password or role ends them.
		alice.Name = "alice2"
		if err := s.UpdateUser(ctx, alice); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SessionBySecret(ctx, secret2); err != nil {
			t.Fatalf("a rename ended a session: %v", err)
		}
		alice.PasswordHash = "h2"
		if err := s.UpdateUser(ctx, alice); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SessionBySecret(ctx, secret2); !errors.Is(err, domain.ErrUnauthorized) {
			t.Fatalf("a password change kept a session: %v", err)
		}
		_, secret3 := newSession(alice)
		alice.Role = domain.RoleClient
		if err := s.UpdateUser(ctx, alice); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SessionBySecret(ctx, secret3); !errors.Is(err, domain.ErrUnauthorized) {
			t.Fatalf("a role change kept a session: %v", err)
		}
		if _, err := s.SessionBySecret(ctx, bobSecret); err != nil {
			t.Fatalf("alice's changes ended bob's session: %v", err)
		}
		// An admin ends all of a user's sessions, more than fit one
		// transaction.
		for range 70 {
			newSession(bob)
		}
		if n, err := s.DeleteUserSessions(ctx, bob.ID); err != nil || n != 71 {
			t.Fatalf("DeleteUserSessions: %d %v", n, err)
		}
		if list, _ := s.ListSessions(ctx, bob.ID); len(list) != 0 {
			t.Fatalf("bob has %d sessions left", len(list))
		}
		// Deleting a user ends theirs.
		_, secret4 := newSession(bob)
		bob, _ = s.GetUser(ctx, bob.ID)
		if err := s.DeleteUser(ctx, bob.ID, bob.Version); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SessionBySecret(ctx, secret4); !errors.Is(err, domain.ErrUnauthorized) {
			t.Fatalf("a deleted user's session: %v", err)
		}
		// The sweep removes expired ones only.
		_, fresh := newSession(alice)
		old, _ := newSession(alice)
		old.LastSeen = old.LastSeen.Add(-3 * time.Hour)
		stale = *old
		if err := s.TouchSession(ctx, &stale, old.LastSeen); err != nil {
			t.Fatal(err)
		}
		n, err := s.SweepSessions(ctx, 2*time.Hour, 12*time.Hour)
		if err != nil || n != 1 {
			t.Fatalf("SweepSessions: %d %v", n, err)
		}
		if _, err := s.SessionBySecret(ctx, fresh); err != nil {
			t.Fatalf("the sweep removed a live session: %v", err)
		}
	})
}
