package secrets_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/servicekind"
	"github.com/aegirhq/aegir/secrets"
)

// fakeVault answers a token lookup and records the body of every write,
// so the statements ConfigureSiteRole sends can be checked without a
// Vault agent.
func fakeVault(t *testing.T) (*secrets.VaultStore, func(path string) map[string]any) {
	t.Helper()
	var mu sync.Mutex
	writes := map[string]map[string]any{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/auth/token/lookup-self" {
			_, _ = w.Write([]byte(`{"data":{"ttl":0,"renewable":false}}`))
			return
		}
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		writes[strings.TrimPrefix(r.URL.Path, "/v1/")] = body
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	st, err := secrets.NewVault(secrets.VaultConfig{Addr: srv.URL, Token: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st, func(path string) map[string]any {
		mu.Lock()
		defer mu.Unlock()
		return writes[path]
	}
}

// TestSiteRoleStatementsComeFromTheDescriptor: the statements Vault gets
// are the kind's servicekind descriptor's, with the site's database in
// place of {{database}}.
func TestSiteRoleStatementsComeFromTheDescriptor(t *testing.T) {
	t.Parallel()
	st, written := fakeVault(t)
	ctx := context.Background()
	for _, kind := range []servicekind.Kind{servicekind.MariaDB, servicekind.PostgreSQL} {
		d, _ := servicekind.Lookup(kind)
		site, svc := domain.NewID(), domain.NewID()
		db := "s_" + site
		if err := st.ConfigureSiteRole(ctx, secrets.SiteRole{SiteID: site, ServiceID: svc, Vault: d.Vault, Database: db}); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		body := written("database/roles/" + secrets.SiteRoleName(site))
		create, _ := json.Marshal(body["creation_statements"])
		revoke, _ := json.Marshal(body["revocation_statements"])
		if !strings.Contains(string(create), db) || strings.Contains(string(create), "{{database}}") || !strings.Contains(string(create), "{{name}}") {
			t.Errorf("%s: creation statements %s", kind, create)
		}
		if !strings.Contains(string(revoke), "DROP") {
			t.Errorf("%s: revocation statements %s", kind, revoke)
		}
		if body["db_name"] != svc {
			t.Errorf("%s: db_name %v", kind, body["db_name"])
		}
		if err := st.ConfigureDatabase(ctx, secrets.DatabaseConnection{ServiceID: svc, Vault: d.Vault, Host: "127.0.0.1", Port: d.DefaultPort, Username: "admin"}); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if c := written("database/config/" + svc); c["plugin_name"] != d.Vault.Plugin {
			t.Errorf("%s: plugin %v", kind, c["plugin_name"])
		}
	}
	sq, _ := servicekind.Lookup(servicekind.SQLite)
	if err := st.ConfigureSiteRole(ctx, secrets.SiteRole{SiteID: domain.NewID(), ServiceID: domain.NewID(), Vault: sq.Vault, Database: "s_x"}); !errors.Is(err, secrets.ErrInvalidRef) {
		t.Errorf("a kind without a Vault plugin: %v, want ErrInvalidRef", err)
	}
	if err := st.ConfigureDatabase(ctx, secrets.DatabaseConnection{ServiceID: domain.NewID(), Vault: &servicekind.VaultDB{Plugin: "oracle-database-plugin"}, Host: "h", Port: 1, Username: "u"}); !errors.Is(err, secrets.ErrInvalidRef) {
		t.Errorf("an unknown plugin: %v, want ErrInvalidRef", err)
	}
}
