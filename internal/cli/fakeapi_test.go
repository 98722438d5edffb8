package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/taskspec"
)

// testToken is the only token fakeAPI accepts.
const testToken = "aegir_00000000000000000tk1_0123456789abcdef"

// fakeAPI is a test double of the REST API (the real one lives in
// dashboard/): it serves canned answers per the contract and records every
// request so tests can check method, path, query, headers and body.
type fakeAPI struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	routes map[string]http.HandlerFunc // "GET /api/v1/sites"
	reqs   []fakeRequest
}

type fakeRequest struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
	Body   string
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	f := &fakeAPI{t: t, routes: map[string]http.HandlerFunc{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	f.mu.Lock()
	f.reqs = append(f.reqs, fakeRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone(), Body: string(body)})
	h := f.routes[r.Method+" "+r.URL.Path]
	f.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+testToken {
		writeJSON(w, http.StatusUnauthorized, apiErr("unauthorized", "missing or unknown token"))
		return
	}
	if h == nil {
		writeJSON(w, http.StatusNotFound, apiErr("not_found", "no such thing: "+r.URL.Path))
		return
	}
	h(w, r)
}

// on answers method path with status and body (marshalled to JSON).
func (f *fakeAPI) on(method, path string, status int, body any) {
	f.handle(method, path, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, status, body) })
}

func (f *fakeAPI) handle(method, path string, h http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes[method+" /api/v1"+path] = h
}

// requests returns the recorded requests to method path.
func (f *fakeAPI) requests(method, path string) []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeRequest
	for _, r := range f.reqs {
		if r.Method == method && r.Path == "/api/v1"+path {
			out = append(out, r)
		}
	}
	return out
}

// only returns the single request to method path, failing otherwise.
func (f *fakeAPI) only(method, path string) fakeRequest {
	f.t.Helper()
	rs := f.requests(method, path)
	if len(rs) != 1 {
		f.t.Fatalf("%s %s: got %d requests, want 1; all: %v", method, path, len(rs), f.all())
	}
	return rs[0]
}

// writes returns the recorded requests that could change something.
func (f *fakeAPI) writes() []string {
	var out []string
	for _, r := range f.all() {
		if !strings.HasPrefix(r, "GET ") {
			out = append(out, r)
		}
	}
	return out
}

func (f *fakeAPI) all() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.reqs {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

func apiErr(code, msg string) map[string]any {
	return map[string]any{"error": map[string]any{"code": code, "message": msg}}
}

func list[T any](items ...T) map[string]any {
	if items == nil {
		items = []T{}
	}
	return map[string]any{"items": items, "total": len(items), "offset": 0, "limit": 50}
}

// fixtures, with ids of the shape domain.NewID makes.
const (
	clientID   = "0000000000000000c001"
	webID      = "0000000000000000s001"
	dbID       = "0000000000000000s002"
	platformID = "0000000000000000p001"
	siteID     = "00000000000000000001"
	taskID     = "0000000000000000t001"
	httpSvcID  = "0000000000000000v001"
	dbSvcID    = "0000000000000000v002"
	userID     = "0000000000000000a001"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func fixtureClient() domain.Client {
	return domain.Client{ID: clientID, Name: "acme", Title: "Acme Inc.", Email: "ops@acme.example", CreatedAt: t0, UpdatedAt: t0, Version: 4}
}

func fixtureServers() []domain.Server {
	return []domain.Server{
		{ID: webID, Name: "web1", Address: "10.0.0.5", Status: domain.ServerReady, CreatedAt: t0, UpdatedAt: t0, Version: 3},
		{ID: dbID, Name: "db1", Address: "10.0.0.6", Status: domain.ServerReady, CreatedAt: t0, UpdatedAt: t0, Version: 7},
	}
}

func fixtureServices() []domain.Service {
	return []domain.Service{
		{ID: httpSvcID, ServerID: webID, Type: domain.ServiceHTTP, Kind: domain.KindNginx, Port: 80},
		{ID: dbSvcID, ServerID: dbID, Type: domain.ServiceDB, Kind: domain.KindMariaDB, Port: 3306},
	}
}

func fixturePlatform() domain.Platform {
	return domain.Platform{ID: platformID, Name: "drupal10", Path: "/var/aegir/platforms/drupal10", WebServerID: webID,
		Type: domain.PlatformDrupal, Status: domain.PlatformReady, CreatedAt: t0, UpdatedAt: t0, Version: 2}
}

func fixtureSite() domain.Site {
	return domain.Site{ID: siteID, Domain: "example.com", Aliases: []string{"www.example.com"}, PlatformID: platformID,
		DBServerID: dbID, ClientID: clientID, Status: domain.SiteEnabled, CreatedAt: t0, UpdatedAt: t0, Version: 9}
}

func fixtureTask(typ domain.TaskType, status domain.TaskStatus) domain.Task {
	var k domain.TargetKind
	if s, ok := taskspec.Lookup(typ); ok {
		k = s.Kind
	}
	return domain.Task{ID: taskID, Type: typ, TargetKind: k, TargetID: siteID, TargetName: "example.com",
		Status: status, RequestedBy: "admin", CreatedAt: t0, Version: 1}
}

// withFixtures serves the lists and gets every lookup needs.
func (f *fakeAPI) withFixtures() *fakeAPI {
	cl := fixtureClient()
	f.on("GET", "/clients", 200, list(cl))
	f.on("GET", "/clients/"+clientID, 200, cl)
	servers := fixtureServers()
	f.on("GET", "/servers", 200, list(servers...))
	for _, s := range servers {
		f.on("GET", "/servers/"+s.ID, 200, s)
	}
	f.on("GET", "/services", 200, list(fixtureServices()...))
	p := fixturePlatform()
	f.on("GET", "/platforms", 200, list(p))
	f.on("GET", "/platforms/"+platformID, 200, p)
	s := fixtureSite()
	f.on("GET", "/sites/"+siteID, 200, s)
	f.on("GET", "/sites/example.com", 200, s)
	return f
}

// bundle is what a CLI test needs: the fake API and a way to run commands.
type bundle struct {
	t    *testing.T
	api  *fakeAPI
	env  map[string]string
	tty  bool
	in   string
	pass string       // what the no-echo prompt reads
	hc   *http.Client // nil: the CLI's own client
}

type result struct {
	code           int
	stdout, stderr string
}

func setup(t *testing.T) *bundle {
	t.Helper()
	f := newFakeAPI(t)
	return &bundle{t: t, api: f, hc: f.srv.Client(), env: map[string]string{"AEGIR_ADDR": f.srv.URL, "AEGIR_TOKEN": testToken}}
}

func (b *bundle) run(args ...string) result {
	b.t.Helper()
	var stdout, stderr bytes.Buffer
	a := &app{
		env:          func(k string) string { return b.env[k] },
		stdin:        strings.NewReader(b.in),
		isTTY:        b.tty,
		stdout:       &stdout,
		stderr:       &stderr,
		readPassword: func() (string, error) { return b.pass, nil },
		httpClient:   b.hc,
		retryDelay:   2 * time.Millisecond,
		pollEvery:    2 * time.Millisecond,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code := a.main(ctx, args)
	r := result{code: code, stdout: stdout.String(), stderr: stderr.String()}
	b.t.Logf("aegir %s → %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	return r
}

// want checks the exit code.
func (r result) want(t *testing.T, code int) result {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	return r
}

func contains(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s does not contain %q:\n%s", what, sub, s)
		}
	}
}

// jsonBody decodes a recorded request body.
func jsonBody(t *testing.T, r fakeRequest) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.Body), &m); err != nil {
		t.Fatalf("%s %s: body %q is not JSON: %v", r.Method, r.Path, r.Body, err)
	}
	return m
}

func jsonEqual(t *testing.T, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if !bytes.Equal(gb, wb) {
		t.Errorf("JSON differs:\ngot  %s\nwant %s", gb, wb)
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprint(err))
	}
	return string(b)
}
