// Package webtest is the conformance suite every provision.WebDriver
// passes (builtin, nginx), run from each driver's own tests against a
// real server:
//
//	func TestConformance(t *testing.T) {
//		webtest.Run(t, &webtest.Harness{Kind: servicekind.Nginx, Driver: d, StateDir: confDir, ...})
//	}
//
// It checks the behaviour the back end relies on whatever the server: a
// published site answers for its domain and aliases with its docroot's
// files, redirecting aliases answer 301 to the main domain keeping path
// and query, a disabled site answers 503 and comes back when enabled, a
// removed site no longer answers while the others do, and Remove twice is
// fine; sites published at once all answer; a site that is not safe to
// serve is refused with domain.ErrInvalid before anything is written; an
// unusable server fails Check with weberr.ErrUnavailable; and the driver
// agrees with its kind's servicekind descriptor. What only one server has
// (nginx's config test and rollback, the builtin server's route files and
// symlink rules) stays in the driver's own tests.
package webtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/provision/weberr"
	"github.com/aegirhq/aegir/internal/servicekind"
	"github.com/aegirhq/aegir/internal/testharness"
)

// Harness is one web driver under test with its server running.
type Harness struct {
	Kind servicekind.Kind
	// Driver publishes to the running server. Required.
	Driver provision.WebDriver
	// StateDir is where the driver writes its per-site files (nginx's
	// config_dir, the builtin server's routes dir). Required.
	StateDir string
	// DefaultPort builds a driver for a service with no port (without
	// checking it), so the suite can compare its URL with the
	// descriptor's DefaultPort. Required.
	DefaultPort func(t *testing.T) provision.WebDriver
	// Unusable builds a driver whose Check must fail (no binary, a state
	// dir it cannot write). Required.
	Unusable func(t *testing.T) provision.WebDriver
	// FromSettings builds a driver for a service with the harness's
	// settings overridden by settings and returns the first error, so the
	// suite can check that the driver refuses what the descriptor's
	// Validate refuses. A setting the driver reads only when publishing
	// (builtin's php_fastcgi, which the back end puts in WebSite.FastCGI)
	// is checked by publishing a PHP site with it. Required.
	FromSettings func(t *testing.T, settings map[string]string) error
	// Immediate is true when Publish and Remove return only once the
	// server answers with the change (nginx with a pid file); otherwise
	// the suite polls for up to 5 seconds (the builtin server rereads its
	// routes every 100ms).
	Immediate bool
	// BadSites are more sites the driver must refuse, beyond the suite's
	// own.
	BadSites map[string]provision.WebSite
	// Debug, when set, returns what to print when an answer is wrong (the
	// server's error log).
	Debug func() string
}

// Run runs the conformance scenarios as parallel subtests of t.
func Run(t *testing.T, h *Harness) {
	t.Helper()
	t.Run("descriptor", func(t *testing.T) { t.Parallel(); testDescriptor(t, h) })
	t.Run("settings", func(t *testing.T) { t.Parallel(); testSettings(t, h.Kind, h.FromSettings) })
	t.Run("unusable", func(t *testing.T) { t.Parallel(); testUnusable(t, h) })
	t.Run("lifecycle", func(t *testing.T) { t.Parallel(); testLifecycle(t, h) })
	t.Run("concurrent publish", func(t *testing.T) { t.Parallel(); testConcurrent(t, h) })
	t.Run("settings never served", func(t *testing.T) { t.Parallel(); testDeny(t, h) })
	// Last and alone: it checks that StateDir does not change.
	t.Run("bad sites", func(t *testing.T) { testBadSites(t, h) })
}

func testDescriptor(t *testing.T, h *Harness) {
	desc, ok := servicekind.Lookup(h.Kind)
	if !ok || desc.Type != servicekind.HTTP {
		t.Fatalf("%s is not an http kind of servicekind", h.Kind)
	}
	if err := h.Driver.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(h.DefaultPort(t).URL())
	if err != nil {
		t.Fatal(err)
	}
	port := 80
	if p := u.Port(); p != "" {
		port, _ = strconv.Atoi(p)
	}
	if u.Scheme != "http" || port != desc.DefaultPort {
		t.Errorf("a service without a port answers at %s, its descriptor's DefaultPort is %d", u, desc.DefaultPort)
	}
	if !desc.Has(servicekind.PHPFastCGI) {
		t.Errorf("%s: the driver passes PHP to FastCGI, its descriptor says it does not", h.Kind)
	}
}

func testUnusable(t *testing.T, h *Harness) {
	err := h.Unusable(t).Check(context.Background())
	if !errors.Is(err, weberr.ErrUnavailable) || weberr.Code(err) != "web_unavailable" {
		t.Fatalf("Check of an unusable server = %v, want weberr.ErrUnavailable", err)
	}
}

// Docroot makes a docroot whose index.html says body, under a directory
// whose path domain.ValidatePath accepts (t.TempDir's carry the test
// name).
func Docroot(t *testing.T, body string) string {
	t.Helper()
	base, err := os.MkdirTemp("", "aegir-webtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	testharness.WebReachable(t, base) // nginx's workers run as www-data
	dir := filepath.Join(base, "public")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

type answer struct {
	code     int
	body     string
	location string
}

// get fetches path from the server with Host set, on a fresh connection,
// without following redirects.
func get(t *testing.T, h *Harness, host, path string) answer {
	t.Helper()
	req, err := http.NewRequest("GET", h.Driver.URL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	c := &http.Client{
		Timeout:       5 * time.Second,
		Transport:     &http.Transport{DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s%s (Host %s): %v", h.Driver.URL(), path, host, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return answer{code: resp.StatusCode, body: string(body), location: resp.Header.Get("Location")}
}

// expect waits until host answers path with code and a body containing
// contains: at once when the harness is Immediate, else within 5 seconds.
func expect(t *testing.T, h *Harness, host, path string, code int, contains string) answer {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		a := get(t, h, host, path)
		if a.code == code && strings.Contains(a.body, contains) {
			return a
		}
		if h.Immediate || time.Now().After(deadline) {
			debug := ""
			if h.Debug != nil {
				debug = "\n" + h.Debug()
			}
			t.Fatalf("GET %s Host %s = %d %q, want %d containing %q%s", path, host, a.code, a.body, code, contains, debug)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func publish(t *testing.T, h *Harness, s provision.WebSite) {
	t.Helper()
	if err := h.Driver.Publish(context.Background(), s); err != nil {
		t.Fatal(err)
	}
}

func testLifecycle(t *testing.T, h *Harness) {
	ctx := context.Background()
	one := provision.WebSite{Domain: "one.example.com", Aliases: []string{"www.one.example.com"}, Docroot: Docroot(t, "site one")}
	two := provision.WebSite{Domain: "two.example.com", Aliases: []string{"two.example.net"}, RedirectAliases: true, Docroot: Docroot(t, "site two")}
	publish(t, h, one)
	publish(t, h, two)
	expect(t, h, "one.example.com", "/", 200, "site one")
	expect(t, h, "www.one.example.com", "/", 200, "site one")
	expect(t, h, "two.example.com", "/", 200, "site two")
	if a := expect(t, h, "two.example.net", "/some/page?x=1", 301, ""); a.location != "http://two.example.com/some/page?x=1" {
		t.Fatalf("redirect alias answered Location %q", a.location)
	}

	// Disable: 503 with a page that says so, on every name; enable again.
	one.Disabled = true
	publish(t, h, one)
	expect(t, h, "one.example.com", "/", 503, "disabled")
	expect(t, h, "www.one.example.com", "/anything", 503, "disabled")
	one.Disabled = false
	publish(t, h, one)
	expect(t, h, "one.example.com", "/", 200, "site one")

	// Remove: the site no longer answers, the other does, twice is fine.
	if err := h.Driver.Remove(ctx, "one.example.com"); err != nil {
		t.Fatal(err)
	}
	expect(t, h, "one.example.com", "/", 404, "")
	expect(t, h, "two.example.com", "/", 200, "site two")
	if err := h.Driver.Remove(ctx, "one.example.com"); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
	ents, _ := os.ReadDir(h.StateDir)
	for _, e := range ents {
		if strings.Contains(e.Name(), "one.example.com") { // its file, or a temp file of it
			t.Errorf("left in the state dir: %s", e.Name())
		}
	}
}

func testConcurrent(t *testing.T, h *Harness) {
	const n = 8
	errs := make(chan error, n)
	for i := range n {
		s := provision.WebSite{Domain: fmt.Sprintf("c%d.example.com", i), Docroot: Docroot(t, fmt.Sprintf("concurrent %d", i))}
		go func() { errs <- h.Driver.Publish(context.Background(), s) }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		expect(t, h, fmt.Sprintf("c%d.example.com", i), "/", 200, fmt.Sprintf("concurrent %d", i))
	}
}

func manyAliases(n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("a%d.example.com", i))
	}
	return out
}

// badSites are refused by every driver: each would let a value end a
// directive, reach outside the docroot, or serve a name that is not one.
var badSites = map[string]provision.WebSite{
	"domain injection":  {Domain: "evil.com;\ninclude /etc/shadow;#", Docroot: "/srv/x"},
	"domain traversal":  {Domain: "../../etc/passwd", Docroot: "/srv/x"},
	"single label":      {Domain: "localhost", Docroot: "/srv/x"},
	"docroot injection": {Domain: "evil.example.com", Docroot: "/srv/x;\nautoindex on"},
	"relative docroot":  {Domain: "evil.example.com", Docroot: "srv/x"},
	"unclean docroot":   {Domain: "evil.example.com", Docroot: "/srv/../../etc"},
	"docroot root":      {Domain: "evil.example.com", Docroot: "/"},
	"docroot space":     {Domain: "evil.example.com", Docroot: "/srv/x y"},
	"alias with space":  {Domain: "evil.example.com", Docroot: "/srv/x", Aliases: []string{"a.com b.com"}},
	"too many aliases":  {Domain: "evil.example.com", Docroot: "/srv/x", Aliases: manyAliases(domain.MaxAliases + 1)},
	"fastcgi injection": {Domain: "evil.example.com", Docroot: "/srv/x", PHP: true, FastCGI: "unix:/run/x.sock; }"},
	"relative fastcgi":  {Domain: "evil.example.com", Docroot: "/srv/x", PHP: true, FastCGI: "unix:relative.sock"},
	"bad env name":      {Domain: "evil.example.com", Docroot: "/srv/x", Env: map[string]string{"A=B": "x"}},
	"env value newline": {Domain: "evil.example.com", Docroot: "/srv/x", Env: map[string]string{"A": "x\ny"}},
	"bad upstream":      {Domain: "evil.example.com", Upstream: "ftp://x:21"},
	"upstream no port":  {Domain: "evil.example.com", Upstream: "http://x"},
	"no docroot":        {Domain: "evil.example.com"},
}

func testBadSites(t *testing.T, h *Harness) {
	ctx := context.Background()
	before := listDir(t, h.StateDir)
	check := func(name string, s provision.WebSite) {
		if err := h.Driver.Publish(ctx, s); !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("%s: Publish(%+v) = %v, want ErrInvalid", name, s, err)
		}
	}
	for name, s := range badSites {
		check(name, s)
	}
	for name, s := range h.BadSites {
		check(name, s)
	}
	for _, d := range []string{"../nginx", "../../etc/passwd"} {
		if err := h.Driver.Remove(ctx, d); !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("Remove(%q) = %v, want ErrInvalid", d, err)
		}
	}
	if after := listDir(t, h.StateDir); after != before {
		t.Errorf("refused sites changed the state dir: %q -> %q", before, after)
	}
}

func listDir(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return strings.Join(names, ",")
}

// badSetting is a value every setting's Validate refuses.
const badSetting = "not valid; \n"

func testSettings(t *testing.T, kind servicekind.Kind, build func(t *testing.T, settings map[string]string) error) {
	desc, _ := servicekind.Lookup(kind)
	if err := build(t, nil); err != nil {
		t.Fatalf("the harness's own settings are refused: %v", err)
	}
	for _, s := range desc.Settings {
		if s.Validate == nil {
			continue
		}
		if err := s.Validate(badSetting); err == nil {
			t.Errorf("%s: the descriptor accepts %q", s.Key, badSetting)
		}
		if err := build(t, map[string]string{s.Key: badSetting}); err == nil {
			t.Errorf("%s: the descriptor refuses %q but the driver takes it", s.Key, badSetting)
		}
	}
}

// testDeny: a site whose docroot holds its settings file (a platform
// served from its root, as WordPress is) lists it in WebSite.Deny; every
// way of asking for it answers 403 or 404 without its content, while the
// file beside it is served.
func testDeny(t *testing.T, h *Harness) {
	docroot := Docroot(t, "deny home")
	dir := filepath.Join(docroot, "sites", "deny.example.com")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	const secret = "db-password-never-served"
	settings := filepath.Join(dir, "settings.json")
	for name, body := range map[string]string{"settings.json": `{"password":"` + secret + `"}`, "other.txt": "beside the settings"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	publish(t, h, provision.WebSite{Domain: "deny.example.com", Docroot: docroot, Deny: []string{settings}})
	expect(t, h, "deny.example.com", "/sites/deny.example.com/other.txt", 200, "beside the settings")
	for _, p := range []string{
		"/sites/deny.example.com/settings.json",
		"//sites/deny.example.com/settings.json",
		"/sites//deny.example.com/settings.json",
		"/sites/deny.example.com/./settings.json",
		"/sites/x/../deny.example.com/settings.json",
		"/sites/deny.example.com/%73ettings.json",
		"/sites/deny.example.com/settings%2Ejson",
		"/sites/deny.example.com/settings.json?x=1",
	} {
		a := get(t, h, "deny.example.com", p)
		if a.code != http.StatusForbidden && a.code != http.StatusNotFound || strings.Contains(a.body, secret) {
			t.Errorf("GET %s = %d %q, want 403 or 404 without the settings", p, a.code, a.body)
		}
	}
}
