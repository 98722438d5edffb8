package secrets

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/servicekind"
)

// TestSiteRoleClientHosts: the mariadb role's statements name each
// allow-listed host, CREATE USERs before GRANTs, never '%'; a wildcard
// host is refused before Vault is asked.
func TestSiteRoleClientHosts(t *testing.T) {
	d, _ := servicekind.Lookup(servicekind.MariaDB)
	got := withClientHosts(withDatabase(d.Vault.Creation, "s_abc"), []string{"localhost", "10.0.0.5"})
	if len(got) != 4 || !strings.HasPrefix(got[0], "CREATE USER '{{name}}'@'localhost'") || !strings.HasPrefix(got[1], "CREATE USER '{{name}}'@'10.0.0.5'") ||
		!strings.Contains(got[3], "TO '{{name}}'@'10.0.0.5'") {
		t.Errorf("creation statements = %q", got)
	}
	for _, kind := range []servicekind.Kind{servicekind.MariaDB, servicekind.PostgreSQL} {
		d, _ := servicekind.Lookup(kind)
		if slices.ContainsFunc(append(d.Vault.Creation, d.Vault.Revocation...), func(s string) bool { return strings.Contains(s, "'%'") }) {
			t.Errorf("%s's Vault statements name '%%'", kind)
		}
	}
	v := &VaultStore{}
	err := v.ConfigureSiteRole(context.Background(), SiteRole{SiteID: "06h4v1yb0w01d5t6czrm", ServiceID: "06h4v1yb0w01d5t6czrn", Vault: d.Vault,
		Database: "s_06h4v1yb0w01d5t6czrm", ClientHosts: []string{"%"}})
	if !errors.Is(err, ErrInvalidRef) {
		t.Errorf("ConfigureSiteRole with client host %%: %v, want ErrInvalidRef", err)
	}
}
