package secrets_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/aegirhq/aegir/secrets"
)

// TestVaultCheck: Check reports a renewable token's time to live; a token
// that reached its max TTL as no longer renewed, then, once expired, as
// invalid; a revoked token and a sealed Vault as errors that say so; and
// never the token.
func TestVaultCheck(t *testing.T) {
	t.Parallel()
	b := setupVault(t)
	check := func(s *secrets.VaultStore) (secrets.VaultTokenStatus, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return s.Check(ctx)
	}

	st, err := check(b.backend)
	if err != nil || !st.Renewable || st.TTL < 50*time.Minute || st.TTL > time.Hour || st.RenewErr != nil {
		t.Fatalf("Check of a fresh 1h token = %+v, %v", st, err)
	}

	// A token at its max TTL: the store stops renewing and says so, then
	// the token expires.
	short, err := b.root.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"aegir-backend"}, TTL: "6s", ExplicitMaxTTL: "6s"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := secrets.NewVault(secrets.VaultConfig{Addr: b.srv.Addr, Token: short.Auth.ClientToken})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	deadline := time.Now().Add(20 * time.Second)
	for st, err = check(s); err == nil && st.RenewErr == nil; st, err = check(s) {
		if time.Now().After(deadline) {
			t.Fatalf("a token at its max TTL: Check = %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The store gives up a little before the end (the renewal watcher's
	// grace, 10-20% of the TTL): about a second to see it.
	if err != nil {
		t.Errorf("the token expired before Check saw the end of its renewals: %v", err)
	} else if !strings.Contains(st.RenewErr.Error(), "maximum TTL") || st.TTL > 2*time.Second {
		t.Errorf("at the end of renewals: TTL %s, RenewErr %v", st.TTL, st.RenewErr)
	}
	for err == nil {
		if time.Now().After(deadline) {
			t.Fatalf("an expired token: Check = %+v", st)
		}
		time.Sleep(100 * time.Millisecond)
		st, err = check(s)
	}
	if !errors.Is(err, secrets.ErrVaultToken) || strings.Contains(err.Error(), short.Auth.ClientToken) {
		t.Fatalf("Check of an expired token = %v, want ErrVaultToken without the token", err)
	}

	tok := tokenWithPolicy(t, b.root, "aegir-backend", "1h")
	revoked, err := secrets.NewVault(secrets.VaultConfig{Addr: b.srv.Addr, Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	defer revoked.Close()
	if err := b.root.Auth().Token().RevokeTree(tok); err != nil {
		t.Fatal(err)
	}
	if _, err := check(revoked); !errors.Is(err, secrets.ErrVaultToken) || strings.Contains(err.Error(), tok) {
		t.Fatalf("Check of a revoked token = %v, want ErrVaultToken without the token", err)
	}

	b.srv.Seal(t)
	if _, err := check(b.backend); !errors.Is(err, secrets.ErrVaultSealed) {
		t.Fatalf("Check on a sealed Vault = %v, want ErrVaultSealed", err)
	}
	b.srv.Unseal(t)
	if _, err := check(b.backend); err != nil {
		t.Fatalf("Check after unseal: %v", err)
	}
}
