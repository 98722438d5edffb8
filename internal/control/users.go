package control

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/domain"
)

// Users reads and changes users; all of it is for admins, and a user is
// not found to anyone else.
type Users struct{ *base }

// Public clears what never leaves the server (the password hash).
func Public(u *domain.User) *domain.User {
	cp := *u
	cp.PasswordHash = ""
	return &cp
}

// List lists the users, sorted by name, without their password hashes.
func (s *Users) List(ctx context.Context, a Actor) ([]domain.User, error) {
	if err := a.admin("list users"); err != nil {
		return nil, err
	}
	all, err := s.st.ListUsers(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]domain.User, len(all))
	for i := range all {
		out[i] = *Public(&all[i])
	}
	slices.SortFunc(out, func(a, b domain.User) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Get loads a user, with the password hash: transports answer with
// Public(u).
func (s *Users) Get(ctx context.Context, a Actor, id string) (*domain.User, error) {
	if err := a.adminEntity("user", id); err != nil {
		return nil, err
	}
	return s.st.GetUser(ctx, id)
}

// Create creates a user. passwordHash (HashPassword's, or "" for none)
// lets the user log in to the dashboard; the API creates users without.
func (s *Users) Create(ctx context.Context, a Actor, req apiv1.UserCreate, passwordHash string) (*domain.User, error) {
	if err := a.admin("create users"); err != nil {
		return nil, err
	}
	u := &domain.User{Name: req.Name, Email: req.Email, Role: domain.Role(req.Role), ClientIDs: req.ClientIDs, PasswordHash: passwordHash}
	ctx = a.record(ctx, "create", "user", "", "", func(e *domain.AuditEntry) {
		e.ObjectID, e.Fields = u.ID, domain.AuditFields(nil, u)
	})
	if err := s.st.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	return u, nil
}

// Update changes user id (check-and-set on req.Version). Its clients must
// exist; the stored password hash is kept.
func (s *Users) Update(ctx context.Context, a Actor, id string, req apiv1.UserUpdate) (*domain.User, error) {
	old, err := s.Get(ctx, a, id)
	if err != nil {
		return nil, err
	}
	if req.ID != "" && req.ID != old.ID {
		return nil, domain.Invalid("id", "does not match the user in the URL")
	}
	if err := needVersion(req.Version); err != nil {
		return nil, err
	}
	for _, cid := range req.ClientIDs {
		if _, err := s.st.GetClient(ctx, cid); err != nil {
			return nil, domain.Invalid("client_ids", "%v", err)
		}
	}
	u := &domain.User{
		ID: old.ID, Name: req.Name, Email: req.Email, Role: domain.Role(req.Role), ClientIDs: req.ClientIDs,
		PasswordHash: old.PasswordHash, Version: req.Version,
	}
	ctx = a.recordChange(ctx, "user", u.ID, "", old, u)
	if err := s.st.UpdateUser(ctx, u); err != nil {
		return nil, err
	}
	return u, nil
}

// Delete deletes a user and their tokens, if it is still at version. Nobody
// deletes themselves.
func (s *Users) Delete(ctx context.Context, a Actor, id string, version uint64) error {
	if err := a.adminEntity("user", id); err != nil {
		return err
	}
	if a.User().ID == id {
		return refuse(domain.ErrConflict, "you cannot delete yourself; ask another admin")
	}
	ctx = a.record(ctx, "delete", "user", id, "", nil)
	if err := s.st.DeleteUser(ctx, id, version); err != nil {
		return err
	}
	// Their notification subscriptions go with them (notifications.go).
	(&Notifications{s.base}).removeAllOf(context.WithoutCancel(ctx), id)
	return nil
}

// Tokens lists, creates and revokes API tokens: a user's own, or anyone's
// for an admin. A token of someone else is not found to a non-admin.
type Tokens struct{ *base }

// PublicToken clears the token's hash.
func PublicToken(t *domain.Token) *domain.Token {
	cp := *t
	cp.Hash = ""
	return &cp
}

// List lists the actor's tokens; an admin's list is everyone's, or
// userID's when it is not "". Hashes are cleared; sorted by id.
func (s *Tokens) List(ctx context.Context, a Actor, userID string) ([]domain.Token, error) {
	uid := a.User().ID
	if a.Admin() {
		uid = userID
	}
	all, err := s.st.ListTokens(ctx, uid)
	if err != nil {
		return nil, err
	}
	out := make([]domain.Token, len(all))
	for i := range all {
		out[i] = *PublicToken(&all[i])
	}
	slices.SortFunc(out, func(a, b domain.Token) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// Create creates a token, for the actor or (admins) for req.UserID, and
// returns it with its secret, which is never shown again. Its ttl may be
// at most Config.MaxTokenTTL, which is also what a token asked for
// without one gets: no token a person creates lasts for ever.
func (s *Tokens) Create(ctx context.Context, a Actor, req apiv1.TokenCreate) (*domain.Token, string, error) {
	uid := a.User().ID
	if req.UserID != "" && req.UserID != uid {
		if err := a.admin("create tokens for other users"); err != nil {
			return nil, "", err
		}
		uid = req.UserID
	}
	ttl := s.maxTokenTTL
	if req.TTL != "" {
		d, err := time.ParseDuration(strings.TrimSpace(req.TTL))
		if err != nil || d <= 0 {
			return nil, "", domain.Invalid("ttl", "must be a positive duration such as 720h")
		}
		if d > s.maxTokenTTL {
			return nil, "", domain.Invalid("ttl", "must be at most %s, this server's max_token_ttl", fmtDuration(s.maxTokenTTL))
		}
		ttl = d
	}
	ctx = a.record(ctx, "create_token", "token", "", "", func(e *domain.AuditEntry) {
		e.Fields = map[string]string{"name": req.Name, "user_id": uid, "ttl": fmtDuration(ttl)}
	})
	tok, secret, err := s.st.CreateToken(ctx, uid, req.Name, ttl)
	if err != nil {
		return nil, "", err
	}
	return PublicToken(tok), secret, nil
}

// Delete revokes a token and returns it as it was.
func (s *Tokens) Delete(ctx context.Context, a Actor, id string) (*domain.Token, error) {
	tok, err := s.st.GetToken(ctx, id)
	if err != nil {
		return nil, err
	}
	if !a.Admin() && tok.UserID != a.User().ID {
		return nil, domain.NotFound("token", id)
	}
	ctx = a.record(ctx, "revoke_token", "token", id, "", func(e *domain.AuditEntry) {
		e.Fields = map[string]string{"name": tok.Name, "user_id": tok.UserID}
	})
	if err := s.st.DeleteToken(ctx, id); err != nil {
		return nil, err
	}
	return PublicToken(tok), nil
}

// fmtDuration prints d in hours, the unit tokens' ttls are given in
// ("8760h", not "8760h0m0s").
func fmtDuration(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return d.String()
}
