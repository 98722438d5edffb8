package platform

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/testharness"
)

const fullManifest = `
name = "wiki"
version = "1.39"
docroot = "public"
database = false
nginx_snippet = "aegir/nginx.conf"
hooks {
  install      = ["php", "bin/install.php"]
  post-restore = ["php", "bin/hook.php", "post-restore"]
  post-clone   = ["bin/tool", "--site", "a;b|c $(d)"]
  post-migrate = ["php", "bin/hook.php"]
  verify       = ["php", "maintenance/check.php"]
  pre-delete   = ["php", "bin/hook.php", "pre-delete"]
}
env {
  APP_ENV = "production"
  WIKI_CACHE = "/var/cache/wiki"
  SITE_NAME = "Aegir Wiki"
}
expect {
  path = "/index.php?title=Main_Page"
  text = "Main Page"
}
`

func TestParseManifestFull(t *testing.T) {
	t.Parallel()
	m, err := ParseManifest("aegir.hcl", []byte(fullManifest))
	if err != nil {
		t.Fatal(err)
	}
	if m.HasDatabase() || m.NginxSnippet != "aegir/nginx.conf" || m.Env["APP_ENV"] != "production" || m.Env["SITE_NAME"] != "Aegir Wiki" || len(m.Env) != 3 {
		t.Fatalf("manifest %+v env %v", m, m.Env)
	}
	if m.Expect == nil || m.Expect.Path != "/index.php?title=Main_Page" || m.Expect.Text != "Main Page" {
		t.Fatalf("expect %+v", m.Expect)
	}
	if got := m.Hooks.byName()[HookPostClone]; len(got) != 3 || got[2] != "a;b|c $(d)" {
		t.Fatalf("post-clone %q: shell metacharacters are plain argv", got)
	}
	d, err := ParseManifest("aegir.hcl", []byte(`docroot = "public"
expect {
  text = "x"
}`))
	if err != nil || !d.HasDatabase() || d.Expect.Path != "/" {
		t.Fatalf("defaults: %+v, %v", d, err)
	}
}

func TestParseManifestRefuses(t *testing.T) {
	t.Parallel()
	for name, src := range map[string]string{
		"hook absolute program":  `hooks { verify = ["/bin/sh", "-c", "x"] }`,
		"hook program leaves":    `hooks { post-restore = ["../other/bin/tool"] }`,
		"hook program dotdot":    `hooks { pre-delete = ["bin/../../x"] }`,
		"hook program unclean":   `hooks { post-clone = ["./bin//tool"] }`,
		"hook empty":             `hooks { post-migrate = [] }`,
		"hook empty program":     `hooks { verify = [""] }`,
		"hook control character": `hooks { verify = ["php", "a\nb"] }`,
		"unknown hook":           `hooks { post-install = ["php"] }`,
		"snippet absolute":       `nginx_snippet = "/etc/nginx/nginx.conf"`,
		"snippet leaves":         `nginx_snippet = "../x.conf"`,
		"snippet inner dotdot":   `nginx_snippet = "aegir/../../x.conf"`,
		"snippet dot":            `nginx_snippet = "."`,
		"snippet odd characters": `nginx_snippet = "a b.conf"`,
		"env lowercase":          `env { app = "x" }`,
		"env reserved AEGIR":     `env { AEGIR_SITE_DIR = "/tmp" }`,
		"env reserved PATH":      `env { PATH = "/tmp" }`,
		"env reserved LD":        `env { LD_PRELOAD = "/tmp/x.so" }`,
		"env reserved PHP_VALUE": `env { PHP_VALUE = "auto_prepend_file=/tmp/x" }`,
		"env reserved HTTP":      `env { HTTP_HOST = "x" }`,
		"env value quote":        `env { APP = "a\"b" }`,
		"env value dollar":       `env { APP = "$x" }`,
		"env value newline":      `env { APP = "a\nb" }`,
		"env not a string":       `env { APP = 3 }`,
		"env not a string list":  `env { APP = ["a"] }`,
		"env function":           `env { APP = file("/etc/passwd") }`,
		"env block in block":     "env {\n  inner {\n  }\n}",
		"expect no text":         `expect { path = "/" }`,
		"expect relative path":   `expect { path = "index.php", text = "x" }`,
		"expect space in path":   `expect { path = "/a b", text = "x" }`,
		"expect control in text": `expect { text = "a\tb" }`,
		"database not bool":      `database = "no"`,
		"expect text too long":   `expect { text = "` + strings.Repeat("x", 300) + `" }`,
		"docroot leaves":         `docroot = "../x"`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			src := src
			if !strings.HasPrefix(src, "docroot") {
				src = "docroot = \"public\"\n" + src
			}
			if _, err := ParseManifest("aegir.hcl", []byte(src)); !errors.Is(err, ErrManifest) {
				t.Fatalf("accepted %s (err %v)", src, err)
			}
		})
	}
}

func TestManifestTooManyEnv(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("docroot = \"public\"\nenv {\n")
	for i := range MaxEnv + 1 {
		b.WriteString("  V" + strings.Repeat("A", i+1) + " = \"x\"\n")
	}
	b.WriteString("}\n")
	if _, err := ParseManifest("aegir.hcl", []byte(b.String())); !errors.Is(err, ErrManifest) {
		t.Fatalf("accepted %d env variables: %v", MaxEnv+1, err)
	}
}

// writePlatform writes a php platform with manifest src and the files.
func writePlatform(t *testing.T, src string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	files["aegir.hcl"] = src
	files["public/index.php"] = "<?php"
	for f, c := range files {
		p := filepath.Join(dir, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestNginxSnippetLoaded(t *testing.T) {
	t.Parallel()
	snippet := "location ^~ /private/ {\n    deny all;\n}\n"
	dir := writePlatform(t, "docroot = \"public\"\nnginx_snippet = \"aegir/nginx.conf\"\n", map[string]string{"aegir/nginx.conf": snippet})
	p, err := Open(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Site(); got.NginxSnippet != snippet || !got.Database {
		t.Fatalf("Site() = %+v", got)
	}
	for _, fx := range []string{"static", "drupal-fixture"} {
		q, err := Open(fixture(t, fx), "")
		if err != nil {
			t.Fatal(err)
		}
		if got := q.Site(); !got.Database || got.NginxSnippet != "" || got.Env != nil || got.Expect != nil {
			t.Errorf("%s declares %+v", fx, got)
		}
	}
}

func TestNginxSnippetRefused(t *testing.T) {
	t.Parallel()
	outside := filepath.Join(t.TempDir(), "outside.conf")
	if err := os.WriteFile(outside, []byte("deny all;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, setup := range map[string]func(dir string){
		"missing": func(string) {},
		"link out of the platform": func(dir string) {
			if err := os.Symlink(outside, filepath.Join(dir, "aegir", "nginx.conf")); err != nil {
				t.Fatal(err)
			}
		},
		"directory": func(dir string) {
			if err := os.Mkdir(filepath.Join(dir, "aegir", "nginx.conf"), 0o755); err != nil {
				t.Fatal(err)
			}
		},
		"too large": func(dir string) {
			if err := os.WriteFile(filepath.Join(dir, "aegir", "nginx.conf"), []byte(strings.Repeat("# x\n", MaxNginxSnippet)), 0o644); err != nil {
				t.Fatal(err)
			}
		},
		"include": func(dir string) {
			if err := os.WriteFile(filepath.Join(dir, "aegir", "nginx.conf"), []byte("include /etc/nginx/x.conf;\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := writePlatform(t, "docroot = \"public\"\nnginx_snippet = \"aegir/nginx.conf\"\n", map[string]string{"aegir/README": "x"})
			setup(dir)
			if _, err := Open(dir, ""); !errors.Is(err, ErrManifest) {
				t.Fatalf("opened a platform whose snippet is %s: %v", name, err)
			}
		})
	}
}

func TestCheckNginxSnippet(t *testing.T) {
	t.Parallel()
	const plat = "/srv/platforms/wiki"
	good := []string{
		"",
		"# only a comment\n",
		"location ^~ /private/ { deny all; }",
		"location = /wiki { return 301 /wiki/; }\nlocation /wiki/ { rewrite ^/wiki/(.*)$ /index.php?title=$1 last; }",
		"location ~* \\.(png|css)$ { expires 30d; add_header Cache-Control \"public\"; }",
		"location /static/ { alias /srv/platforms/wiki/static/; }",
		"location /x { root /srv/platforms/wiki; }",
		"error_page 404 /404.html;",
		"location /a { limit_except GET { deny all; } }",
		"add_header X-Note 'a;b{c}';",
	}
	for _, src := range good {
		if err := CheckNginxSnippet(src, plat); err != nil {
			t.Errorf("refused %q: %v", src, err)
		}
	}
	bad := map[string]string{
		"include":             "include /etc/nginx/secret.conf;",
		"include in location": "location / { include fastcgi_params; }",
		"load_module":         "load_module modules/x.so;",
		"lua":                 "location /x { content_by_lua_block { os.execute('id') } }",
		"lua directive":       "access_by_lua 'x';",
		"perl":                "perl_set $x 'sub { 1 }';",
		"proxy_pass":          "location /x { proxy_pass http://127.0.0.1:22; }",
		"fastcgi_pass":        "location ~ \\.phtml$ { fastcgi_pass unix:/run/php.sock; }",
		"access_log":          "access_log /etc/cron.d/x;",
		"root outside":        "location /x { root /etc; }",
		"root prefix trick":   "location /x { root /srv/platforms/wiki2; }",
		"root dotdot":         "location /x { root /srv/platforms/wiki/../../../etc; }",
		"root variable":       "location /x { root $document_root/../x; }",
		"root relative":       "location /x { root html; }",
		"alias outside":       "location /x { alias /etc/; }",
		"closes server":       "}\nserver { listen 81; }",
		"unbalanced open":     "location /x {",
		"no semicolon":        "deny all",
		"semicolon alone":     ";",
		"quoted name":         "\"include\" /etc/x;",
		"hidden by escape":    "add_header X a\\;include /etc/x;",
		"unclosed quote":      "add_header X \"a;",
		"quote then word":     "add_header X \"a\"include;",
		"dollar brace":        "return 200 ${x};",
		"deny opens block":    "deny { }",
		"location no block":   "location /x;",
		"server block":        "server { }",
		"if":                  "if ($x) { return 403; }",
		"set":                 "set $x 1;",
		"too deep":            "location /a { location /b { location /c { location /d { location /e { deny all; } } } } }",
		"control char":        "deny all;\x00",
		"backslash at eol":    "add_header X a\\\n;",
	}
	for name, src := range bad {
		if err := CheckNginxSnippet(src, plat); err == nil {
			t.Errorf("%s: accepted %q", name, src)
		}
	}
	if err := CheckNginxSnippet("include x;", plat); err == nil || !strings.Contains(err.Error(), "include") {
		t.Errorf("the error does not name the directive: %v", err)
	}
}

// FuzzManifest feeds the parser arbitrary source, seeded with bad input:
// whatever it accepts must keep every path inside the platform, every
// hook program a name on the PATH or a relative path inside it, and every
// env entry allow-listed.
func FuzzManifest(f *testing.F) {
	for _, s := range testharness.HostileInputs {
		f.Add([]byte("docroot = " + strconv.Quote(s)))
		f.Add([]byte("docroot = \"public\"\nhooks {\n verify = [" + strconv.Quote(s) + "]\n}\nenv {\n A = " + strconv.Quote(s) + "\n}"))
	}
	f.Add([]byte(fullManifest))
	for _, s := range []string{
		`docroot = "public"`,
		`docroot = "/etc"`,
		"docroot = \"public\"\nnginx_snippet = \"../../etc/nginx/nginx.conf\"",
		"docroot = \"public\"\nhooks {\n verify = [\"/bin/sh\", \"-c\", \"rm -rf /\"]\n}",
		"docroot = \"public\"\nhooks {\n pre-delete = [\"../../bin/sh\"]\n}",
		"docroot = \"public\"\nenv {\n LD_PRELOAD = \"/tmp/x.so\"\n PHP_VALUE = \"x\"\n}",
		"docroot = \"public\"\nenv {\n A = \"${file(\\\"/etc/passwd\\\")}\"\n}",
		"docroot = \"public\"\nexpect {\n path = \"http://evil/\"\n text = \"\"\n}",
		"docroot = \"public\"\ndatabase = null",
		"docroot = \"public\"\nenv {\n A = \"a\\nb\"\n}",
		"docroot = \"public\"\nhooks {\n post-restore = [\"php\", \"\\u0000\"]\n}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		m, err := ParseManifest("aegir.hcl", src)
		if err != nil {
			if !errors.Is(err, ErrManifest) {
				t.Fatalf("error without ErrManifest: %v", err)
			}
			return
		}
		for _, p := range []string{m.Docroot, m.NginxSnippet} {
			if strings.HasPrefix(p, "/") || strings.Contains("/"+p+"/", "/../") {
				t.Fatalf("accepted path %q", p)
			}
		}
		for name, argv := range m.Hooks.byName() {
			if argv == nil {
				continue
			}
			if len(argv) == 0 || argv[0] == "" || strings.HasPrefix(argv[0], "/") || strings.Contains("/"+argv[0]+"/", "/../") {
				t.Fatalf("accepted hook %s %q", name, argv)
			}
		}
		for k, v := range m.Env {
			if CheckEnvName(k) != nil || CheckEnvValue(k, v) != nil || strings.HasPrefix(k, "AEGIR_") {
				t.Fatalf("accepted env %s=%q", k, v)
			}
		}
		if e := m.Expect; e != nil && (!strings.HasPrefix(e.Path, "/") || e.Text == "") {
			t.Fatalf("accepted expect %+v", e)
		}
	})
}

// FuzzNginxSnippet feeds the snippet check arbitrary text, seeded with
// attempts to hide a directive: it must not panic, and what it accepts
// must not hold a forbidden directive at the start of a statement.
func FuzzNginxSnippet(f *testing.F) {
	for _, s := range testharness.HostileInputs {
		f.Add(s)
		f.Add("location / { root " + s + "; }")
	}
	for _, s := range []string{
		"location / { deny all; }",
		"include /etc/passwd;",
		"add_header X a\\;include /etc/x;",
		"add_header X \"a;\ninclude /etc/x;\"",
		"#\ninclude x;",
		"deny all;#}\n}",
		"location /x { root /srv/p/../../etc; }",
		"location '/x' { 'include' x; }",
		"return 200 ${x};",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		if CheckNginxSnippet(src, "/srv/p") != nil {
			return
		}
		toks, err := snippetTokens(src)
		if err != nil {
			t.Fatalf("accepted %q that does not tokenise: %v", src, err)
		}
		start := true
		for _, tk := range toks {
			if start && !tk.special && !snippetDirectives[tk.text] {
				t.Fatalf("accepted %q with directive %q", src, tk.text)
			}
			start = tk.special
		}
	})
}
