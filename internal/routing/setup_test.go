package routing_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/aegirhq/aegir/internal/builtinweb"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/routing"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/store/boltkv"
	"github.com/aegirhq/aegir/internal/testharness"
)

// webServer is one builtin web server registered as an aegir server, with
// one platform on it.
type webServer struct {
	name     string
	srv      *builtinweb.Server
	ln       net.Listener
	driver   *builtinweb.Driver
	server   *domain.Server
	platform *domain.Platform
	docroots string
}

// env is a store, a Consul agent, a reconciler, and two web servers A and
// B; with a Traefik when asked.
type env struct {
	t       testing.TB
	ctx     context.Context
	store   *store.Store
	consul  *testharness.ConsulAgent
	client  *api.Client
	traefik *testharness.TraefikServer
	owner   *domain.Client
	a, b    *webServer
	http    *http.Client
	// With envOpts.acl: the secrets of the tokens ops/consul/setup-acl.sh
	// made for aegir (the reconciler's) and for Traefik.
	aegirToken, traefikToken string
	// instance is the reconcilers' Config.Instance.
	instance string
}

type envOpts struct {
	traefik bool
	// opsConfig starts Traefik with ops/traefik/traefik.yml (addresses
	// moved to free loopback ports) instead of the harness's own.
	opsConfig bool
	// acl runs Consul with ACLs on (default deny), as production does; the
	// reconciler and Traefik (opsConfig) use the tokens of the policies in
	// ops/consul/, made by ops/consul/setup-acl.sh. e.client, the test's
	// own view, has the management token.
	acl bool
	// noReconciler leaves starting reconcilers to the test
	// (startReconciler).
	noReconciler bool
}

// opsTraefikConfig renders ops/traefik/traefik.yml for a test: its three
// addresses replaced, and its commented-out Consul token set when token is
// not empty; each must be there exactly once.
func opsTraefikConfig(consulAddr, token string) func(web, api string) ([]byte, error) {
	return func(web, api string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join("..", "..", "ops", "traefik", "traefik.yml"))
		if err != nil {
			return nil, err
		}
		s := string(b)
		replace := [][2]string{
			{`address: ":80"`, `address: "` + web + `"`},
			{`address: "127.0.0.1:8081"`, `address: "` + api + `"`},
			{`address: "127.0.0.1:8500"`, `address: "` + consulAddr + `"`},
			{"accessLog: {}", ""},
		}
		if token != "" {
			replace = append(replace, [2]string{`# token: "<secret of a token with ops/consul/traefik-policy.hcl>"`, `token: "` + token + `"`})
		}
		for _, r := range replace {
			if strings.Count(s, r[0]) != 1 {
				return nil, fmt.Errorf("ops/traefik/traefik.yml: want %q once", r[0])
			}
			s = strings.Replace(s, r[0], r[1], 1)
		}
		return []byte(s), nil
	}
}

func setup(t testing.TB, o envOpts) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	var agent *testharness.ConsulAgent
	var aegirToken, traefikToken string
	if o.acl {
		agent = testharness.ConsulACL(t)
		aegirToken, traefikToken = setupACL(t, agent)
	} else {
		agent = testharness.Consul(t)
	}
	var tr *testharness.TraefikServer
	switch {
	case o.opsConfig:
		tr = testharness.TraefikConfig(t, opsTraefikConfig(agent.Addr, traefikToken))
	case o.traefik:
		if o.acl {
			t.Fatal("setup: with acl, Traefik runs with ops/traefik/traefik.yml (opsConfig)")
		}
		tr = testharness.Traefik(t, agent.Addr)
	}
	kv, err := boltkv.Open(filepath.Join(t.TempDir(), "aegir.db"), &boltkv.Config{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(kv, &store.Config{Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { st.Close() })
	cl, err := api.NewClient(&api.Config{Address: agent.Addr, Token: agent.ManagementToken})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: ctx, store: st, consul: agent, client: cl, traefik: tr,
		aegirToken: aegirToken, traefikToken: traefikToken,
		owner: &domain.Client{Name: "acme"},
		http: &http.Client{
			Timeout:       2 * time.Second,
			Transport:     &http.Transport{Proxy: nil, DisableKeepAlives: true},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}}
	if err := st.CreateClient(ctx, e.owner); err != nil {
		t.Fatal(err)
	}
	e.a = e.webServer("web-a")
	e.b = e.webServer("web-b")

	if !o.noReconciler {
		e.startReconciler(aegirToken, testLogger(t))
	}
	return e
}

// startReconciler runs a reconciler on the store with a Consul client of
// token (none when ""), logging to log, until the returned stop is called
// or the test ends.
func (e *env) startReconciler(token string, log *slog.Logger) (stop func()) {
	t := e.t
	t.Helper()
	cl, err := api.NewClient(&api.Config{Address: e.consul.Addr, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := routing.New(routing.Config{
		Store: e.store, Consul: cl, Logger: log, Instance: e.instance,
		CheckInterval: 200 * time.Millisecond, CheckTimeout: time.Second,
		WaitTime: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() { done <- rec.Run(runCtx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

func (e *env) webServer(name string) *webServer {
	t := e.t
	t.Helper()
	dir := t.TempDir()
	routes := filepath.Join(dir, "routes")
	srv, err := builtinweb.New(builtinweb.Config{RoutesDir: routes, ReloadInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	port := ln.Addr().(*net.TCPAddr).Port
	drv, err := builtinweb.NewDriver(routes, fmt.Sprintf("http://127.0.0.1:%d", port), nil)
	if err != nil {
		t.Fatal(err)
	}
	ws := &webServer{name: name, srv: srv, ln: ln, driver: drv, docroots: filepath.Join(dir, "docroots"),
		server: &domain.Server{Name: name, Address: "127.0.0.1"}}
	if _, err := e.store.CreateServer(e.ctx, ws.server, []domain.Service{{Kind: domain.KindBuiltin, Port: port}, {Kind: domain.KindSQLite}}, "test"); err != nil {
		t.Fatal(err)
	}
	ws.platform = &domain.Platform{Name: "static-" + name, Path: "/srv/static-" + name, WebServerID: ws.server.ID, Type: domain.PlatformStatic}
	if _, err := e.store.CreatePlatform(e.ctx, ws.platform, "test"); err != nil {
		t.Fatal(err)
	}
	return ws
}

// publish writes the site's route on ws, serving a page that names the
// site and the server.
func (e *env) publish(ws *webServer, site *domain.Site, disabled bool) {
	t := e.t
	t.Helper()
	root := filepath.Join(ws.docroots, site.Domain)
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "index.html"), []byte(page(site.Domain, ws.name)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ws.driver.Publish(e.ctx, provision.WebSite{Domain: site.Domain, Aliases: site.Aliases,
		RedirectAliases: site.RedirectAliases, Docroot: root, Disabled: disabled}); err != nil {
		t.Fatal(err)
	}
}

func page(domainName, server string) string { return "site " + domainName + " on " + server + "\n" }

// install creates a site on ws, publishes it there and marks it enabled,
// as a finished install task does.
func (e *env) install(ws *webServer, name string, aliases []string, redirect bool) *domain.Site {
	t := e.t
	t.Helper()
	site := &domain.Site{Domain: name, Aliases: aliases, RedirectAliases: redirect,
		PlatformID: ws.platform.ID, DBServerID: ws.server.ID, ClientID: e.owner.ID}
	task, err := e.store.CreateSite(e.ctx, site, "test")
	if err != nil {
		t.Fatal(err)
	}
	e.publish(ws, site, false)
	e.finish(task, store.SetSiteStatus(site.ID, domain.SiteEnabled))
	return site
}

// finish runs a queued task to success with changes, as the dispatcher's
// result applier does.
func (e *env) finish(task *domain.Task, changes ...store.Change) {
	t := e.t
	t.Helper()
	if err := e.store.StartTask(e.ctx, task, "test", 0); err != nil {
		t.Fatal(err)
	}
	if err := e.store.FinishTask(e.ctx, task, domain.TaskSucceeded, changes...); err != nil {
		t.Fatal(err)
	}
}

func (e *env) siteTask(site *domain.Site, typ domain.TaskType, args map[string]string) *domain.Task {
	t := e.t
	t.Helper()
	task, err := e.store.RequestSiteTask(e.ctx, site.ID, typ, args, "test")
	if err != nil {
		t.Fatal(err)
	}
	return task
}

// get requests path from Traefik with Host host and returns status and
// body ("" and the error when the request failed).
func (e *env) get(host, path string) (int, string, error) {
	req, err := http.NewRequestWithContext(e.ctx, http.MethodGet, "http://"+e.traefik.Addr+path, nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = host
	resp, err := e.http.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return 0, "", err
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		return resp.StatusCode, "Location: " + loc, nil
	}
	return resp.StatusCode, string(b), nil
}

// eventually retries fn every 50ms until it returns nil or limit passes;
// it returns how long that took.
func eventually(t testing.TB, limit time.Duration, what string, fn func() error) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(limit)
	for {
		err := fn()
		if err == nil {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, limit, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// served checks Traefik answers host with the page of the site on server.
func (e *env) served(host, server string) func() error {
	return func() error {
		code, body, err := e.get(host, "/")
		if err != nil {
			return err
		}
		want := page(host, server)
		if code != http.StatusOK || body != want {
			return fmt.Errorf("GET %s via traefik = %d %q, want 200 %q", host, code, strings.TrimSpace(body), strings.TrimSpace(want))
		}
		return nil
	}
}

// notRouted checks Traefik has no route for host (its own 404).
func (e *env) notRouted(host string) func() error {
	return func() error {
		code, body, err := e.get(host, "/")
		if err != nil {
			return err
		}
		if code != http.StatusNotFound || strings.Contains(body, "site ") {
			return fmt.Errorf("GET %s via traefik = %d %q, want Traefik's 404", host, code, strings.TrimSpace(body))
		}
		return nil
	}
}

// instances returns the nodes holding an instance of the site.
func (e *env) instances(siteID string) ([]string, error) {
	entries, _, err := e.client.Health().Service("aegir-site", "aegir", false, nil)
	if err != nil {
		return nil, err
	}
	var nodes []string
	for _, en := range entries {
		if en.Service.ID == routing.ServiceID(siteID) {
			nodes = append(nodes, en.Node.Node)
		}
	}
	return nodes, nil
}

var errNotYet = errors.New("not yet")
