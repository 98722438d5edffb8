package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
)

// Passwords are hashed with argon2id (RFC 9106) with a random 16-byte salt
// per hash, kept in the PHC string format
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>, so the parameters can be
// raised later without invalidating stored hashes.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB: OWASP's minimum for argon2id
	argonThreads = 1
	argonKeyLen  = 32
	minPassword  = 10
	maxPassword  = 256
)

// HashPassword returns the argon2id PHC string of password.
func HashPassword(password string) (string, error) {
	if len(password) < minPassword {
		return "", domain.Invalid("password", "must be at least %d characters", minPassword)
	}
	if len(password) > maxPassword {
		return "", domain.Invalid("password", "must be at most %d characters", maxPassword)
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// dummyHash is verified against when a login names no user, so that an
// unknown name takes as long as a wrong password.
var dummyHash, _ = HashPassword("not-a-real-password")

// VerifyPassword reports whether password matches the PHC string hash.
func VerifyPassword(hash, password string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || len(password) > maxPassword {
		return false
	}
	var v int
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || m > 1<<21 || t == 0 || t > 16 || p == 0 {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 || len(want) > 128 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// EnsureAdminPassword gives the first admin a password when no admin has
// one yet: a random one, hashed into the store and written to path (mode
// 0600) for the operator to read once. It returns whether it set one.
// aegir dev calls it after EnsureAdmin with <data-dir>/admin-password.
func EnsureAdminPassword(ctx context.Context, st *store.Store, path string) (bool, error) {
	users, err := st.ListUsers(ctx)
	if err != nil {
		return false, err
	}
	var admins []domain.User
	for _, u := range users {
		if u.Role == domain.RoleAdmin {
			if u.PasswordHash != "" {
				return false, nil
			}
			admins = append(admins, u)
		}
	}
	if len(admins) == 0 {
		return false, errors.New("no admin user exists yet; create one first (store.EnsureAdmin)")
	}
	slices.SortFunc(admins, func(a, b domain.User) int { return strings.Compare(a.ID, b.ID) })
	admin := admins[0]
	raw := make([]byte, 15)
	if _, err := rand.Read(raw); err != nil {
		return false, err
	}
	password := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw))
	if admin.PasswordHash, err = HashPassword(password); err != nil {
		return false, err
	}
	// Write the file first: a password nobody can read is worse than none.
	if err := os.WriteFile(path, []byte(password+"\n"), 0o600); err != nil {
		return false, fmt.Errorf("write the admin password file: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return false, err
	}
	if err := st.UpdateUser(ctx, &admin); err != nil {
		return false, fmt.Errorf("set the admin password: %w", err)
	}
	return true, nil
}

// SetPassword hashes password into the user (check-and-set on version).
func SetPassword(ctx context.Context, st *store.Store, u *domain.User, password string) error {
	h, err := HashPassword(password)
	if err != nil {
		return err
	}
	u.PasswordHash = h
	return st.UpdateUser(ctx, u)
}
