package routing_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
)

// routeLimit bounds every wait for Traefik to follow a change: check
// interval 200ms, provider throttle 100ms, watch-mode blocking queries.
const routeLimit = 20 * time.Second

// TestTraefikRoutesSites runs a stock Traefik on the catalog the
// reconciler writes, in front of two builtin web servers, through a site's
// life: install, aliases, disable, enable, migrate, and its server dying.
// The subtests share one set of services and run in order.
func TestTraefikRoutesSites(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{traefik: true})

	a1 := e.install(e.a, "one.example.com", []string{"www.one.example.com", "one.example.net"}, false)
	a2 := e.install(e.a, "two.example.com", []string{"www.two.example.com"}, true)
	b1 := e.install(e.b, "three.example.com", nil, false)
	b2 := e.install(e.b, "four.example.com", []string{"four.example.org"}, false)
	_ = b2

	t.Run("HostsAndAliases", func(t *testing.T) {
		e.t = t
		for _, c := range []struct{ host, site, server string }{
			{"one.example.com", "one.example.com", "web-a"},
			{"www.one.example.com", "one.example.com", "web-a"},
			{"one.example.net", "one.example.com", "web-a"},
			{"two.example.com", "two.example.com", "web-a"},
			{"three.example.com", "three.example.com", "web-b"},
			{"four.example.com", "four.example.com", "web-b"},
			{"four.example.org", "four.example.com", "web-b"},
		} {
			eventually(t, routeLimit, "route "+c.host, func() error {
				code, body, err := e.get(c.host, "/")
				if err != nil {
					return err
				}
				// The builtin server answers an alias with the site's page.
				if code != http.StatusOK || body != page(c.site, c.server) {
					return fmt.Errorf("GET %s = %d %q, want the page of %s on %s", c.host, code, strings.TrimSpace(body), c.site, c.server)
				}
				return nil
			})
		}
		// A redirect-to-main alias answers 301 from Traefik, path and
		// query kept.
		eventually(t, routeLimit, "redirect alias", func() error {
			code, body, err := e.get("www.two.example.com", "/a/b?c=d")
			if err != nil {
				return err
			}
			if code != http.StatusMovedPermanently || body != "Location: http://two.example.com/a/b?c=d" {
				return fmt.Errorf("GET www.two.example.com = %d %q, want 301 to http://two.example.com/a/b?c=d", code, body)
			}
			return nil
		})
		if err := e.notRouted("unknown.example.com")(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("DisableEnable", func(t *testing.T) {
		e.t = t
		e.finish(e.siteTask(b1, domain.TaskDisable, nil), store.SetSiteStatus(b1.ID, domain.SiteDisabled))
		e.publish(e.b, b1, true)
		d := eventually(t, routeLimit, "disabled site dropped", e.notRouted(b1.Domain))
		t.Logf("disable → dropped by Traefik in %s", d)
		if err := e.served("four.example.com", "web-b")(); err != nil {
			t.Fatalf("another site on the same server: %v", err)
		}
		e.publish(e.b, b1, false)
		e.finish(e.siteTask(b1, domain.TaskEnable, nil), store.SetSiteStatus(b1.ID, domain.SiteEnabled))
		d = eventually(t, routeLimit, "enabled site back", e.served(b1.Domain, "web-b"))
		t.Logf("enable → served by Traefik in %s", d)
	})

	t.Run("Migrate", func(t *testing.T) {
		e.t = t
		eventually(t, routeLimit, "served before the move", e.served(a1.Domain, "web-a"))
		// Requests all through the move.
		var total, failed atomic.Int64
		var mu sync.Mutex
		var failures []string
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
				total.Add(1)
				code, body, err := e.get(a1.Domain, "/")
				if err != nil || code != http.StatusOK || (body != page(a1.Domain, "web-a") && body != page(a1.Domain, "web-b")) {
					failed.Add(1)
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%d %q %v", code, strings.TrimSpace(body), err))
					mu.Unlock()
				}
			}
		}()
		// Requests are flowing before the move starts.
		eventually(t, routeLimit, "requests flowing", func() error {
			if total.Load() < 10 {
				return errNotYet
			}
			return nil
		})
		// The migrate task copies the site to B, then the result moves it
		// in the store; the old copy goes once routing left it.
		task := e.siteTask(a1, domain.TaskMigrate, map[string]string{"platform_id": e.b.platform.ID})
		e.publish(e.b, a1, false)
		e.finish(task, store.MoveSite(a1.ID, a1.Domain, a1.Aliases, e.b.platform.ID, a1.DBServerID))
		d := eventually(t, routeLimit, "old instance removed", func() error {
			nodes, err := e.instances(a1.ID)
			if err != nil {
				return err
			}
			if !slices.Equal(nodes, []string{"aegir-web-b"}) {
				return fmt.Errorf("instances on %v, want only aegir-web-b", nodes)
			}
			return nil
		})
		t.Logf("move → only on B in the catalog after %s", d)
		eventually(t, routeLimit, "only B serves", func() error {
			for range 10 {
				if err := e.served(a1.Domain, "web-b")(); err != nil {
					return err
				}
			}
			return nil
		})
		if err := e.a.driver.Remove(e.ctx, a1.Domain); err != nil {
			t.Fatal(err)
		}
		for range 20 {
			if err := e.served(a1.Domain, "web-b")(); err != nil {
				t.Fatalf("after the move: %v", err)
			}
		}
		close(stop)
		wg.Wait()
		t.Logf("%d requests during the move, %d failed", total.Load(), failed.Load())
		if failed.Load() > 3 {
			t.Fatalf("%d of %d requests failed during the move (at most 3 allowed): %v", failed.Load(), total.Load(), failures)
		}
	})

	t.Run("ServerDown", func(t *testing.T) {
		e.t = t
		eventually(t, routeLimit, "served before", e.served(a2.Domain, "web-a"))
		// Shutdown closes the listener and idle connections at once; a
		// connection still busy when it gives up does not matter here.
		ctx, cancel := context.WithTimeout(e.ctx, 2*time.Second)
		defer cancel()
		if err := e.a.srv.Shutdown(ctx); err != nil {
			t.Logf("shutdown of web-a: %v", err)
		}
		d := eventually(t, routeLimit, "sites of the dead server dropped", e.notRouted(a2.Domain))
		t.Logf("server down → its sites dropped in %s", d)
		// Its instance is still in the catalog, critical.
		entries, _, err := e.client.Health().Service("aegir-site", "aegir", false, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, en := range entries {
			if en.Node.Node == "aegir-web-a" && en.Checks.AggregatedStatus() != "critical" {
				t.Errorf("%s on %s is %s, want critical", en.Service.ID, en.Node.Node, en.Checks.AggregatedStatus())
			}
		}
		// Sites on B, including the one moved there, still answer.
		for _, h := range []string{"three.example.com", "four.example.com", "one.example.com"} {
			if err := e.served(h, "web-b")(); err != nil {
				t.Error(err)
			}
		}
	})
}

// TestOpsTraefikConfig runs the configuration shipped for operators,
// ops/traefik/traefik.yml: it routes aegir's sites, redirect aliases
// included, and nothing else in the catalog (its constraint on the aegir
// tag).
func TestOpsTraefikConfig(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{opsConfig: true})
	// Someone else's service that would be routed without the constraint.
	port := e.a.ln.Addr().(*net.TCPAddr).Port
	if _, err := e.client.Catalog().Register(&api.CatalogRegistration{Node: "other", Address: "127.0.0.1",
		Service: &api.AgentService{ID: "other", Service: "other", Port: port,
			Tags: []string{"traefik.enable=true", "traefik.http.routers.other.rule=Host(`other.example.com`)"}}}, nil); err != nil {
		t.Fatal(err)
	}
	// Installed after it, so serving them proves Traefik has read it.
	e.install(e.a, "ops.example.com", []string{"www.ops.example.com"}, true)
	e.install(e.b, "ops2.example.com", nil, false)
	eventually(t, routeLimit, "site on A", e.served("ops.example.com", "web-a"))
	eventually(t, routeLimit, "site on B", e.served("ops2.example.com", "web-b"))
	eventually(t, routeLimit, "redirect alias", func() error {
		code, body, err := e.get("www.ops.example.com", "/x")
		if err != nil {
			return err
		}
		if code != http.StatusMovedPermanently || body != "Location: http://ops.example.com/x" {
			return fmt.Errorf("GET www.ops.example.com/x = %d %q", code, body)
		}
		return nil
	})
	if err := e.notRouted("other.example.com")(); err != nil {
		t.Fatalf("a service without the aegir tag: %v", err)
	}
}
