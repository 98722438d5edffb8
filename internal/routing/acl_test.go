package routing_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/routing"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/testharness"
)

// setupACL runs ops/consul/setup-acl.sh against agent with its management
// token, as an operator would, twice (a second run keeps the tokens), and
// returns the secrets it wrote for aegir and for Traefik.
func setupACL(t testing.TB, agent *testharness.ConsulAgent) (aegir, traefik string) {
	t.Helper()
	consul, err := testharness.BinPath("consul")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "tokens")
	run := func() (string, string) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", filepath.Join("..", "..", "ops", "consul", "setup-acl.sh"), out)
		cmd.Env = append(os.Environ(), "CONSUL_HTTP_ADDR="+agent.Addr, "CONSUL_HTTP_TOKEN="+agent.ManagementToken,
			"PATH="+filepath.Dir(consul)+":"+os.Getenv("PATH"), "AEGIR_CONSUL_PREFIX=")
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("ops/consul/setup-acl.sh: %v\n%s", err, b)
		}
		if strings.Contains(string(b), agent.ManagementToken) {
			t.Fatalf("ops/consul/setup-acl.sh printed the management token:\n%s", b)
		}
		read := func(name string) string {
			p := filepath.Join(out, name)
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s has mode %v, want 0600", name, fi.Mode().Perm())
			}
			s, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), strings.TrimSpace(string(s))) {
				t.Errorf("ops/consul/setup-acl.sh printed the secret of %s", name)
			}
			return strings.TrimSpace(string(s))
		}
		return read("aegir.token"), read("traefik.token")
	}
	aegir, traefik = run()
	if aegir == "" || traefik == "" || aegir == traefik {
		t.Fatalf("ops/consul/setup-acl.sh wrote tokens %.8q and %.8q", aegir, traefik)
	}
	if a2, t2 := run(); a2 != aegir || t2 != traefik {
		t.Fatal("a second run of ops/consul/setup-acl.sh replaced the tokens")
	}
	return aegir, traefik
}

// TestRoutingACL: on a Consul with ACLs on (default deny), holding only the
// tokens ops/consul/setup-acl.sh makes from the policies in ops/consul/,
// the reconciler publishes, updates and removes sites, keeps their health,
// and a stock Traefik with ops/traefik/traefik.yml routes them.
func TestRoutingACL(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{acl: true, opsConfig: true})
	one := e.install(e.a, "acl-one.example.com", []string{"www.acl-one.example.com"}, false)
	two := e.install(e.b, "acl-two.example.com", nil, false)
	eventually(t, routeLimit, "site on A", e.served(one.Domain, "web-a"))
	eventually(t, routeLimit, "alias on A", func() error {
		code, body, err := e.get("www.acl-one.example.com", "/")
		if err != nil || code != 200 || body != page(one.Domain, "web-a") {
			return fmt.Errorf("GET www.acl-one.example.com = %d %q %v", code, body, err)
		}
		return nil
	})
	eventually(t, routeLimit, "site on B", e.served(two.Domain, "web-b"))

	// Disabled: deregistered (a catalog delete under the token) and dropped.
	e.finish(e.siteTask(one, domain.TaskDisable, nil), store.SetSiteStatus(one.ID, domain.SiteDisabled))
	eventually(t, routeLimit, "disabled site removed", func() error {
		nodes, err := e.instances(one.ID)
		if err != nil || len(nodes) != 0 {
			return fmt.Errorf("instances on %v, %v; want none", nodes, err)
		}
		return nil
	})
	eventually(t, routeLimit, "disabled site dropped", e.notRouted(one.Domain))

	// Web server B dies: the reconciler writes the critical check status
	// (a catalog write of its own) and Traefik stops routing there.
	ctx, cancel := context.WithTimeout(e.ctx, 2*time.Second)
	defer cancel()
	if err := e.b.srv.Shutdown(ctx); err != nil {
		t.Logf("shutdown of web-b: %v", err)
	}
	eventually(t, routeLimit, "site of the dead server dropped", e.notRouted(two.Domain))
	entries, _, err := e.client.Health().Service("aegir-site", "aegir", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Checks.AggregatedStatus() != "critical" {
		t.Fatalf("want the instance of %s, critical; got %d entries %+v", two.Domain, len(entries), entries)
	}
}

// TestRoutingACLDenied: a reconciler whose Consul token is missing, unknown,
// or only Traefik's (read) logs an error that wraps
// routing.ErrPermissionDenied and says what Consul refused, which setting
// to fix and which policy to give; and the catalog stays as it was.
func TestRoutingACLDenied(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{acl: true, noReconciler: true})
	site := e.install(e.a, "denied.example.com", nil, false)
	const unknown = "5d0c7a6e-2b7f-4f1e-8d9a-0c3b2a1f4e5d"
	grant := `give the token in store.consul.token (CONSUL_HTTP_TOKEN) the policy in ops/consul/aegir-policy.hcl (node_prefix "aegir-" and service "aegir-site", policy "write")`
	for _, c := range []struct {
		name, token string
		want        []string
	}{
		{"NoToken", "", []string{"Consul refused to register denied.example.com on aegir-web-a",
			"no ACL token is set", "store.consul.token (or CONSUL_HTTP_TOKEN)", "ops/consul/aegir-policy.hcl", "'service:write'"}},
		{"UnknownToken", unknown, []string{"Consul refused to read the instances of aegir-site from the catalog",
			"it does not know the ACL token in store.consul.token (CONSUL_HTTP_TOKEN)", "ACL not found"}},
		{"ReadOnly", e.traefikToken, []string{"Consul ACL token lacks permission to register denied.example.com on aegir-web-a",
			grant, "'service:write' on \"aegir-site\""}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			logs := &errorLog{}
			stop := e.startReconciler(c.token, slog.New(logs))
			err := logs.wait(t, routeLimit)
			// Retried after a backoff (200ms, doubling), not at once: a
			// lasting refusal must not spin against Consul.
			time.Sleep(time.Second)
			stop()
			if n := logs.count(); n > 8 {
				t.Errorf("%d errors logged within a second of the first: the refusal is retried without backoff", n)
			}
			if !errors.Is(err, routing.ErrPermissionDenied) {
				t.Fatalf("logged %v, want an error wrapping routing.ErrPermissionDenied", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if c.token != "" && strings.Contains(err.Error(), c.token) {
				t.Errorf("error holds the token: %v", err)
			}
			if l := logs.level(); l != slog.LevelError {
				t.Errorf("logged at %v, want error: it needs the operator", l)
			}
			t.Log(err)
			if nodes, err := e.instances(site.ID); err != nil || len(nodes) != 0 {
				t.Fatalf("catalog changed by a refused reconciler: %v %v", nodes, err)
			}
		})
	}

	// The same store with aegir's token: published.
	e.startReconciler(e.aegirToken, testLogger(t))
	eventually(t, routeLimit, "published with aegir's token", func() error {
		nodes, err := e.instances(site.ID)
		if err != nil || !slices.Equal(nodes, []string{"aegir-web-a"}) {
			return fmt.Errorf("instances on %v, %v", nodes, err)
		}
		return nil
	})
}

// errorLog is a slog.Handler that keeps the first "err" attribute logged
// at warning level or above, its level, and how many there were.
type errorLog struct {
	mu  sync.Mutex
	err error
	lvl slog.Level
	n   int
}

func (h *errorLog) Enabled(context.Context, slog.Level) bool { return true }

func (h *errorLog) Handle(_ context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok && a.Key == "err" {
			h.mu.Lock()
			if h.err == nil {
				h.err, h.lvl = err, r.Level
			}
			h.n++
			h.mu.Unlock()
			return false
		}
		return true
	})
	return nil
}

func (h *errorLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *errorLog) WithGroup(string) slog.Handler      { return h }

func (h *errorLog) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

func (h *errorLog) level() slog.Level {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lvl
}

// wait returns the first error logged, failing t after limit.
func (h *errorLog) wait(t testing.TB, limit time.Duration) error {
	t.Helper()
	var err error
	eventually(t, limit, "an error logged", func() error {
		h.mu.Lock()
		defer h.mu.Unlock()
		if err = h.err; err == nil {
			return errNotYet
		}
		return nil
	})
	return err
}
