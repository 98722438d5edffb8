package queue

import (
	"context"
	"errors"
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
)

// The queue jobs' token is the queue user's (role queue), never an
// admin's; new tokens replace old ones without piling up, also when the
// old ones are never revoked (registration keeps failing), and the
// admin's tokens of earlier versions go with them.
func TestJobTokens(t *testing.T) {
	t.Parallel()
	b := setupByHand(t, 0)
	ctx := context.Background()
	_, _, err := b.st.EnsureAdmin(ctx)
	must(t, err)
	admin, err := b.st.UserByName(ctx, "admin")
	must(t, err)
	legacy, _, err := b.st.CreateToken(ctx, admin.ID, JobTokenName, 0) // an earlier version's
	must(t, err)
	mine, _, err := b.st.CreateToken(ctx, admin.ID, "laptop", 0)
	must(t, err)

	id, secret, err := NewJobToken(ctx, b.st)
	must(t, err)
	u, tok, err := b.st.Authenticate(ctx, secret)
	must(t, err)
	if u.Name != JobUser || u.Role != domain.RoleQueue || tok.ID != id || len(u.ClientIDs) != 0 {
		t.Fatalf("the job token authenticates as %+v", u)
	}
	// Registration failed each time: tokens are capped all the same.
	var ids []string
	for range 5 {
		id, _, err := NewJobToken(ctx, b.st)
		must(t, err)
		ids = append(ids, id)
	}
	if toks, _ := jobTokens(ctx, b.st, u.ID); len(toks) != KeepJobTokens {
		t.Fatalf("%d job tokens after 6 creations, want %d", len(toks), KeepJobTokens)
	}
	newest := ids[len(ids)-1]
	must(t, RevokeJobTokens(ctx, b.st, newest))
	toks, err := b.st.ListTokens(ctx, "")
	must(t, err)
	var left []string
	for _, tk := range toks {
		left = append(left, tk.ID)
		if tk.ID == legacy.ID {
			t.Errorf("the admin's old queue jobs' token survived")
		}
	}
	want := map[string]bool{newest: true, mine.ID: true}
	for _, id := range left {
		if !want[id] && id != "" {
			// the admin's bootstrap token stays too
			if tk, _ := b.st.GetToken(ctx, id); tk == nil || tk.UserID != admin.ID || tk.Name != "bootstrap" {
				t.Errorf("token %s (%+v) left over", id, tk)
			}
		}
	}
	if _, err := b.st.GetToken(ctx, mine.ID); err != nil {
		t.Errorf("an admin's own token was revoked: %v", err)
	}
	if _, err := b.st.GetToken(ctx, newest); err != nil {
		t.Errorf("the kept token was revoked: %v", err)
	}

	// The name is aegir's: a user of another role under it is an error
	// that says what to do, and no token is made.
	b2 := setupByHand(t, 0)
	must(t, b2.st.CreateUser(ctx, &domain.User{Name: JobUser, Role: domain.RoleAdmin}))
	if _, _, err := NewJobToken(ctx, b2.st); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("job token for an admin named %s: %v", JobUser, err)
	}
	if toks, _ := b2.st.ListTokens(ctx, ""); len(toks) != 0 {
		t.Errorf("%d tokens made", len(toks))
	}
}
