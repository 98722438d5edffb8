package builtinweb

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/provision/webtest"
	"github.com/aegirhq/aegir/internal/servicekind"
)

const secretText = "TOP-SECRET-OUTSIDE-DOCROOT"

type bundle struct {
	ctx     context.Context
	srv     *Server
	drv     *Driver
	addr    string // 127.0.0.1:port
	port    string
	docroot string
	routes  string
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func writeFile(t testing.TB, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// setup starts a real server on 127.0.0.1 with a docroot holding a few
// files, symlinks that point out of it, and a secret file beside it.
func setup(t *testing.T) bundle {
	t.Helper()
	base := t.TempDir()
	docroot := filepath.Join(base, "site", "public")
	writeFile(t, filepath.Join(docroot, "index.html"), "hello from a.test")
	writeFile(t, filepath.Join(docroot, "css", "app.css"), "body{}")
	writeFile(t, filepath.Join(docroot, "noindex", "x.txt"), "x")
	writeFile(t, filepath.Join(docroot, ".env"), "DB_PASSWORD="+secretText)
	writeFile(t, filepath.Join(docroot, ".well-known", "acme"), "token")
	writeFile(t, filepath.Join(docroot, "info.php"), "<?php // "+secretText)
	writeFile(t, filepath.Join(base, "site", "secret.txt"), secretText)
	for name, target := range map[string]string{
		"escape":     "../..",
		"rellink":    "../secret.txt",
		"abslink":    filepath.Join(base, "site", "secret.txt"),
		"etc":        "/etc",
		"inner-link": "css/app.css",
	} {
		if err := os.Symlink(target, filepath.Join(docroot, name)); err != nil {
			t.Fatal(err)
		}
	}

	routes := filepath.Join(base, "routes")
	srv, err := New(Config{RoutesDir: routes, Logger: testLogger(t)})
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
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	drv, err := NewDriver(routes, "http://"+ln.Addr().String(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := drv.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	b := bundle{ctx: t.Context(), srv: srv, drv: drv, addr: ln.Addr().String(), port: port, docroot: docroot, routes: routes}
	b.publish(t, provision.WebSite{Domain: "a.test", Aliases: []string{"www.a.test"}, Docroot: docroot})
	b.publish(t, provision.WebSite{Domain: "b.test", Aliases: []string{"www.b.test", "old-b.test"}, RedirectAliases: true, Docroot: docroot})
	b.publish(t, provision.WebSite{Domain: "off.test", Aliases: []string{"www.off.test"}, Docroot: docroot, Disabled: true})
	b.publish(t, provision.WebSite{Domain: "php.test", Docroot: docroot, PHP: true})
	b.publish(t, provision.WebSite{Domain: "bücher.test", Docroot: docroot})
	return b
}

func (b bundle) publish(t *testing.T, ws provision.WebSite) {
	t.Helper()
	if err := b.drv.Publish(b.ctx, ws); err != nil {
		t.Fatal(err)
	}
}

type response struct {
	code   int
	header http.Header
	body   string
}

// raw sends a hand-written request line and Host header, so the test
// controls every byte the server sees.
func (b bundle) raw(t *testing.T, method, target, host string) response {
	t.Helper()
	conn, err := net.DialTimeout("tcp", b.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", method, target, host)
	res, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %s Host %q: %v", method, target, host, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return response{code: res.StatusCode, header: res.Header, body: string(body)}
}

func (b bundle) get(t *testing.T, target, host string) response {
	return b.raw(t, "GET", target, host)
}

func TestRouting(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, tc := range []struct {
		name, method, target, host string
		code                       int
		body, location             string
	}{
		{name: "static index", target: "/", host: "a.test", code: 200, body: "hello from a.test"},
		{name: "static file", target: "/css/app.css", host: "a.test", code: 200, body: "body{}"},
		{name: "HEAD", method: "HEAD", target: "/", host: "a.test", code: 200},
		{name: "alias served", target: "/", host: "www.a.test", code: 200, body: "hello from a.test"},
		{name: "host with port", target: "/", host: "a.test:" + b.port, code: 200, body: "hello"},
		{name: "host uppercase trailing dot", target: "/", host: "A.TEST.:" + b.port, code: 200, body: "hello"},
		{name: "idn punycode", target: "/", host: "xn--bcher-kva.test", code: 200, body: "hello"},
		{name: "main domain of redirecting site", target: "/", host: "b.test", code: 200, body: "hello"},
		{name: "alias redirects to main", target: "/css/app.css?v=1&x=%2F", host: "www.b.test:" + b.port, code: 301,
			location: "http://b.test:" + b.port + "/css/app.css?v=1&x=%2F"},
		{name: "alias redirect without port", target: "/p", host: "old-b.test", code: 301, location: "http://b.test/p"},
		{name: "alias redirect keeps authority", target: "//evil.test/x", host: "www.b.test", code: 301, location: "http://b.test//evil.test/x"},
		{name: "disabled", target: "/", host: "off.test", code: 503, body: "Site disabled"},
		{name: "disabled alias", target: "/css/app.css", host: "www.off.test", code: 503, body: "Site disabled"},
		{name: "unknown host", target: "/", host: "nope.test", code: 404, body: "No site is configured"},
		{name: "ip host", target: "/", host: "127.0.0.1:" + b.port, code: 404},
		{name: "single label", target: "/", host: "localhost", code: 404},
		{name: "dir without slash", target: "/css?q=1", host: "a.test", code: 301, location: "/css/?q=1"},
		{name: "dir without index not listed", target: "/noindex/", host: "a.test", code: 404},
		{name: "dotfile hidden", target: "/.env", host: "a.test", code: 404},
		{name: "well-known served", target: "/.well-known/acme", host: "a.test", code: 200, body: "token"},
		{name: "php source never served", target: "/info.php", host: "a.test", code: 404},
		{name: "php without fastcgi", target: "/info.php", host: "php.test", code: 502, body: "PHP needs nginx+php-fpm or a FastCGI upstream"},
		{name: "php front controller without fastcgi", target: "/node/1", host: "php.test", code: 502},
		{name: "post to static", method: "POST", target: "/", host: "a.test", code: 405},
		{name: "symlink inside docroot", target: "/inner-link", host: "a.test", code: 200, body: "body{}"},
		{name: "missing", target: "/nope.html", host: "a.test", code: 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := b.raw(t, cmpOr(tc.method, "GET"), tc.target, tc.host)
			if res.code != tc.code {
				t.Fatalf("status = %d, want %d; body %q", res.code, tc.code, res.body)
			}
			if !strings.Contains(res.body, tc.body) {
				t.Errorf("body = %q, want it to contain %q", res.body, tc.body)
			}
			if tc.location != "" && res.header.Get("Location") != tc.location {
				t.Errorf("Location = %q, want %q", res.header.Get("Location"), tc.location)
			}
			if strings.Contains(res.body, secretText) {
				t.Errorf("leaked secret")
			}
		})
	}
}

// TestUnicodeHost goes through the handler: net/http refuses a raw
// non-ASCII Host, but a proxy in front may pass one on.
func TestUnicodeHost(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for host, code := range map[string]int{"bücher.test": 200, "BÜCHER.test:80": 200, "bücher..test": 404, "ａ.test": 200 /* UTS 46 maps fullwidth a to a, as browsers do */} {
		req := httptest.NewRequest("GET", "/", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		b.srv.ServeHTTP(rec, req)
		if rec.Code != code {
			t.Errorf("Host %q: %d, want %d", host, rec.Code, code)
		}
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TestTraversalRefused tries to read files outside the docroot through
// dot segments, encodings and symlinks.
func TestTraversalRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, target := range []string{
		"/../../etc/passwd",
		"/../secret.txt",
		"/%2e%2e/secret.txt",
		"/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
		"/..%2fsecret.txt",
		"/css/..%2f..%2fsecret.txt",
		"/css/%2e%2e%2f%2e%2e%2fsecret.txt",
		"/%252e%252e/secret.txt",
		"/..%5csecret.txt",
		"/..\\secret.txt",
		"//etc/passwd",
		"/./../secret.txt",
		"/%c0%ae%c0%ae/secret.txt",
		"/escape/site/secret.txt",
		"/escape/",
		"/rellink",
		"/abslink",
		"/etc/passwd",
		"/etc/",
		"/css/../../secret.txt",
		"/index.html%00.txt",
		"http://a.test/../secret.txt",
		"/.env",
		"/%2eenv",
	} {
		t.Run(target, func(t *testing.T) {
			t.Parallel()
			res := b.get(t, target, "a.test")
			if res.code == 200 && res.body != "hello from a.test" || strings.Contains(res.body, secretText) || strings.Contains(res.body, "root:") {
				t.Fatalf("%s: status %d body %q", target, res.code, domain.Clip(res.body))
			}
		})
	}
}

// TestHostInjection sends Host values crafted to reach another site,
// confuse the routing or be reflected.
func TestHostInjection(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, host := range []string{
		"a.test/../off.test",
		"a.test@b.test",
		"evil.test, a.test",
		"a.test\tb.test",
		"<script>alert(1)</script>.test",
		"a.test:99999999",
		"a.test:" + b.port + ":80",
		"[::1]:" + b.port,
		"a..test",
		".a.test",
		"a.test%2f",
		strings.Repeat("a.", 600) + "test",
		"",
	} {
		t.Run(host, func(t *testing.T) {
			t.Parallel()
			res := b.get(t, "/", host)
			if res.code == 200 || res.code == 301 {
				t.Fatalf("Host %q: status %d body %q", host, res.code, domain.Clip(res.body))
			}
			if strings.Contains(res.body, "<script>") {
				t.Fatalf("Host %q reflected: %q", host, res.body)
			}
		})
	}
}

func TestReloadAfterRouteChange(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if res := b.get(t, "/", "new.test"); res.code != 404 {
		t.Fatalf("before publish: %d", res.code)
	}
	b.publish(t, provision.WebSite{Domain: "new.test", Docroot: b.docroot})
	// An unknown host checks the routes dir at once.
	if res := b.get(t, "/", "new.test"); res.code != 200 {
		t.Fatalf("right after publish: %d %q", res.code, res.body)
	}
	b.publish(t, provision.WebSite{Domain: "new.test", Docroot: b.docroot, Disabled: true})
	b.eventually(t, "new.test", 503)
	b.publish(t, provision.WebSite{Domain: "new.test", Docroot: b.docroot})
	b.eventually(t, "new.test", 200)
	if err := b.drv.Remove(b.ctx, "new.test"); err != nil {
		t.Fatal(err)
	}
	b.eventually(t, "new.test", 404)
	if err := b.drv.Remove(b.ctx, "new.test"); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
}

// eventually polls until host answers code; the server rechecks the routes
// dir every ReloadInterval (100ms).
func (b bundle) eventually(t *testing.T, host string, code int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		res := b.get(t, "/", host)
		if res.code == code {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still answers %d, want %d", host, res.code, code)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestBadRouteFilesSkipped(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for name, content := range map[string]string{
		"corrupt.test.json":  "{not json",
		"mismatch.test.json": `{"Domain":"a-other.test","Docroot":"/tmp"}`,
		"relative.test.json": `{"Domain":"relative.test","Docroot":"srv/www"}`,
		"inject.test.json":   `{"Domain":"inject.test;","Docroot":"/tmp"}`,
		"dup.test.json":      `{"Domain":"dup.test","Aliases":["a.test"],"Docroot":"/tmp"}`,
		"huge.test.json":     `{"Domain":"huge.test","Docroot":"/tmp","Env":{"X":"` + strings.Repeat("x", maxRouteFile) + `"}}`,
		"notes.txt":          "ignored",
	} {
		writeFile(t, filepath.Join(b.routes, name), content)
	}
	if err := os.Mkdir(filepath.Join(b.routes, "dir.test.json"), 0o755); err != nil {
		t.Fatal(err)
	}
	b.eventually(t, "corrupt.test", 404)
	for _, host := range []string{"mismatch.test", "a-other.test", "relative.test", "huge.test"} {
		if res := b.get(t, "/", host); res.code != 404 {
			t.Errorf("%s: %d", host, res.code)
		}
	}
	// dup.test is valid; its alias a.test stays with the site whose domain it is.
	if res := b.get(t, "/", "dup.test"); res.code != 404 && res.code != 200 {
		t.Errorf("dup.test: %d", res.code)
	}
	if res := b.get(t, "/", "a.test"); res.code != 200 || res.body != "hello from a.test" {
		t.Errorf("a.test after bad files: %d %q", res.code, res.body)
	}
}

func TestUpstreamProxy(t *testing.T) {
	t.Parallel()
	b := setup(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "upstream host=%s path=%s xff=%s", r.Host, r.URL.RequestURI(), r.Header.Get("X-Forwarded-For"))
	}))
	t.Cleanup(up.Close)
	b.publish(t, provision.WebSite{Domain: "app.test", Upstream: up.URL})
	res := b.get(t, "/x?y=1", "app.test")
	if res.code != 200 || res.body != "upstream host=app.test path=/x?y=1 xff=127.0.0.1" {
		t.Fatalf("proxy: %d %q", res.code, res.body)
	}
	// A dead upstream is a 502 page, not a hang or a crash.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	b.publish(t, provision.WebSite{Domain: "dead.test", Upstream: dead})
	if res := b.get(t, "/", "dead.test"); res.code != 502 {
		t.Fatalf("dead upstream: %d", res.code)
	}
}

// TestConformance runs the webtest suite against a real builtin server.
// Changes to a known host show once the server rereads its routes (every
// 100ms), so the harness is not Immediate.
func TestConformance(t *testing.T) {
	t.Parallel()
	routes, err := os.MkdirTemp("", "aegir-builtin-routes-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(routes) })
	srv, err := New(Config{RoutesDir: routes, Logger: testLogger(t)})
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
	drv, err := NewDriver(routes, "http://"+ln.Addr().String(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	webtest.Run(t, &webtest.Harness{
		Kind:     servicekind.Builtin,
		Driver:   drv,
		StateDir: routes,
		DefaultPort: func(t *testing.T) provision.WebDriver {
			d, err := NewDriverFactory(provision.ServiceInfo{ID: "s", Kind: domain.KindBuiltin},
				provision.ServerInfo{Address: "127.0.0.1"}, provision.EnvInfo{DataDir: t.TempDir()}, nil)
			if err != nil {
				t.Fatal(err)
			}
			return d
		},
		FromSettings: func(t *testing.T, settings map[string]string) error {
			d, err := NewDriverFactory(provision.ServiceInfo{ID: "s", Kind: domain.KindBuiltin, Settings: settings},
				provision.ServerInfo{Address: "127.0.0.1"}, provision.EnvInfo{DataDir: t.TempDir()}, nil)
			if err != nil {
				return err
			}
			return d.Publish(t.Context(), provision.WebSite{Domain: "settings.example.com", Docroot: "/srv/x", PHP: true, FastCGI: settings["php_fastcgi"]})
		},
		Unusable: func(t *testing.T) provision.WebDriver {
			// The routes dir would be under a file: it cannot be created,
			// whoever runs the test.
			file := filepath.Join(t.TempDir(), "file")
			writeFile(t, file, "not a directory")
			d, err := NewDriver(filepath.Join(file, "routes"), "http://127.0.0.1:1", nil)
			if err != nil {
				t.Fatal(err)
			}
			return d
		},
		BadSites: map[string]provision.WebSite{
			"alias is domain": {Domain: "x.test", Aliases: []string{"X.test"}, Docroot: "/srv/x"},
		},
	})
}

func TestDriverFactory(t *testing.T) {
	t.Parallel()
	dd := t.TempDir()
	wd, err := NewDriverFactory(provision.ServiceInfo{ID: "s", Kind: domain.KindBuiltin, Port: 8080},
		provision.ServerInfo{Address: "127.0.0.1"}, provision.EnvInfo{DataDir: dd}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if wd.URL() != "http://127.0.0.1:8080" {
		t.Errorf("URL = %q", wd.URL())
	}
	if err := wd.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := wd.Publish(t.Context(), provision.WebSite{Domain: "Example.COM", Docroot: "/srv/x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dd, "builtin", "routes", "example.com.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := NewDriverFactory(provision.ServiceInfo{}, provision.ServerInfo{}, provision.EnvInfo{DataDir: "rel"}, nil); err == nil {
		t.Error("relative data dir accepted")
	}
}

// TestDocrootReplaced swaps the docroot directory by rename, as a restore
// does: the server must serve the new content, not the open old directory.
func TestDocrootReplaced(t *testing.T) {
	t.Parallel()
	b := setup(t)
	dir := filepath.Join(filepath.Dir(b.docroot), "swap")
	writeFile(t, filepath.Join(dir, "index.html"), "old")
	b.publish(t, provision.WebSite{Domain: "swap.test", Docroot: dir})
	if res := b.get(t, "/", "swap.test"); res.body != "old" {
		t.Fatalf("before: %d %q", res.code, res.body)
	}
	next := dir + ".new"
	writeFile(t, filepath.Join(next, "index.html"), "new")
	if err := os.Rename(dir, dir+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(next, dir); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(dir + ".old")
	deadline := time.Now().Add(5 * time.Second)
	for {
		res := b.get(t, "/", "swap.test")
		if res.code == 200 && res.body == "new" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %d %q after the swap", res.code, res.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A restore swaps the site's directory for the restored one and removes
// the old one: the next request serves the new files at once, not 404
// from the cached root of the removed directory until its next check.
func TestDocrootSwappedIsServedAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.publish(t, provision.WebSite{Domain: "swap.test", Docroot: b.docroot})
	if res := b.get(t, "/", "swap.test"); res.code != 200 || res.body != "hello from a.test" {
		t.Fatalf("before the swap: %d %q", res.code, res.body)
	}
	site := filepath.Dir(b.docroot)
	fresh := site + ".restored"
	writeFile(t, filepath.Join(fresh, "public", "index.html"), "restored")
	writeFile(t, filepath.Join(fresh, "public", "only-new.html"), "new")
	if err := os.Rename(site, site+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(fresh, site); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(site + ".old"); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{"/": "restored", "/only-new.html": "new"} {
		if res := b.get(t, path, "swap.test"); res.code != 200 || res.body != want {
			t.Errorf("%s right after the swap: %d %q, want %q", path, res.code, res.body, want)
		}
	}
}

// TestSettingsNotServedThroughLink: a link inside the docroot to the
// site's settings file (a tenant's, in its own files/) is refused like
// the file's own name.
func TestSettingsNotServedThroughLink(t *testing.T) {
	t.Parallel()
	b := setup(t)
	site := filepath.Join(b.docroot, "sites", "s.test")
	settings := filepath.Join(site, "settings.json")
	writeFile(t, settings, `{"password":"`+secretText+`"}`)
	writeFile(t, filepath.Join(site, "files", "ok.txt"), "a tenant's file")
	if err := os.Symlink("../settings.json", filepath.Join(site, "files", "s.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(settings, filepath.Join(site, "files", "hard.txt")); err != nil {
		t.Fatal(err)
	}
	b.publish(t, provision.WebSite{Domain: "s.test", Docroot: b.docroot, Deny: []string{settings}})
	if res := b.get(t, "/sites/s.test/files/ok.txt", "s.test"); res.code != 200 {
		t.Fatalf("ok.txt: %d %q", res.code, res.body)
	}
	for _, p := range []string{"/sites/s.test/settings.json", "/sites/s.test/files/s.txt", "/sites/s.test/files/hard.txt"} {
		if res := b.get(t, p, "s.test"); res.code != 404 || strings.Contains(res.body, secretText) {
			t.Errorf("GET %s = %d %q, want 404", p, res.code, res.body)
		}
	}
}
