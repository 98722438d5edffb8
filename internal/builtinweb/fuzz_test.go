package builtinweb

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/testharness"
)

// FuzzHostRouting checks that host normalisation and route lookup only
// ever route a request to a site whose domain or alias is the normalised
// host, and that no Host or path makes the handler panic or leave the
// docroot.
func FuzzHostRouting(f *testing.F) {
	for _, s := range testharness.HostileInputs {
		f.Add(s, "/")
		f.Add("a.test", s)
	}
	for _, s := range []string{"a.test", "A.TEST.", "a.test:80", "www.a.test:65535", "a.test:65536", "xn--bcher-kva.test",
		"bücher.test", "a..test", "[::1]:80", "a.test@b.test", "a.test/x", "", ":", "a.test:", "\x00", "ａ.test", "-a.test", "a-.test"} {
		f.Add(s, "/")
		f.Add(s, "/../secret.txt")
	}
	base := f.TempDir()
	docroot := filepath.Join(base, "public")
	writeFile(f, filepath.Join(docroot, "index.html"), "index")
	writeFile(f, filepath.Join(base, "secret.txt"), secretText)
	routes := filepath.Join(base, "routes")
	srv, err := New(Config{RoutesDir: routes})
	if err != nil {
		f.Fatal(err)
	}
	drv, _ := NewDriver(routes, "", nil)
	for _, ws := range []provision.WebSite{
		{Domain: "a.test", Aliases: []string{"www.a.test"}, Docroot: docroot},
		{Domain: "bücher.test", Docroot: docroot},
		{Domain: "r.test", Aliases: []string{"www.r.test"}, RedirectAliases: true, Docroot: docroot},
	} {
		if err := drv.Publish(f.Context(), ws); err != nil {
			f.Fatal(err)
		}
	}
	hosts := map[string]bool{"a.test": true, "www.a.test": true, "xn--bcher-kva.test": true, "r.test": true, "www.r.test": true}

	f.Fuzz(func(t *testing.T, host, target string) {
		key, ok := hostKey(host)
		if ok && hosts[key] {
			// A key that routes is a valid normalised domain.
			if n, err := domain.NormalizeDomain(key); err != nil || n != key {
				t.Fatalf("host %q routes by key %q, which is not normalised (%q, %v)", host, key, n, err)
			}
		}
		if !strings.HasPrefix(target, "/") || strings.ContainsAny(target, " \r\n\t#") {
			return
		}
		req, err := http.NewRequest("GET", "http://x"+target, nil)
		if err != nil {
			return
		}
		req.Host = host
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		body := rec.Body.String()
		if strings.Contains(body, secretText) {
			t.Fatalf("host %q target %q read outside the docroot", host, target)
		}
		if rec.Code == http.StatusOK && (!ok || !hosts[key]) {
			t.Fatalf("host %q (key %q, %v) answered 200", host, key, ok)
		}
		if rec.Code == http.StatusMovedPermanently && ok && key == "www.r.test" {
			if loc := rec.Header().Get("Location"); !strings.HasPrefix(loc, "http://r.test/") && !strings.HasPrefix(loc, "http://r.test:") {
				t.Fatalf("redirect of %q to %q", host, loc)
			}
		}
	})
}
