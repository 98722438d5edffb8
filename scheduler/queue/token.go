package queue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
)

// The Nomad aegir-queue jobs call the API with a token of JobUser, a
// user with role queue: it may start and follow queue passes and nothing
// else (dashboard/api/auth.go), so a token read out of a Nomad Variable or a
// job's environment cannot manage users, delete anything or read secrets.
const (
	// JobUser names the queue jobs' user (role queue). It is aegir's:
	// tokens made for it by hand are revoked at the next registration;
	// give jobs run by hand a queue user of their own.
	JobUser = "nomad-queues"
	// JobTokenName names its tokens, and the admin's tokens that aegir
	// versions before the queue role gave the jobs.
	JobTokenName = "nomad-queues"
	// KeepJobTokens bounds the queue jobs' tokens: NewJobToken revokes all
	// but the newest KeepJobTokens-1 before it adds one, so a leader that
	// keeps failing to register the jobs (and so never revokes the old
	// tokens) does not pile them up. The cost: after KeepJobTokens-1
	// failed registrations in a row, a variable may still hold a revoked
	// token and its job fails unauthorized until the next registration
	// succeeds and rewrites every variable.
	KeepJobTokens = 3
)

// NewJobToken creates a token for the queue jobs, of JobUser (created on
// first use, with role queue), and returns its id and its secret, which is
// shown only here. Call RevokeJobTokens with the id once every job's
// variable holds the secret.
func NewJobToken(ctx context.Context, st *store.Store) (id, secret string, err error) {
	u, err := jobUser(ctx, st)
	if err != nil {
		return "", "", err
	}
	toks, err := jobTokens(ctx, st, u.ID)
	if err != nil {
		return "", "", err
	}
	if len(toks) >= KeepJobTokens {
		for _, t := range toks[:len(toks)-(KeepJobTokens-1)] {
			if err := st.DeleteToken(ctx, t.ID); err != nil && !errors.Is(err, domain.ErrNotFound) {
				return "", "", fmt.Errorf("revoke the queue jobs' old token %s: %w", t.ID, err)
			}
		}
	}
	tok, secret, err := st.CreateToken(ctx, u.ID, JobTokenName, 0)
	if err != nil {
		return "", "", fmt.Errorf("create the queue jobs' API token: %w", err)
	}
	return tok.ID, secret, nil
}

// RevokeJobTokens revokes every token of the queue jobs but keep: JobUser's
// others, and the admin's tokens named JobTokenName that earlier aegir
// versions made for the jobs.
func RevokeJobTokens(ctx context.Context, st *store.Store, keep string) error {
	u, err := jobUser(ctx, st)
	if err != nil {
		return err
	}
	toks, err := jobTokens(ctx, st, u.ID)
	if err != nil {
		return err
	}
	var errs []error
	for _, t := range toks {
		if t.ID == keep {
			continue
		}
		if err := st.DeleteToken(ctx, t.ID); err != nil && !errors.Is(err, domain.ErrNotFound) {
			errs = append(errs, fmt.Errorf("revoke the queue jobs' old token %s: %w", t.ID, err))
		}
	}
	return errors.Join(errs...)
}

// jobUser returns JobUser, creating it with role queue if it is missing.
func jobUser(ctx context.Context, st *store.Store) (*domain.User, error) {
	u, err := st.UserByName(ctx, JobUser)
	if errors.Is(err, domain.ErrNotFound) {
		u = &domain.User{Name: JobUser, Role: domain.RoleQueue}
		err = st.CreateUser(ctx, u)
		if errors.Is(err, domain.ErrDuplicate) { // another aegir made it meanwhile
			u, err = st.UserByName(ctx, JobUser)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("the queue jobs' user %s: %w", JobUser, err)
	}
	if u.Role != domain.RoleQueue {
		return nil, fmt.Errorf("the user %s has role %s, but aegir keeps that name for the queue jobs' user (role queue); rename or delete that user so aegir can create it: %w",
			JobUser, u.Role, domain.ErrConflict)
	}
	return u, nil
}

// jobTokens returns the queue jobs' tokens, oldest first: the queue
// user's, and the admin's named JobTokenName (from before the queue role).
func jobTokens(ctx context.Context, st *store.Store, queueUserID string) ([]domain.Token, error) {
	all, err := st.ListTokens(ctx, "")
	if err != nil {
		return nil, err
	}
	admin, err := st.UserByName(ctx, "admin")
	if err != nil && !errors.Is(err, domain.ErrNotFound) {
		return nil, err
	}
	var out []domain.Token
	for _, t := range all {
		legacy := admin != nil && t.UserID == admin.ID && t.Name == JobTokenName
		if t.UserID == queueUserID || legacy {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b domain.Token) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}
