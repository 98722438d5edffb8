package routing_test

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/store/boltkv"
)

// Two aegir installations (a production and a staging one, two KV
// prefixes) publish into one Consul, with the same server names: each
// keeps its own sites published and never removes the other's, and their
// catalog nodes do not collide.
func TestTwoInstallationsShareConsul(t *testing.T) {
	t.Parallel()
	prod := setup(t, envOpts{noReconciler: true})
	prod.instance = "aegir/v1/"

	kv, err := boltkv.Open(filepath.Join(t.TempDir(), "staging.db"), &boltkv.Config{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(kv, &store.Config{Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { st.Close() })
	staging := *prod
	staging.store, staging.instance = st, "aegir-staging/v1/"
	staging.owner = &domain.Client{Name: "acme"}
	if err := st.CreateClient(staging.ctx, staging.owner); err != nil {
		t.Fatal(err)
	}
	staging.a = staging.webServer("web-a") // the same server name as prod's

	prod.startReconciler("", testLogger(t))
	staging.startReconciler("", testLogger(t))
	p := prod.install(prod.a, "shop.example.com", nil, false)
	s := staging.install(staging.a, "shop.staging.example.com", nil, false)

	published := func(site *domain.Site, node string) func() error {
		return func() error {
			nodes, err := prod.instances(site.ID)
			if err != nil {
				return err
			}
			if !slices.Equal(nodes, []string{node}) {
				return fmt.Errorf("%s is on nodes %v, want [%s]: %w", site.Domain, nodes, node, errNotYet)
			}
			return nil
		}
	}
	eventually(t, 20*time.Second, "both installations' sites published", func() error {
		if err := published(p, "aegir-web-a")(); err != nil {
			return err
		}
		return published(s, "aegir-aegir-staging-v1-web-a")()
	})
	// Several passes of each reconciler later, both are still there.
	time.Sleep(time.Second)
	if err := published(p, "aegir-web-a")(); err != nil {
		t.Error(err)
	}
	if err := published(s, "aegir-aegir-staging-v1-web-a")(); err != nil {
		t.Error(err)
	}
	// Staging disables its site: only it goes.
	staging.finish(staging.siteTask(s, domain.TaskDisable, nil), store.SetSiteStatus(s.ID, domain.SiteDisabled))
	eventually(t, 20*time.Second, "the staging site removed", func() error {
		nodes, err := prod.instances(s.ID)
		if err != nil {
			return err
		}
		if len(nodes) != 0 {
			return fmt.Errorf("still on %v: %w", nodes, errNotYet)
		}
		return nil
	})
	if err := published(p, "aegir-web-a")(); err != nil {
		t.Error(err)
	}
}
