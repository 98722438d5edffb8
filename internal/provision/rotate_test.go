package provision_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/secrets"
)

// rotate-credentials on the embedded defaults (file secrets, sqlite): a
// new password in the store, the site still answers. The Vault, MariaDB
// and PostgreSQL cases are in vault_test.go.
func TestRotateCredentialsFileStore(t *testing.T) {
	t.Parallel()
	b := setup(t)
	site := b.installed("rotate.example.com", "static1")
	st, err := secrets.OpenFile(filepath.Join(b.dataDir, "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	before, err := st.Get(context.Background(), secrets.SiteDBRef(site.ID))
	if err != nil {
		t.Fatal(err)
	}
	res := b.mustRun(b.ctx(domain.TaskRotateCredentials, site, "static1"))
	after, err := st.Get(context.Background(), secrets.SiteDBRef(site.ID))
	if err != nil {
		t.Fatal(err)
	}
	if after["password"] == before["password"] || after["password"] == "" {
		t.Fatal("the password did not change")
	}
	if after["hash_salt"] != before["hash_salt"] {
		t.Error("rotation changed the hash salt")
	}
	if code, _ := b.get(site.Domain, "/"); code != 200 {
		t.Fatalf("after rotation the site answers %d", code)
	}
	if res.Summary == "" {
		t.Error("no summary")
	}
}
