package secrets_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/testharness"
	"github.com/aegirhq/aegir/secrets"
)

// vaultBundle is a dev Vault set up like ops/vault/setup-dev.sh does: the
// database engine mounted and aegir's policies loaded from ops/vault/*.hcl,
// with a root client and one store per policy.
type vaultBundle struct {
	srv       *testharness.VaultServer
	root      *vault.Client
	backend   *secrets.VaultStore // token with policy aegir-backend only
	dashboard *secrets.VaultStore // token with policy aegir-dashboard only
}

func opsVaultDir(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "ops", "vault")
}

func setupVault(t testing.TB) *vaultBundle {
	t.Helper()
	srv := testharness.Vault(t)
	cfg := vault.DefaultConfig()
	cfg.Address = srv.Addr
	root, err := vault.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	root.SetToken(srv.RootToken)
	if err := root.Sys().Mount("database", &vault.MountInput{Type: "database"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"aegir-backend", "aegir-dashboard"} {
		b, err := os.ReadFile(filepath.Join(opsVaultDir(t), p+".hcl"))
		if err != nil {
			t.Fatal(err)
		}
		if err := root.Sys().PutPolicy(p, string(b)); err != nil {
			t.Fatalf("policy %s from ops/vault: %v", p, err)
		}
	}
	return &vaultBundle{srv: srv, root: root,
		backend:   storeWithPolicy(t, srv, root, "aegir-backend", "1h"),
		dashboard: storeWithPolicy(t, srv, root, "aegir-dashboard", "1h"),
	}
}

// tokenWithPolicy creates a renewable token holding only policy (and
// Vault's default policy).
func tokenWithPolicy(t testing.TB, root *vault.Client, policy, ttl string) string {
	t.Helper()
	s, err := root.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{policy}, TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	return s.Auth.ClientToken
}

func storeWithPolicy(t testing.TB, srv *testharness.VaultServer, root *vault.Client, policy, ttl string) *secrets.VaultStore {
	t.Helper()
	s, err := secrets.NewVault(secrets.VaultConfig{Addr: srv.Addr, Token: tokenWithPolicy(t, root, policy, ttl)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestVaultStoreCRUD(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupVault(t)
	ref := secrets.SiteDBRef(domain.NewID())

	if _, err := b.backend.Get(ctx, ref); !errors.Is(err, secrets.ErrNotFound) {
		t.Fatalf("Get missing = %v, want ErrNotFound", err)
	}
	want := map[string]string{"username": "s_x", "password": "pw-" + domain.NewID()}
	if err := b.backend.Put(ctx, ref, want); err != nil {
		t.Fatal(err)
	}
	got, err := b.backend.Get(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if got["username"] != want["username"] || got["password"] != want["password"] || len(got) != 2 {
		t.Fatalf("Get = %v, want %v", got, want)
	}
	// Where it lives: KV v2 secret/ under aegir/.
	kv, err := b.root.KVv2("secret").Get(ctx, "aegir/"+ref)
	if err != nil || kv.Data["password"] != want["password"] {
		t.Fatalf("secret/aegir/%s = %v, %v", ref, kv, err)
	}
	want["password"] = "pw2-" + domain.NewID()
	if err := b.backend.Put(ctx, ref, want); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.backend.Get(ctx, ref); got["password"] != want["password"] {
		t.Fatalf("after update Get = %v", got)
	}
	if err := b.backend.Delete(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if _, err := b.backend.Get(ctx, ref); !errors.Is(err, secrets.ErrNotFound) {
		t.Fatalf("Get deleted = %v, want ErrNotFound", err)
	}
	// Delete removed every version, not just the latest.
	if v, err := b.root.KVv2("secret").GetVersion(ctx, "aegir/"+ref, 1); err == nil {
		t.Fatalf("version 1 survived Delete: %v", v.Data)
	}
	if err := b.backend.Delete(ctx, ref); err != nil {
		t.Fatalf("Delete missing = %v, want nil", err)
	}
	for _, bad := range []string{"", "../x", "sites//db", "sites/a b/db"} {
		if _, err := b.backend.Get(ctx, bad); !errors.Is(err, secrets.ErrInvalidRef) {
			t.Errorf("Get(%q) = %v, want ErrInvalidRef", bad, err)
		}
	}
}

// The policies the tests run under are ops/vault/*.hcl: the dashboard
// writes admin credentials but cannot read them back; the back end reads
// them but cannot write them; neither lists.
func TestVaultPolicies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupVault(t)
	svc := domain.NewID()
	admin := secrets.ServiceAdminRef(svc)
	password := "admin-pw-" + domain.NewID()

	if err := b.dashboard.Put(ctx, admin, map[string]string{"username": "root", "password": password}); err != nil {
		t.Fatalf("dashboard writes admin credentials: %v", err)
	}
	_, err := b.dashboard.Get(ctx, admin)
	var ve *secrets.VaultError
	if !errors.Is(err, secrets.ErrVaultDenied) || !errors.As(err, &ve) {
		t.Fatalf("dashboard reads admin credentials: %v, want ErrVaultDenied", err)
	}
	wantMsg := "the Vault policy of this token does not allow reading secret/data/aegir/services/" + svc + "/admin; see ops/vault/*.hcl"
	if !strings.Contains(err.Error(), wantMsg) {
		t.Errorf("message %q\nwant it to contain %q", err, wantMsg)
	}
	if ve.Hint() == "" {
		t.Error("no fix hint")
	}
	got, err := b.backend.Get(ctx, admin)
	if err != nil || got["password"] != password {
		t.Fatalf("backend reads admin credentials: %v", err)
	}
	if err := b.backend.Put(ctx, admin, map[string]string{"username": "x", "password": "y"}); !errors.Is(err, secrets.ErrVaultDenied) {
		t.Fatalf("backend writes admin credentials: %v, want ErrVaultDenied", err)
	}

	site := secrets.SiteDBRef(domain.NewID())
	if err := b.dashboard.Put(ctx, site, map[string]string{"password": "p"}); err != nil {
		t.Fatalf("dashboard writes a site secret: %v", err)
	}
	if _, err := b.dashboard.Get(ctx, site); !errors.Is(err, secrets.ErrVaultDenied) {
		t.Fatalf("dashboard reads a site secret: %v, want ErrVaultDenied", err)
	}
	if err := b.dashboard.Delete(ctx, site); err != nil {
		t.Fatalf("dashboard deletes a site secret: %v", err)
	}

	// Nobody lists: not the prefix, not the mount.
	for name, tok := range map[string]string{
		"backend":   tokenWithPolicy(t, b.root, "aegir-backend", "1h"),
		"dashboard": tokenWithPolicy(t, b.root, "aegir-dashboard", "1h"),
	} {
		c, _ := b.root.Clone()
		c.SetToken(tok)
		for _, p := range []string{"secret/metadata/aegir/sites", "secret/metadata/aegir/services", "secret/metadata", "database/roles", "sys/leases/lookup/database/creds"} {
			if _, err := c.Logical().List(p); err == nil || !strings.Contains(err.Error(), "permission denied") {
				t.Errorf("%s lists %s: %v", name, p, err)
			}
		}
	}
	// No error message quotes the password.
	if strings.Contains(ve.Error(), password) || strings.Contains(ve.Detail, password) {
		t.Error("an error quotes the password")
	}
}

func TestVaultTokenExpired(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupVault(t)
	tok := tokenWithPolicy(t, b.root, "aegir-backend", "1h")
	s, err := secrets.NewVault(secrets.VaultConfig{Addr: b.srv.Addr, Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := b.root.Auth().Token().RevokeTree(tok); err != nil {
		t.Fatal(err)
	}
	_, err = s.Get(ctx, secrets.SiteDBRef(domain.NewID()))
	if !errors.Is(err, secrets.ErrVaultToken) {
		t.Fatalf("Get with a revoked token = %v, want ErrVaultToken", err)
	}
	if !strings.Contains(err.Error(), "invalid or expired") {
		t.Errorf("message %q", err)
	}
	if _, err := secrets.NewVault(secrets.VaultConfig{Addr: b.srv.Addr, Token: tok}); !errors.Is(err, secrets.ErrVaultToken) {
		t.Fatalf("NewVault with a revoked token = %v, want ErrVaultToken", err)
	}
}

// A renewable token is renewed while the store is open.
func TestVaultTokenRenewed(t *testing.T) {
	t.Parallel()
	b := setupVault(t)
	s, err := b.root.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"aegir-backend"}, TTL: "4s", ExplicitMaxTTL: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	tok := s.Auth.ClientToken
	st, err := secrets.NewVault(secrets.VaultConfig{Addr: b.srv.Addr, Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	time.Sleep(6 * time.Second) // past the first TTL
	if _, err := st.Get(context.Background(), secrets.SiteDBRef(domain.NewID())); !errors.Is(err, secrets.ErrNotFound) {
		t.Fatalf("Get after the token's first TTL = %v, want ErrNotFound (token renewed)", err)
	}
}

func TestVaultSealed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupVault(t)
	ref := secrets.SiteDBRef(domain.NewID())
	if err := b.backend.Put(ctx, ref, map[string]string{"password": "p"}); err != nil {
		t.Fatal(err)
	}
	b.srv.Seal(t)
	_, err := b.backend.Get(ctx, ref)
	if !errors.Is(err, secrets.ErrVaultSealed) {
		t.Fatalf("Get on a sealed Vault = %v, want ErrVaultSealed", err)
	}
	want := "Vault at " + b.srv.Addr + " is sealed; unseal it (vault operator unseal) and retry the task"
	if err.Error() != want {
		t.Errorf("message %q\nwant      %q", err, want)
	}
	if err := b.backend.Put(ctx, ref, map[string]string{"password": "q"}); !errors.Is(err, secrets.ErrVaultSealed) {
		t.Fatalf("Put on a sealed Vault = %v", err)
	}
	b.srv.Unseal(t)
	if got, err := b.backend.Get(ctx, ref); err != nil || got["password"] != "p" {
		t.Fatalf("after unseal: %v %v", got, err)
	}
}

func TestVaultUnreachable(t *testing.T) {
	t.Parallel()
	port := testharness.FreePort(t)
	zero := 0
	_, err := secrets.NewVault(secrets.VaultConfig{Addr: "http://127.0.0.1:" + strconv.Itoa(port), Token: "x", MaxRetries: &zero, Timeout: 2 * time.Second})
	if !errors.Is(err, secrets.ErrVaultUnreachable) {
		t.Fatalf("NewVault on a closed port = %v, want ErrVaultUnreachable", err)
	}
	if !strings.Contains(err.Error(), "is unreachable") || !strings.Contains(err.Error(), "VAULT_ADDR") {
		t.Errorf("message %q", err)
	}
}

// An AppRole store logs in again when its token reaches its max TTL.
func TestVaultAppRoleLogsInAgain(t *testing.T) {
	t.Parallel()
	b := setupVault(t)
	if err := b.root.Sys().EnableAuthWithOptions("approle", &vault.EnableAuthOptions{Type: "approle"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.root.Logical().Write("auth/approle/role/short", map[string]any{
		"token_policies": "aegir-backend", "token_ttl": "2s", "token_max_ttl": "4s"}); err != nil {
		t.Fatal(err)
	}
	rid, err := b.root.Logical().Read("auth/approle/role/short/role-id")
	if err != nil {
		t.Fatal(err)
	}
	sid, err := b.root.Logical().Write("auth/approle/role/short/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := secrets.NewVault(secrets.VaultConfig{Addr: b.srv.Addr,
		RoleID: rid.Data["role_id"].(string), SecretID: sid.Data["secret_id"].(string)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ref := secrets.SiteDBRef(domain.NewID())
	deadline := time.Now().Add(9 * time.Second) // past two max TTLs
	for time.Now().Before(deadline) {
		if err := st.Put(context.Background(), ref, map[string]string{"password": "p"}); err != nil {
			t.Fatalf("Put %s after the AppRole login: %v", time.Until(deadline).Round(time.Second), err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestVaultWebhookSecrets: the server's token (aegir-dashboard) writes a
// webhook's signing secret, reads it back to sign deliveries and deletes
// it with its subscription; back ends cannot read it.
func TestVaultWebhookSecrets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupVault(t)
	ref := secrets.WebhookSecretRef(domain.NewID())
	if err := b.dashboard.Put(ctx, ref, map[string]string{"secret": "whsec"}); err != nil {
		t.Fatalf("dashboard writes a webhook secret: %v", err)
	}
	if got, err := b.dashboard.Get(ctx, ref); err != nil || got["secret"] != "whsec" {
		t.Fatalf("dashboard reads a webhook secret: %v %v", got, err)
	}
	if _, err := b.backend.Get(ctx, ref); !errors.Is(err, secrets.ErrVaultDenied) {
		t.Errorf("backend reads a webhook secret: %v, want ErrVaultDenied", err)
	}
	if err := b.dashboard.Delete(ctx, ref); err != nil {
		t.Fatalf("dashboard deletes a webhook secret: %v", err)
	}
	if _, err := b.dashboard.Get(ctx, ref); !errors.Is(err, secrets.ErrNotFound) {
		t.Errorf("after delete: %v, want ErrNotFound", err)
	}
}

// An AppRole store whose token is revoked notices it within TokenCheck,
// without a request of its own, and logs in again.
func TestVaultAppRoleTokenRevoked(t *testing.T) {
	t.Parallel()
	b := setupVault(t)
	if err := b.root.Sys().EnableAuthWithOptions("approle", &vault.EnableAuthOptions{Type: "approle"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.root.Logical().Write("auth/approle/role/long", map[string]any{
		"token_policies": "aegir-backend", "token_ttl": "1h", "token_max_ttl": "2h"}); err != nil {
		t.Fatal(err)
	}
	rid, err := b.root.Logical().Read("auth/approle/role/long/role-id")
	if err != nil {
		t.Fatal(err)
	}
	sid, err := b.root.Logical().Write("auth/approle/role/long/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := secrets.NewVault(secrets.VaultConfig{Addr: b.srv.Addr, TokenCheck: 300 * time.Millisecond,
		RoleID: rid.Data["role_id"].(string), SecretID: sid.Data["secret_id"].(string)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if _, err := st.Check(ctx); err != nil {
		t.Fatal(err)
	}
	// Revoke every token of the role, as an operator would on a leak.
	accessors, err := b.root.Logical().List("auth/token/accessors")
	if err != nil {
		t.Fatal(err)
	}
	revoked := 0
	for _, a := range accessors.Data["keys"].([]any) {
		info, err := b.root.Auth().Token().LookupAccessor(a.(string))
		if err != nil || info.Data["display_name"] != "approle" {
			continue
		}
		if err := b.root.Auth().Token().RevokeAccessor(a.(string)); err != nil {
			t.Fatal(err)
		}
		revoked++
	}
	if revoked == 0 {
		t.Fatal("no AppRole token to revoke")
	}
	start := time.Now()
	sawBad := false
	for {
		_, err := st.Check(ctx)
		if err == nil && sawBad {
			break
		}
		if err != nil {
			sawBad = true
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("the revoked token was not replaced within 5s (check every 300ms): %v (saw it invalid: %v)", err, sawBad)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("revoked token replaced after %s", time.Since(start).Round(10*time.Millisecond))
	if err := st.Put(ctx, secrets.SiteDBRef(domain.NewID()), map[string]string{"password": "p"}); err != nil {
		t.Fatalf("Put after the new login: %v", err)
	}
}
