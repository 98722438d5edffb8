package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
)

func setUserVersion(v *domain.User, n uint64)   { v.Version = n }
func setTokenVersion(v *domain.Token, n uint64) { v.Version = n }

// CreateUser validates and stores a user; names are unique.
func (s *Store) CreateUser(ctx context.Context, u *domain.User) error {
	if err := u.Validate(); err != nil {
		return err
	}
	for _, id := range u.ClientIDs {
		if _, err := s.GetClient(ctx, id); err != nil {
			return domain.Invalid("client_ids", "%v", err)
		}
	}
	u.ID = domain.NewID()
	u.CreatedAt, u.UpdatedAt = s.now(), s.now()
	t := newTx()
	if err := t.create(prefixUsers+u.ID, u, nil); err != nil {
		return err
	}
	t.claim("user", u.Name, u.ID)
	pairs, err := s.commit(ctx, t)
	if err != nil {
		return err
	}
	u.Version = versionOf(pairs, 0)
	return nil
}

// GetUser returns the user with id.
func (s *Store) GetUser(ctx context.Context, id string) (*domain.User, error) {
	return get(ctx, s.kv, prefixUsers+id, "user", id, setUserVersion)
}

// UserByName returns the user called name.
func (s *Store) UserByName(ctx context.Context, name string) (*domain.User, error) {
	id, err := s.lookupUnique(ctx, "user", name)
	if err != nil {
		return nil, err
	}
	if id == "" {
		return nil, domain.NotFound("user", name)
	}
	return s.GetUser(ctx, id)
}

// ListUsers returns every user.
func (s *Store) ListUsers(ctx context.Context) ([]domain.User, error) {
	return list(ctx, s.kv, prefixUsers, setUserVersion)
}

// UpdateUser stores u if nobody changed it since u.Version was read. A
// change of password or role ends the user's dashboard sessions in the
// same transaction (the caller starts a new one for the user who changed
// their own password).
func (s *Store) UpdateUser(ctx context.Context, u *domain.User) error {
	if err := u.Validate(); err != nil {
		return err
	}
	old, err := s.GetUser(ctx, u.ID)
	if err != nil {
		return err
	}
	u.CreatedAt, u.UpdatedAt = old.CreatedAt, s.now()
	t := newTx()
	if err := t.update(prefixUsers+u.ID, u, u.Version, nil); err != nil {
		return err
	}
	if old.Name != u.Name {
		t.release("user", old.Name)
		t.claim("user", u.Name, u.ID)
	}
	var rest []Session
	if old.PasswordHash != u.PasswordHash || old.Role != u.Role {
		if rest, err = s.endSessionsIn(ctx, t, u.ID); err != nil {
			return err
		}
	}
	pairs, err := s.commit(ctx, t)
	s.auth.clear()
	if err != nil {
		return err
	}
	u.Version = versionOf(pairs, 0)
	return s.deleteSessions(ctx, rest)
}

// DeleteUser removes a user, all their tokens and their sessions.
func (s *Store) DeleteUser(ctx context.Context, id string, version uint64) error {
	u, err := s.GetUser(ctx, id)
	if err != nil {
		return err
	}
	tokens, err := s.ListTokens(ctx, id)
	if err != nil {
		return err
	}
	t := newTx()
	t.deleteCAS(prefixUsers+id, version, nil)
	t.release("user", u.Name)
	for _, tok := range tokens {
		t.add(Op{Verb: OpDelete, Key: prefixTokens + tok.ID}, nil)
	}
	rest, err := s.endSessionsIn(ctx, t, id)
	if err != nil {
		return err
	}
	_, err = s.commit(ctx, t)
	s.auth.clear()
	if err != nil {
		return err
	}
	return s.deleteSessions(ctx, rest)
}

// tokenPrefix starts every API token, so a leaked one is easy to recognise
// in a secret scanner.
const tokenPrefix = "aegir_"

// CreateToken creates an API token for a user and returns it with its
// secret, which is shown this once and stored only as a SHA-256 hash.
func (s *Store) CreateToken(ctx context.Context, userID, name string, ttl time.Duration) (*domain.Token, string, error) {
	tok, secret, err := s.newToken(userID, name, ttl)
	if err != nil {
		return nil, "", err
	}
	if _, err := s.GetUser(ctx, userID); err != nil {
		return nil, "", err
	}
	// The user's existence was checked above; a user deleted at this moment
	// leaves an orphan token, which Authenticate refuses.
	t := newTx()
	if err := t.create(prefixTokens+tok.ID, tok, nil); err != nil {
		return nil, "", err
	}
	pairs, err := s.commit(ctx, t)
	if err != nil {
		return nil, "", err
	}
	tok.Version = versionOf(pairs, 0)
	return tok, secret, nil
}

// newToken makes a token of userID and its secret, not yet stored.
func (s *Store) newToken(userID, name string, ttl time.Duration) (*domain.Token, string, error) {
	if name == "" {
		name = "default"
	}
	if err := domain.ValidateName("name", name); err != nil {
		return nil, "", err
	}
	var raw [24]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, "", err
	}
	tok := &domain.Token{ID: domain.NewID(), UserID: userID, Name: name, CreatedAt: s.now()}
	secret := tokenPrefix + tok.ID + "_" + hex.EncodeToString(raw[:])
	sum := sha256.Sum256([]byte(secret))
	tok.Hash = hex.EncodeToString(sum[:])
	if ttl > 0 {
		exp := s.now().Add(ttl)
		tok.ExpiresAt = &exp
	}
	return tok, secret, nil
}

// ListTokens returns a user's tokens (every token when userID is empty).
func (s *Store) ListTokens(ctx context.Context, userID string) ([]domain.Token, error) {
	all, err := list(ctx, s.kv, prefixTokens, setTokenVersion)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, t := range all {
		if userID == "" || t.UserID == userID {
			out = append(out, t)
		}
	}
	return out, nil
}

// GetToken returns the token with id.
func (s *Store) GetToken(ctx context.Context, id string) (*domain.Token, error) {
	return get(ctx, s.kv, prefixTokens+id, "token", id, setTokenVersion)
}

// DeleteToken revokes a token.
func (s *Store) DeleteToken(ctx context.Context, id string) error {
	tok, err := s.GetToken(ctx, id)
	if err != nil {
		return err
	}
	t := newTx()
	t.deleteCAS(prefixTokens+id, tok.Version, nil)
	_, err = s.commit(ctx, t)
	s.auth.clear()
	return err
}

// authCache remembers recent successful authentications for a short
// time, so an API request costs no store reads for its token: on Consul that
// was two reads per request. Changes made through this Store (token or user
// deleted, user edited) drop the cache at once; changes made by another
// process take effect within authCacheTTL.
type authCache struct {
	mu      sync.Mutex
	entries map[[32]byte]authEntry
}

type authEntry struct {
	user    domain.User
	token   domain.Token
	expires time.Time
}

const authCacheTTL = 2 * time.Second

func (c *authCache) get(key [32]byte, now time.Time) (*domain.User, *domain.Token, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || now.After(e.expires) || (e.token.ExpiresAt != nil && now.After(*e.token.ExpiresAt)) {
		return nil, nil, false
	}
	u, t := e.user, e.token
	u.ClientIDs = slices.Clone(u.ClientIDs)
	return &u, &t, true
}

func (c *authCache) put(key [32]byte, u *domain.User, t *domain.Token, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) > 10000 {
		c.entries = map[[32]byte]authEntry{}
	}
	e := authEntry{user: *u, token: *t, expires: now.Add(authCacheTTL)}
	e.user.ClientIDs = slices.Clone(u.ClientIDs)
	c.entries[key] = e
}

func (c *authCache) clear() {
	c.mu.Lock()
	c.entries = nil
	c.mu.Unlock()
}

// Authenticate returns the user and token a secret belongs to, or an error
// wrapping domain.ErrUnauthorized. It compares hashes in constant time.
func (s *Store) Authenticate(ctx context.Context, secret string) (*domain.User, *domain.Token, error) {
	key := sha256.Sum256([]byte(secret))
	if u, t, ok := s.auth.get(key, s.now()); ok {
		return u, t, nil
	}
	u, t, err := s.authenticate(ctx, secret)
	if err == nil {
		s.auth.put(key, u, t, s.now())
	}
	return u, t, err
}

func (s *Store) authenticate(ctx context.Context, secret string) (*domain.User, *domain.Token, error) {
	rest, ok := strings.CutPrefix(secret, tokenPrefix)
	if !ok || len(rest) < domain.IDLen+2 || rest[domain.IDLen] != '_' {
		return nil, nil, domain.ErrUnauthorized
	}
	tok, err := s.GetToken(ctx, rest[:domain.IDLen])
	if errors.Is(err, domain.ErrNotFound) {
		return nil, nil, domain.ErrUnauthorized
	}
	if err != nil {
		return nil, nil, err
	}
	sum := sha256.Sum256([]byte(secret))
	want, err := hex.DecodeString(tok.Hash)
	if err != nil || subtle.ConstantTimeCompare(sum[:], want) != 1 {
		return nil, nil, domain.ErrUnauthorized
	}
	if tok.ExpiresAt != nil && s.now().After(*tok.ExpiresAt) {
		return nil, nil, fmt.Errorf("token %s expired at %s: %w", tok.Name, tok.ExpiresAt.Format(time.RFC3339), domain.ErrUnauthorized)
	}
	u, err := s.GetUser(ctx, tok.UserID)
	if errors.Is(err, domain.ErrNotFound) {
		return nil, nil, domain.ErrUnauthorized
	}
	if err != nil {
		return nil, nil, err
	}
	return u, tok, nil
}

// EnsureAdmin creates the first admin user and a token for it when the
// store has no users yet. It returns the token's secret and true when it
// created them; concurrent callers race on the unique name and one wins.
func (s *Store) EnsureAdmin(ctx context.Context) (string, bool, error) {
	return s.EnsureAdminWithPassword(ctx, "")
}

// EnsureAdminWithPassword is EnsureAdmin with the admin's dashboard
// password hash (empty: none) set on the user it creates. The user, its
// name's claim and its "bootstrap" token are written in one transaction:
// of servers bootstrapping one store at once exactly one gets created
// true, and holds the only token and the only password of the admin; a
// loser writes nothing, and no crash leaves an admin without a token.
func (s *Store) EnsureAdminWithPassword(ctx context.Context, passwordHash string) (string, bool, error) {
	users, err := s.ListUsers(ctx)
	if err != nil {
		return "", false, err
	}
	if len(users) > 0 {
		return "", false, nil
	}
	u := &domain.User{Name: "admin", Role: domain.RoleAdmin, PasswordHash: passwordHash}
	if err := u.Validate(); err != nil {
		return "", false, err
	}
	u.ID = domain.NewID()
	u.CreatedAt, u.UpdatedAt = s.now(), s.now()
	tok, secret, err := s.newToken(u.ID, "bootstrap", 0)
	if err != nil {
		return "", false, err
	}
	t := newTx()
	if err := t.create(prefixUsers+u.ID, u, nil); err != nil {
		return "", false, err
	}
	t.claim("user", u.Name, u.ID)
	if err := t.create(prefixTokens+tok.ID, tok, nil); err != nil {
		return "", false, err
	}
	if _, err := s.commit(ctx, t); err != nil {
		if errors.Is(err, domain.ErrDuplicate) {
			return "", false, nil
		}
		return "", false, err
	}
	return secret, true, nil
}
