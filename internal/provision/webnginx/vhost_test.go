package webnginx

import (
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/testharness"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func goldenDriver(t *testing.T) *Driver {
	t.Helper()
	d, err := New(Config{
		ConfigDir:  "/etc/nginx/aegir",
		MainConfig: "/etc/nginx/nginx.conf",
		FastCGI:    "unix:/run/php/php8.2-fpm.sock",
		ListenAddr: netip.MustParseAddr("127.0.0.1"),
		Port:       8080,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestRenderGolden(t *testing.T) {
	t.Parallel()
	d := goldenDriver(t)
	cases := []struct {
		name string
		site provision.WebSite
	}{
		{"static", provision.WebSite{
			Domain:  "Example.COM",
			Docroot: "/var/aegir/platforms/static1/sites/example.com/public",
		}},
		{"php", provision.WebSite{
			Domain:  "shop.example.com",
			Docroot: "/var/aegir/platforms/php1/public",
			PHP:     true,
			Env:     map[string]string{"AEGIR_SITE_DIR": "/var/aegir/platforms/php1/sites/shop.example.com"},
			Deny:    []string{"/var/aegir/platforms/php1/sites/shop.example.com/settings.json"}, // outside the docroot: no rule
		}},
		{"php-docroot-platform-root", provision.WebSite{
			Domain:  "blog.example.com",
			Docroot: "/var/aegir/platforms/wordpress",
			PHP:     true,
			Env:     map[string]string{"AEGIR_SITE_DIR": "/var/aegir/platforms/wordpress/sites/blog.example.com"},
			Deny:    []string{"/var/aegir/platforms/wordpress/sites/blog.example.com/settings.json"},
		}},
		{"php-own-upstream", provision.WebSite{
			Domain:  "tcp.example.com",
			Docroot: "/var/aegir/platforms/php1/public",
			PHP:     true,
			FastCGI: "127.0.0.1:9000",
			Env:     map[string]string{"AEGIR_SITE_DIR": "/var/aegir/platforms/php1/sites/tcp.example.com"},
		}},
		{"aliases", provision.WebSite{
			Domain:  "example.org",
			Aliases: []string{"www.example.org", "EXAMPLE.net", "www.example.org"},
			Docroot: "/var/aegir/platforms/static1/sites/example.org/public",
		}},
		{"redirect-aliases", provision.WebSite{
			Domain:          "example.org",
			Aliases:         []string{"www.example.org", "example.net"},
			RedirectAliases: true,
			Docroot:         "/var/aegir/platforms/php1/public",
			PHP:             true,
			Env:             map[string]string{"AEGIR_SITE_DIR": "/var/aegir/platforms/php1/sites/example.org"},
		}},
		{"disabled", provision.WebSite{
			Domain:   "example.org",
			Aliases:  []string{"www.example.org"},
			Disabled: true,
			Docroot:  "/var/aegir/platforms/php1/public",
			PHP:      true,
		}},
		{"proxy", provision.WebSite{
			Domain:   "app.example.com",
			Upstream: "http://127.0.0.1:8081",
		}},
		{"snippet", provision.WebSite{
			Domain:       "wiki.example.com",
			Docroot:      "/var/aegir/platforms/wiki1/public",
			PHP:          true,
			Env:          map[string]string{"AEGIR_SITE_DIR": "/var/aegir/platforms/wiki1/sites/wiki.example.com", "APP_ENV": "production"},
			PlatformDir:  "/var/aegir/platforms/wiki1",
			NginxSnippet: "# short URLs and the deny rules of the app's .htaccess\nlocation ^~ /cache/ {\n    deny all;\n}\nlocation = /wiki {\n    return 301 /wiki/;\n}\nlocation /wiki/ {\n    rewrite ^/wiki/(.*)$ /index.php?title=$1 last;\n}\n",
		}},
		{"idn", provision.WebSite{
			Domain:  "bücher.example",
			Docroot: "/srv/www/buecher",
		}},
		{"https-redirect-hsts", provision.WebSite{
			Domain:          "secure.example.org",
			Aliases:         []string{"www.secure.example.org"},
			RedirectAliases: true,
			Docroot:         "/var/aegir/platforms/static1/sites/secure.example.org/public",
			ChallengeDir:    "/var/lib/aegir/acme-challenge",
			TLS:             &provision.WebTLS{Redirect: true, HSTS: true},
		}},
		{"https-on", provision.WebSite{
			Domain:       "both.example.org",
			Aliases:      []string{"www.both.example.org"},
			Docroot:      "/var/aegir/platforms/static1/sites/both.example.org/public",
			ChallengeDir: "/var/lib/aegir/acme-challenge",
			TLS:          &provision.WebTLS{},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := d.Render(c.site)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", c.name+".conf.golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if string(got) != string(want) {
				t.Errorf("rendered vhost differs from %s (go test -update rewrites it):\n%s", golden, got)
			}
		})
	}
}

// TestRenderRefusesCrafted feeds values built to break out of a directive
// or a block; every one must be refused with domain.ErrInvalid.
// A disabled site with HTTPS redirect answers its 503 over HTTP too: the
// back end checks a disabled site over HTTP.
func TestRenderDisabledHTTPSDoesNotRedirect(t *testing.T) {
	t.Parallel()
	d := goldenDriver(t)
	got, err := d.Render(provision.WebSite{Domain: "off.example.org", Docroot: "/srv/www/off", Disabled: true,
		TLS: &provision.WebTLS{Redirect: true}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(got), "return 301 https://") || strings.Count(string(got), "return 503") != 2 {
		t.Errorf("disabled HTTPS site:\n%s", got)
	}
}

func TestRenderRefusesCrafted(t *testing.T) {
	t.Parallel()
	d := goldenDriver(t)
	base := provision.WebSite{Domain: "ok.example.com", Docroot: "/srv/ok", PHP: true,
		Env: map[string]string{"AEGIR_SITE_DIR": "/srv/ok/sites/ok.example.com"}}
	cases := []struct {
		name string
		mod  func(*provision.WebSite)
	}{
		{"domain semicolon", func(s *provision.WebSite) { s.Domain = "a.com; include /etc/passwd" }},
		{"domain brace", func(s *provision.WebSite) { s.Domain = "a.com}server{" }},
		{"domain newline", func(s *provision.WebSite) { s.Domain = "a.com\nlisten 1" }},
		{"domain one label", func(s *provision.WebSite) { s.Domain = "localhost" }},
		{"alias injection", func(s *provision.WebSite) { s.Aliases = []string{"b.com;return 200 x"} }},
		{"alias space", func(s *provision.WebSite) { s.Aliases = []string{"b.com c.com"} }},
		{"docroot relative", func(s *provision.WebSite) { s.Docroot = "srv/ok" }},
		{"docroot dotdot", func(s *provision.WebSite) { s.Docroot = "/srv/../etc" }},
		{"docroot semicolon", func(s *provision.WebSite) { s.Docroot = "/srv/ok;autoindex on" }},
		{"docroot space", func(s *provision.WebSite) { s.Docroot = "/srv/a b" }},
		{"docroot dollar", func(s *provision.WebSite) { s.Docroot = "/srv/$host" }},
		{"docroot root", func(s *provision.WebSite) { s.Docroot = "/" }},
		{"fastcgi hostname", func(s *provision.WebSite) { s.FastCGI = "php.internal:9000" }},
		{"fastcgi injection", func(s *provision.WebSite) { s.FastCGI = "127.0.0.1:9000; include x" }},
		{"fastcgi relative socket", func(s *provision.WebSite) { s.FastCGI = "unix:php.sock" }},
		{"fastcgi socket brace", func(s *provision.WebSite) { s.FastCGI = "unix:/run/php.sock}" }},
		{"upstream hostname", func(s *provision.WebSite) { s.PHP = false; s.Env = nil; s.Upstream = "http://evil.example:80" }},
		{"upstream and php", func(s *provision.WebSite) { s.Upstream = "http://127.0.0.1:8081" }},
		{"env quote", func(s *provision.WebSite) {
			s.Env = map[string]string{"AEGIR_SITE_DIR": `/srv/x"; include /etc/passwd; #`}
		}},
		{"env dollar", func(s *provision.WebSite) { s.Env = map[string]string{"AEGIR_SITE_DIR": "/srv/$document_root"} }},
		{"env backslash", func(s *provision.WebSite) { s.Env = map[string]string{"AEGIR_SITE_DIR": `/srv/x\`} }},
		{"env name", func(s *provision.WebSite) { s.Env = map[string]string{"A B": "x"} }},
		{"env name lowercase", func(s *provision.WebSite) { s.Env = map[string]string{"path;x": "x"} }},
		{"env on static", func(s *provision.WebSite) { s.PHP = false }},
		{"snippet include", func(s *provision.WebSite) {
			s.PlatformDir, s.NginxSnippet = "/srv/ok", "include /etc/nginx/secret.conf;"
		}},
		{"snippet closes server", func(s *provision.WebSite) {
			s.PlatformDir, s.NginxSnippet = "/srv/ok", "}\nserver { listen 81; root /; }"
		}},
		{"snippet root outside", func(s *provision.WebSite) {
			s.PlatformDir, s.NginxSnippet = "/srv/ok", "location /x { root /etc; }"
		}},
		{"snippet lua", func(s *provision.WebSite) {
			s.PlatformDir, s.NginxSnippet = "/srv/ok", "location /x { content_by_lua_block { os.execute('id') } }"
		}},
		{"snippet no platform dir", func(s *provision.WebSite) { s.NginxSnippet = "deny all;" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := base
			c.mod(&s)
			out, err := d.Render(s)
			if !errors.Is(err, domain.ErrInvalid) {
				t.Fatalf("Render accepted crafted input (err %v):\n%s", err, out)
			}
		})
	}
}

// TestRenderQuotesEnvWithSpaces: a manifest's env value may hold spaces (a
// site name), and reaches PHP as one quoted FastCGI param.
func TestRenderQuotesEnvWithSpaces(t *testing.T) {
	t.Parallel()
	d := goldenDriver(t)
	s := provision.WebSite{Domain: "ok.example.com", Docroot: "/srv/ok", PHP: true,
		Env: map[string]string{"MW_SITENAME": "Aegir Wiki"}}
	out, err := d.Render(s)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `fastcgi_param MW_SITENAME "Aegir Wiki";`) {
		t.Fatalf("env with a space not rendered as one quoted param:\n%s", out)
	}
}

func TestNewRefusesBadSettings(t *testing.T) {
	t.Parallel()
	good := Config{ConfigDir: "/etc/nginx/aegir", MainConfig: "/etc/nginx/nginx.conf"}
	cases := map[string]func(*Config){
		"no config dir":   func(c *Config) { c.ConfigDir = "" },
		"relative main":   func(c *Config) { c.MainConfig = "nginx.conf" },
		"binary with arg": func(c *Config) { c.Binary = "nginx -g daemon" },
		"binary relative": func(c *Config) { c.Binary = "./nginx" },
		"pid file space":  func(c *Config) { c.PidFile = "/run/ng inx.pid" },
		"fastcgi host":    func(c *Config) { c.FastCGI = "fpm:9000" },
		"port":            func(c *Config) { c.Port = 70000 },
	}
	for name, mod := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := good
			mod(&c)
			if _, err := New(c, nil); !errors.Is(err, domain.ErrInvalid) {
				t.Fatalf("New accepted %+v: %v", c, err)
			}
		})
	}
}

// FuzzRender checks that whatever Render accepts, no interpolated value
// carries a character that could end a directive or open a block: the
// rendered file has exactly the structure of the template.
func FuzzRender(f *testing.F) {
	for _, s := range testharness.HostileInputs {
		f.Add(s, "www.example.com", "/srv/www", "unix:/run/php.sock", s, true, false)
		f.Add("example.com", s, s, s, "", true, true)
	}
	f.Add("example.com", "www.example.com", "/srv/www", "unix:/run/php.sock", "/srv/www/sites/example.com", true, false)
	f.Add("a.com;x", "b.com}", "/srv/a b", "127.0.0.1:9000;", "x\"y", true, true)
	f.Add("bücher.example", "", "/srv/$x", "[::1]:9000", "/a/b", false, false)
	d, err := New(Config{ConfigDir: "/etc/nginx/aegir", MainConfig: "/etc/nginx/nginx.conf", Port: 8080}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, dom, alias, docroot, fastcgi, env string, php, redirect bool) {
		s := provision.WebSite{Domain: dom, Docroot: docroot, PHP: php, FastCGI: fastcgi, RedirectAliases: redirect}
		if alias != "" {
			s.Aliases = []string{alias}
		}
		if php && env != "" {
			s.Env = map[string]string{"AEGIR_SITE_DIR": env}
		}
		out, err := d.Render(s)
		if err != nil {
			if !errors.Is(err, domain.ErrInvalid) {
				t.Fatalf("error is not ErrInvalid: %v", err)
			}
			return
		}
		for _, v := range []string{dom, alias, docroot, fastcgi, env} {
			dangerous := ";{}\"'$\\#\n\r\t "
			if v == env {
				dangerous = ";{}\"'$\\#\n\r\t" // env is rendered quoted: a space is data there
			}
			// Shorter values ("#", "{}") occur in any vhost's own text.
			if len(v) >= 3 && strings.ContainsAny(v, dangerous) && strings.Contains(string(out), v) {
				t.Fatalf("accepted value %q appears in the output:\n%s", v, out)
			}
		}
		if php && env != "" && strings.Contains(string(out), env) && !strings.Contains(string(out), `"`+env+`";`) {
			t.Fatalf("env value %q is not rendered quoted:\n%s", env, out)
		}
		if strings.Count(string(out), "{") != strings.Count(string(out), "}") {
			t.Fatalf("unbalanced braces:\n%s", out)
		}
	})
}
