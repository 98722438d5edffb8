package routing_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/hashicorp/consul/api"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/routing"
	"github.com/aegirhq/aegir/internal/store"
)

// TestReconcilerRepairsDrift changes the catalog behind the reconciler's
// back, both ways, and watches it repair the catalog.
func TestReconcilerRepairsDrift(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{})
	site := e.install(e.a, "drift.example.com", []string{"www.drift.example.com"}, false)
	pending := &domain.Site{Domain: "pending.example.com", PlatformID: e.b.platform.ID, DBServerID: e.b.server.ID, ClientID: e.owner.ID}
	if _, err := e.store.CreateSite(e.ctx, pending, "test"); err != nil {
		t.Fatal(err)
	}
	want := func(nodes ...string) func() error {
		return func() error {
			got, err := e.instances(site.ID)
			if err != nil {
				return err
			}
			if !slices.Equal(got, nodes) {
				return fmt.Errorf("instances on %v, want %v", got, nodes)
			}
			return nil
		}
	}
	eventually(t, routeLimit, "published", want("aegir-web-a"))
	passing := func() error {
		entries, _, err := e.client.Health().Service("aegir-site", "aegir", true, nil)
		if err != nil {
			return err
		}
		if len(entries) != 1 || entries[0].Service.ID != routing.ServiceID(site.ID) {
			return fmt.Errorf("%d passing instances, want the one of %s", len(entries), site.Domain)
		}
		return nil
	}
	eventually(t, routeLimit, "passing", passing)

	// A pending site is not published.
	if got, _ := e.instances(pending.ID); len(got) != 0 {
		t.Fatalf("pending site published on %v", got)
	}

	// Missing: someone deregistered it.
	if _, err := e.client.Catalog().Deregister(&api.CatalogDeregistration{Node: "aegir-web-a", ServiceID: routing.ServiceID(site.ID)}, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, routeLimit, "re-registered", want("aegir-web-a"))
	eventually(t, routeLimit, "passing again", passing)

	// Changed: someone rewrote its tags.
	if _, err := e.client.Catalog().Register(&api.CatalogRegistration{Node: "aegir-web-a", Address: "127.0.0.1", SkipNodeUpdate: true,
		Service: &api.AgentService{ID: routing.ServiceID(site.ID), Service: "aegir-site", Tags: []string{"aegir", "traefik.enable=true"}, Address: "127.0.0.1", Port: 1}}, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, routeLimit, "tags restored", func() error {
		entries, _, err := e.client.Health().Service("aegir-site", "aegir", false, nil)
		if err != nil {
			return err
		}
		for _, en := range entries {
			if en.Service.ID == routing.ServiceID(site.ID) && slices.Contains(en.Service.Tags, "traefik.http.routers.aegir-"+site.ID+".rule=Host(`drift.example.com`) || Host(`www.drift.example.com`)") && en.Service.Port != 1 {
				return nil
			}
		}
		return fmt.Errorf("instance not restored: %+v", entries)
	})

	// Stale: instances of a site that does not exist, and one with the
	// aegir tag but not an aegir ID, are removed; other services stay.
	ghost := domain.NewID()
	for _, reg := range []*api.CatalogRegistration{
		{Node: "aegir-web-b", Address: "127.0.0.1", Service: &api.AgentService{ID: routing.ServiceID(ghost), Service: "aegir-site", Tags: []string{"aegir"}, Port: 80}},
		{Node: "aegir-web-b", Address: "127.0.0.1", Service: &api.AgentService{ID: "not-ours", Service: "aegir-site", Tags: []string{"aegir"}, Port: 80}},
		{Node: "aegir-web-b", Address: "127.0.0.1", Service: &api.AgentService{ID: "other", Service: "other", Port: 80}},
	} {
		if _, err := e.client.Catalog().Register(reg, nil); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, routeLimit, "stale instances removed", func() error {
		entries, _, err := e.client.Health().Service("aegir-site", "", false, nil)
		if err != nil {
			return err
		}
		if len(entries) != 1 {
			return fmt.Errorf("%d instances, want 1", len(entries))
		}
		return nil
	})
	if other, _, err := e.client.Catalog().Service("other", "", nil); err != nil || len(other) != 1 {
		t.Fatalf("a service that is not aegir's was touched: %v %v", other, err)
	}

	// Deleted from the store: gone from the catalog.
	e.finish(e.siteTask(site, domain.TaskDelete, nil), store.RemoveSite(site.ID))
	eventually(t, routeLimit, "deleted site removed", want())
}
