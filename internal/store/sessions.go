package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
)

// prefixSessions holds the dashboard's server-side sessions, one record
// per login under sessions/<id>, where the id is the SHA-256 of the
// cookie's secret: the store never holds a secret a browser could present.
const prefixSessions = "sessions/"

// sessionTxnDeletes is how many session deletions UpdateUser and
// DeleteUser put into their own transaction; any further ones are deleted
// right after (and the session's stamp refuses them meanwhile).
const sessionTxnDeletes = 32

// Session is one dashboard login: what the session cookie's secret stands
// for. It ends when deleted (logout, a password or role change, an admin
// ending all of a user's sessions, the user deleted) or when it expires
// (Expired).
type Session struct {
	// ID is the hex SHA-256 of the cookie's secret, the record's key.
	ID     string `json:"-"`
	UserID string `json:"user_id"`
	// Stamp is the caller's digest of what the session was granted on
	// (the dashboard's: the user's password hash and role); the caller
	// refuses the session when it no longer matches.
	Stamp     string    `json:"stamp,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	LastSeen  time.Time `json:"last_seen"`
	// Address is the client's address at login, UserAgent its browser
	// (at most 200 bytes): shown to the user and admins.
	Address   string `json:"address,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
	// Version is the record's ModifyIndex, for check-and-set.
	Version uint64 `json:"-"`
}

// Expired reports whether s is past its idle timeout (no request for idle)
// or its absolute one (max since login) at now. A zero duration is no
// limit.
func (s *Session) Expired(now time.Time, idle, max time.Duration) bool {
	return (idle > 0 && now.Sub(s.LastSeen) > idle) || (max > 0 && now.Sub(s.CreatedAt) > max)
}

// sessionID is the record id of a cookie secret.
func sessionID(secret string) string {
	sum := sha256.Sum256([]byte("aegir-session\x00" + secret))
	return hex.EncodeToString(sum[:])
}

func validSessionID(id string) bool {
	if len(id) != 64 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil && strings.ToLower(id) == id
}

// CreateSession stores a new session for tmpl.UserID (its Stamp, Address
// and UserAgent copied) and returns it with the secret for the cookie,
// which is stored only as its hash.
func (s *Store) CreateSession(ctx context.Context, tmpl Session) (*Session, string, error) {
	if _, err := s.GetUser(ctx, tmpl.UserID); err != nil {
		return nil, "", err
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, "", err
	}
	secret := base64.RawURLEncoding.EncodeToString(raw[:])
	now := s.now()
	sess := &Session{ID: sessionID(secret), UserID: tmpl.UserID, Stamp: tmpl.Stamp, CreatedAt: now, LastSeen: now,
		Address: truncate(tmpl.Address, 64), UserAgent: truncate(tmpl.UserAgent, 200)}
	t := newTx()
	if err := t.create(prefixSessions+sess.ID, sess, nil); err != nil {
		return nil, "", err
	}
	pairs, err := s.commit(ctx, t)
	if err != nil {
		return nil, "", err
	}
	sess.Version = versionOf(pairs, 0)
	return sess, secret, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.ToValidUTF8(s, "")
}

// SessionBySecret returns the session a cookie's secret stands for, or an
// error wrapping domain.ErrUnauthorized. It does not check expiry
// (Session.Expired) or the stamp: the caller knows its limits.
func (s *Store) SessionBySecret(ctx context.Context, secret string) (*Session, error) {
	if len(secret) < 32 || len(secret) > 128 {
		return nil, domain.ErrUnauthorized
	}
	id := sessionID(secret)
	sess, err := s.getSession(ctx, id)
	if errors.Is(err, domain.ErrNotFound) {
		return nil, domain.ErrUnauthorized
	}
	if err != nil {
		return nil, err
	}
	// The key lookup found it by hash; compare again in constant time so
	// that no code path depends on a secret's bytes by timing.
	if subtle.ConstantTimeCompare([]byte(sess.ID), []byte(id)) != 1 {
		return nil, domain.ErrUnauthorized
	}
	return sess, nil
}

func (s *Store) getSession(ctx context.Context, id string) (*Session, error) {
	if !validSessionID(id) {
		return nil, domain.NotFound("session", "")
	}
	p, err := s.kv.Get(ctx, prefixSessions+id)
	if errors.Is(err, ErrKeyNotFound) {
		return nil, domain.NotFound("session", "")
	}
	if err != nil {
		return nil, err
	}
	var sess Session
	if err := json.Unmarshal(p.Value, &sess); err != nil {
		return nil, fmt.Errorf("decode session: %w", err)
	}
	sess.ID, sess.Version = id, p.ModifyIndex
	return &sess, nil
}

// TouchSession records that sess was used at now (check-and-set: when
// another request touched it first, that one's time stands and this
// returns nil). Callers touch at most once a minute per session.
func (s *Store) TouchSession(ctx context.Context, sess *Session, now time.Time) error {
	next := *sess
	next.LastSeen = now.UTC().Truncate(time.Millisecond)
	t := newTx()
	if err := t.update(prefixSessions+sess.ID, &next, sess.Version, nil); err != nil {
		return err
	}
	pairs, err := s.commit(ctx, t)
	if errors.Is(err, domain.ErrConflict) {
		return nil
	}
	if err != nil {
		return err
	}
	sess.LastSeen, sess.Version = next.LastSeen, versionOf(pairs, 0)
	return nil
}

// DeleteSession ends one session (logout); a missing one is no error.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	if !validSessionID(id) {
		return nil
	}
	t := newTx()
	t.add(Op{Verb: OpDelete, Key: prefixSessions + id}, nil)
	_, err := s.commit(ctx, t)
	return err
}

// ListSessions returns a user's sessions (every session when userID is
// empty), expired ones included until removed.
func (s *Store) ListSessions(ctx context.Context, userID string) ([]Session, error) {
	pairs, _, err := s.kv.List(ctx, prefixSessions)
	if err != nil {
		return nil, err
	}
	out := make([]Session, 0, len(pairs))
	for _, p := range pairs {
		id := p.Key[len(prefixSessions):]
		if !validSessionID(id) {
			continue
		}
		var sess Session
		if err := json.Unmarshal(p.Value, &sess); err != nil {
			return nil, fmt.Errorf("decode session: %w", err)
		}
		if userID != "" && sess.UserID != userID {
			continue
		}
		sess.ID, sess.Version = id, p.ModifyIndex
		out = append(out, sess)
	}
	return out, nil
}

// DeleteUserSessions ends every session of a user and returns how many.
func (s *Store) DeleteUserSessions(ctx context.Context, userID string) (int, error) {
	all, err := s.ListSessions(ctx, userID)
	if err != nil {
		return 0, err
	}
	return len(all), s.deleteSessions(ctx, all)
}

// SweepSessions removes the sessions expired at now under the idle and
// absolute timeouts, and those of users that no longer exist; it returns
// how many. One list of sessions/ and a delete per batch: cheap enough to
// run every few minutes.
func (s *Store) SweepSessions(ctx context.Context, idle, max time.Duration) (int, error) {
	all, err := s.ListSessions(ctx, "")
	if err != nil {
		return 0, err
	}
	users, err := s.ListUsers(ctx)
	if err != nil {
		return 0, err
	}
	exists := make(map[string]bool, len(users))
	for _, u := range users {
		exists[u.ID] = true
	}
	now := s.now()
	var dead []Session
	for _, sess := range all {
		if sess.Expired(now, idle, max) || !exists[sess.UserID] {
			dead = append(dead, sess)
		}
	}
	return len(dead), s.deleteSessions(ctx, dead)
}

func (s *Store) deleteSessions(ctx context.Context, all []Session) error {
	for len(all) > 0 {
		n := min(len(all), MaxTxnOps-1-auditOpsMax)
		t := newTx()
		for _, sess := range all[:n] {
			t.add(Op{Verb: OpDelete, Key: prefixSessions + sess.ID}, nil)
		}
		if _, err := s.commit(ctx, t); err != nil {
			return err
		}
		all = all[n:]
	}
	return nil
}

// endSessionsIn adds the deletion of up to sessionTxnDeletes of a user's
// sessions to t and returns the rest, for deleteSessions after the commit.
func (s *Store) endSessionsIn(ctx context.Context, t *tx, userID string) ([]Session, error) {
	all, err := s.ListSessions(ctx, userID)
	if err != nil {
		return nil, err
	}
	n := min(len(all), sessionTxnDeletes)
	for _, sess := range all[:n] {
		t.add(Op{Verb: OpDelete, Key: prefixSessions + sess.ID}, nil)
	}
	return all[n:], nil
}
