package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/dashboard/api"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/store/boltkv"
)

// bundle is what a dashboard test needs: a real store on bbolt, the API on
// it, two clients with a site each, a client user of the first, and tokens.
type bundle struct {
	t     *testing.T
	st    *store.Store
	srv   *Server
	cfg   *Config
	logs  *FakeTaskLogs
	ids   map[string]string // placeholder → value, for URLs and bodies
	toks  map[string]string // "admin", "alice", "bob" → secret
	siteA *domain.Site
	siteB *domain.Site
	url   string // host:port when serving on a real listener
}

// listen serves the API on a real 127.0.0.1 listener; do then sends its
// requests there instead of through app.Test. app.Test cannot see answers
// Fiber writes before it has read the request (413 on an oversized body).
func (b *bundle) listen() {
	b.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.t.Fatal(err)
	}
	go func() { _ = b.srv.Serve(ln) }()
	b.t.Cleanup(func() { _ = b.srv.Shutdown(context.Background()) })
	b.url = ln.Addr().String()
}

// testRoots are the directories test platforms may live in.
var testRoots = []string{"/srv/platforms"}

// setup opens a fresh store in t.TempDir(), seeds it and builds the API.
// mod, when given, adjusts the server config.
func setup(t *testing.T, mod ...func(*Config)) *bundle {
	t.Helper()
	ctx := context.Background()
	// NoSync: a throwaway store; the semantics are the same, the tests faster.
	kv, err := boltkv.Open(filepath.Join(t.TempDir(), "aegir.db"), &boltkv.Config{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st := store.New(kv, &store.Config{Logger: logger, PlatformRoots: testRoots})
	t.Cleanup(func() { _ = st.Close() })

	b := &bundle{t: t, st: st, ids: map[string]string{}, toks: map[string]string{}, logs: &FakeTaskLogs{}}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	secret, _, err := st.EnsureAdmin(ctx)
	must(err)
	b.toks["admin"] = secret

	acme := &domain.Client{Name: "acme"}
	must(st.CreateClient(ctx, acme))
	globex := &domain.Client{Name: "globex"}
	must(st.CreateClient(ctx, globex))
	b.ids["clientA"], b.ids["clientB"] = acme.ID, globex.ID

	for name, cid := range map[string]string{"alice": acme.ID, "bob": globex.ID} {
		u := &domain.User{Name: name, Role: domain.RoleClient, ClientIDs: []string{cid}}
		must(st.CreateUser(ctx, u))
		_, sec, err := st.CreateToken(ctx, u.ID, "test", 0)
		must(err)
		b.toks[name] = sec
		b.ids[name] = u.ID
	}

	web := &domain.Server{Name: "web1", Address: "127.0.0.1"}
	_, err = st.CreateServer(ctx, web, []domain.Service{
		{Kind: domain.KindNginx, Port: 80}, {Kind: domain.KindMariaDB, Port: 3306},
	}, "setup")
	must(err)
	b.ids["server"] = web.ID
	p := &domain.Platform{Name: "p1", Path: "/srv/platforms/p1", WebServerID: web.ID, Type: domain.PlatformPHP}
	_, err = st.CreatePlatform(ctx, p, "setup")
	must(err)
	b.ids["platform"] = p.ID

	b.siteA = &domain.Site{Domain: "a.example.com", PlatformID: p.ID, DBServerID: web.ID, ClientID: acme.ID}
	_, err = st.CreateSite(ctx, b.siteA, "setup")
	must(err)
	b.siteB = &domain.Site{Domain: "b.example.com", Aliases: []string{"www.b.example.com"}, PlatformID: p.ID, DBServerID: web.ID, ClientID: globex.ID}
	_, err = st.CreateSite(ctx, b.siteB, "setup")
	must(err)
	b.ids["siteA"], b.ids["siteB"] = b.siteA.ID, b.siteB.ID

	cfg := &Config{Store: st, Logger: logger, Logs: b.logs}
	for _, m := range mod {
		m(cfg)
	}
	b.cfg = cfg
	b.srv, err = New(cfg)
	must(err)
	return b
}

// tWriter sends log output through t.Log.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// expand replaces {name} placeholders with the bundle's ids.
func (b *bundle) expand(s string) string {
	for k, v := range b.ids {
		s = strings.ReplaceAll(s, "{"+k+"}", v)
	}
	return s
}

// taskOf returns the newest task of type typ on target.
func (b *bundle) taskOf(target string, typ domain.TaskType) *domain.Task {
	b.t.Helper()
	p, err := b.st.ListTasks(context.Background(), store.TaskFilter{TargetID: target, Type: typ, Limit: 1})
	if err != nil || len(p.Items) == 0 {
		b.t.Fatalf("no %s task on %s: %v", typ, target, err)
	}
	return &p.Items[0]
}

// finish runs a task's life in the store as the dispatcher would.
func (b *bundle) finish(task *domain.Task, status domain.TaskStatus, changes ...store.Change) {
	b.t.Helper()
	ctx := context.Background()
	if err := b.st.StartTask(ctx, task, "test", 1); err != nil {
		b.t.Fatal(err)
	}
	if err := b.st.FinishTask(ctx, task, status, changes...); err != nil {
		b.t.Fatal(err)
	}
}

// enable finishes a site's install so that it is enabled.
func (b *bundle) enable(siteID string) {
	b.t.Helper()
	b.finish(b.taskOf(siteID, domain.TaskInstall), domain.TaskSucceeded, store.SetSiteStatus(siteID, domain.SiteEnabled))
}

// dump returns every key and value in the store with its index.
func (b *bundle) dump() map[string]string {
	b.t.Helper()
	pairs, _, err := b.st.KV().List(context.Background(), "")
	if err != nil {
		b.t.Fatal(err)
	}
	out := make(map[string]string, len(pairs))
	for _, p := range pairs {
		out[p.Key] = string(p.Value) + "@" + itoa(p.ModifyIndex)
	}
	return out
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// do sends one request through app.Test and returns the status and body.
func (b *bundle) do(method, url, token, body string, header map[string]string) (*http.Response, []byte) {
	b.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(b.expand(body))
	}
	req := httptest.NewRequest(method, b.expand(url), r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		if sec, ok := b.toks[token]; ok {
			token = sec
		}
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	var (
		res *http.Response
		err error
	)
	if b.url != "" {
		req.RequestURI = ""
		req.URL.Scheme, req.URL.Host = "http", b.url
		res, err = http.DefaultClient.Do(req)
	} else {
		res, err = b.srv.App().Test(req, -1)
	}
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return res, out
}

// scenario is one HTTP request and what must come of it (pocketbase's
// tests.ApiScenario, in small).
type scenario struct {
	name   string
	method string
	url    string
	token  string // "admin", "alice", "bob", a raw token, or "" for none
	body   string
	header map[string]string
	mod    func(*Config) // adjusts the server config
	before func(*bundle) // runs after setup, before the request

	wantStatus   int
	wantCode     string   // error.code
	wantField    string   // error.field
	wantContains []string // substrings of the body
	notContains  []string
	unchanged    bool // the store holds exactly the same keys and values after
	listen       bool // send over a real listener rather than app.Test
	after        func(t *testing.T, b *bundle, body []byte)

	// audited, with unchanged: but for new audit entries (audit/,
	// auditdays/), and there must be one, which holds none of notContains.
	audited bool
}

func runScenarios(t *testing.T, scenarios []scenario) {
	t.Helper()
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			var mods []func(*Config)
			if sc.mod != nil {
				mods = append(mods, sc.mod)
			}
			b := setup(t, mods...)
			if sc.before != nil {
				sc.before(b)
			}
			if sc.listen {
				b.listen()
			}
			var before map[string]string
			if sc.unchanged {
				before = b.dump()
			}
			res, body := b.do(sc.method, sc.url, sc.token, sc.body, sc.header)
			if res.StatusCode != sc.wantStatus {
				t.Fatalf("status %d, want %d; body %s", res.StatusCode, sc.wantStatus, body)
			}
			if sc.wantCode != "" {
				var eb api.ErrorBody
				if err := json.Unmarshal(body, &eb); err != nil || eb.Error.Code != sc.wantCode {
					t.Fatalf("error code %q, want %q; body %s", eb.Error.Code, sc.wantCode, body)
				}
				if eb.Error.Message == "" {
					t.Fatalf("error without a message: %s", body)
				}
			}
			if sc.wantField != "" {
				var eb api.ErrorBody
				if err := json.Unmarshal(body, &eb); err != nil || eb.Error.Field != sc.wantField {
					t.Fatalf("error field %q, want %q; body %s", eb.Error.Field, sc.wantField, body)
				}
			}
			for _, s := range sc.wantContains {
				if !bytes.Contains(body, []byte(b.expand(s))) {
					t.Errorf("body lacks %q: %s", b.expand(s), body)
				}
			}
			for _, s := range sc.notContains {
				if bytes.Contains(body, []byte(b.expand(s))) {
					t.Errorf("body contains %q: %s", b.expand(s), body)
				}
			}
			if sc.unchanged {
				after := b.dump()
				if sc.audited {
					n := 0
					for k, v := range after {
						if _, had := before[k]; had || !(strings.HasPrefix(k, "audit/") || strings.HasPrefix(k, "auditdays/")) {
							continue
						}
						n++
						for _, s := range sc.notContains {
							if strings.Contains(v, b.expand(s)) {
								t.Errorf("audit entry %s holds %q", k, s)
							}
						}
						delete(after, k)
					}
					if n == 0 {
						t.Errorf("no audit entry was written")
					}
				}
				if !maps.Equal(before, after) {
					t.Errorf("the store changed: %d keys before, %d after", len(before), len(after))
					for k, v := range after {
						if before[k] != v {
							t.Errorf("  %s changed", k)
						}
					}
				}
			}
			if sc.after != nil {
				sc.after(t, b, body)
			}
		})
	}
}

// decodeJSON unmarshals body into v or fails the test.
func decodeJSON(t *testing.T, body []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
}

// version GETs /api/v1/<kind>/<id> as admin and returns its version.
func (b *bundle) version(kind, id string) string {
	b.t.Helper()
	_, body := b.do("GET", "/api/v1/"+kind+"/"+id, "admin", "", nil)
	var v struct {
		Version uint64 `json:"version"`
	}
	decodeJSON(b.t, body, &v)
	return itoa(v.Version)
}
