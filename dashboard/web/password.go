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
	"path/filepath"
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

// NewAdminPassword returns a random password for a first admin and its
// hash.
func NewAdminPassword() (password, hash string, err error) {
	raw := make([]byte, 15)
	if _, err := rand.Read(raw); err != nil {
		return "", "", err
	}
	password = strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw))
	hash, err = HashPassword(password)
	return password, hash, err
}

// WriteAdminPassword writes password to path (mode 0600) for the operator
// to read once.
func WriteAdminPassword(path, password string) error {
	if err := os.WriteFile(path, []byte(password+"\n"), 0o600); err != nil {
		return fmt.Errorf("write the admin password file: %w", err)
	}
	return os.Chmod(path, 0o600)
}

// EnsureAdminPassword gives the first admin a password when no admin has
// one yet: a random one, hashed into the store and written to path (mode
// 0600) for the operator to read once. It returns whether it set one.
// aegir server and aegir dev call it for an admin made before admins got
// a password (a new admin gets one with store.EnsureAdminWithPassword).
//
// Servers starting together race here: the store's check-and-set on the
// user's version lets one set the password, and the others, on reading
// the admin again, find it has one and write no file. The password goes
// to a file beside path first and is renamed onto path once the store
// took it, so path never holds a password the store refused.
func EnsureAdminPassword(ctx context.Context, st *store.Store, path string) (bool, error) {
	for try := 0; ; try++ {
		set, err := ensureAdminPassword(ctx, st, path)
		if errors.Is(err, domain.ErrConflict) && try < 5 {
			continue // changed by someone else: read it again
		}
		return set, err
	}
}

func ensureAdminPassword(ctx context.Context, st *store.Store, path string) (bool, error) {
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
	password, hash, err := NewAdminPassword()
	if err != nil {
		return false, err
	}
	admin.PasswordHash = hash
	// Write the file first: a password nobody can read is worse than none.
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return false, fmt.Errorf("write the admin password file: %w", err)
	}
	tmp := f.Name()
	f.Close()
	if err := WriteAdminPassword(tmp, password); err != nil {
		os.Remove(tmp)
		return false, err
	}
	if err := st.UpdateUser(ctx, &admin); err != nil {
		os.Remove(tmp)
		return false, fmt.Errorf("set the admin password: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return false, fmt.Errorf("the admin password is set, but its file could not be moved from %s: %w", tmp, err)
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
