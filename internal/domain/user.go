package domain

import (
	"slices"
	"time"
)

// Role is what a user may do.
type Role string

const (
	RoleAdmin  Role = "admin"  // everything
	RoleClient Role = "client" // only the sites and tasks of their clients
	// RoleQueue may only start and follow passes of the periodic queues
	// (the Nomad aegir-queue jobs' token): no clients, no password, no
	// other route of the API.
	RoleQueue Role = "queue"
)

// User is a person who uses the API or the dashboard.
type User struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Email        string    `json:"email,omitempty"`
	Role         Role      `json:"role"`
	ClientIDs    []string  `json:"client_ids,omitempty"`
	PasswordHash string    `json:"password_hash,omitempty"` // never leaves the store: the API clears it
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	Version      uint64    `json:"version"`
}

// Validate checks the user's fields.
func (u *User) Validate() error {
	if err := ValidateName("name", u.Name); err != nil {
		return err
	}
	if err := validateText("email", u.Email, 254); err != nil {
		return err
	}
	switch u.Role {
	case RoleAdmin, RoleClient:
	case RoleQueue:
		// A queue user is a machine's: API tokens only, and nothing of any
		// client's to see.
		if len(u.ClientIDs) > 0 {
			return Invalid("client_ids", "a queue user belongs to no client; remove client_ids or use role client")
		}
		if u.PasswordHash != "" {
			return Invalid("role", "a queue user signs in with API tokens only, not a password; create a new user with role queue")
		}
	default:
		return Invalid("role", "unknown role %q; use admin, client or queue", Clip(string(u.Role)))
	}
	if len(u.ClientIDs) > 100 {
		return Invalid("client_ids", "at most 100 clients")
	}
	for _, id := range u.ClientIDs {
		if !ValidID(id) {
			return Invalid("client_ids", "%q is not a client id", Clip(id))
		}
	}
	return nil
}

// CanSeeClient reports whether the user may see what belongs to clientID.
func (u *User) CanSeeClient(clientID string) bool {
	return u.Role == RoleAdmin || (clientID != "" && slices.Contains(u.ClientIDs, clientID))
}

// Token is an API token. Only its SHA-256 hash is stored; the secret is shown
// once, when it is created.
type Token struct {
	ID         string     `json:"id"`
	UserID     string     `json:"user_id"`
	Name       string     `json:"name"`
	Hash       string     `json:"hash,omitempty"` // hex SHA-256 of the secret; the API clears it
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	Version    uint64     `json:"version"`
}
