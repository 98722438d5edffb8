package cli

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"os"
	"path/filepath"
)

func TestSiteListTable(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.api.withFixtures()
	s := fixtureSite()
	b.api.on("GET", "/sites", 200, map[string]any{"items": []domain.Site{s}, "total": 120, "offset": 0, "limit": 1})
	r := b.run("site", "list", "-status", "enabled", "-platform", "drupal10", "-client", "acme", "-q", "exam", "-limit", "1").want(t, ExitOK)

	req := b.api.only("GET", "/sites")
	for k, v := range map[string]string{"status": "enabled", "platform_id": platformID, "client_id": clientID, "q": "exam", "limit": "1", "offset": "0"} {
		if got := req.Query.Get(k); got != v {
			t.Errorf("query %s=%q, want %q", k, got, v)
		}
	}
	if got := req.Header.Get("Authorization"); got != "Bearer "+testToken {
		t.Errorf("Authorization %q", got)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("want a header and one row, got:\n%s", r.stdout)
	}
	if f := strings.Fields(lines[0]); !slices.Equal(f, []string{"ID", "DOMAIN", "STATUS", "PLATFORM", "CLIENT", "ALIASES"}) {
		t.Errorf("header %q", f)
	}
	if f := strings.Fields(lines[1]); !slices.Equal(f, []string{siteID, "example.com", "enabled", "drupal10", "acme", "www.example.com"}) {
		t.Errorf("row %q", f)
	}
	contains(t, "stderr", r.stderr, "Showing 1-1 of 120 sites; use -offset 1 for more.")
}

func TestSiteListJSON(t *testing.T) {
	t.Parallel()
	b := setup(t)
	page := list(fixtureSite())
	b.api.on("GET", "/sites", 200, page)
	r := b.run("site", "list", "-json").want(t, ExitOK)
	jsonEqual(t, r.stdout, mustJSON(page))
	// -json needs no name lookups.
	if got := b.api.all(); len(got) != 1 {
		t.Errorf("requests %v, want only GET /sites", got)
	}
}

func TestSiteListUnknownPlatform(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.api.withFixtures()
	r := b.run("site", "list", "-platform", "nope").want(t, ExitFailed)
	contains(t, "stderr", r.stderr, `no platform with id or name "nope"`, "(not_found)")
}

func TestSiteShow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.api.withFixtures()
	r := b.run("site", "show", "example.com").want(t, ExitOK)
	contains(t, "stdout", r.stdout, "Domain", "example.com", "drupal10 ("+platformID+")", "db1 ("+dbID+")", "acme ("+clientID+")", "www.example.com")
}

func TestSiteCreate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := fixtureSite()
	s.Status = domain.SitePending
	task := fixtureTask(domain.TaskInstall, domain.TaskQueued)
	b.api.on("POST", "/sites", 201, map[string]any{"site": s, "task": task})
	r := b.run("site", "create", "example.com", "-platform", "drupal10", "-db-server", dbID, "-client", "acme",
		"-alias", "www.example.com", "-alias", "a.example.com,b.example.com", "-redirect-aliases", "-profile", "minimal",
		"-php", "memory_limit=1G,max_children=4").want(t, ExitOK)
	body := jsonBody(t, b.api.only("POST", "/sites"))
	want := map[string]any{
		"domain":           "example.com",
		"aliases":          []any{"www.example.com", "a.example.com", "b.example.com"},
		"redirect_aliases": true,
		"platform":         "drupal10", // a name: the API looks it up
		"db_server_id":     dbID,       // an id
		"client":           "acme",
		"profile":          "minimal",
		"php":              map[string]any{"memory_limit": 1024, "max_children": 4},
	}
	jsonEqual(t, mustJSON(body), mustJSON(want))
	contains(t, "stdout", r.stdout, "Site example.com created (id "+siteID+")", "Task "+taskID+" (install on site example.com) queued", "aegir task logs -f "+taskID)
}

func TestSiteCreateJSON(t *testing.T) {
	t.Parallel()
	b := setup(t)
	answer := map[string]any{"site": fixtureSite(), "task": fixtureTask(domain.TaskInstall, domain.TaskQueued)}
	b.api.on("POST", "/sites", 201, answer)
	r := b.run("site", "create", "example.com", "-platform", "p", "-db-server", "d", "-client", "c", "-json").want(t, ExitOK)
	jsonEqual(t, r.stdout, mustJSON(answer))
}

func TestSiteEdit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		aliases  []any
		redirect bool
	}{
		{"replace", []string{"-alias", "a.example.com", "-alias", "b.example.com"}, []any{"a.example.com", "b.example.com"}, false},
		{"add", []string{"-add-alias", "shop.example.com"}, []any{"www.example.com", "shop.example.com"}, false},
		{"remove", []string{"-remove-alias", "www.example.com"}, []any{}, false},
		{"none and redirect", []string{"-no-aliases", "-redirect-aliases"}, []any{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.api.withFixtures()
			task := fixtureTask(domain.TaskVerify, domain.TaskQueued)
			b.api.on("PUT", "/sites/"+siteID, 200, map[string]any{"site": fixtureSite(), "task": task})
			args := append([]string{"site", "edit", "example.com"}, tt.args...)
			r := b.run(args...).want(t, ExitOK)
			body := jsonBody(t, b.api.only("PUT", "/sites/"+siteID))
			jsonEqual(t, mustJSON(body["aliases"]), mustJSON(tt.aliases))
			if body["redirect_aliases"] != tt.redirect {
				t.Errorf("redirect_aliases %v, want %v", body["redirect_aliases"], tt.redirect)
			}
			// The rest of the site goes back as read, with its version.
			if body["version"] != float64(9) || body["domain"] != "example.com" || body["platform_id"] != platformID {
				t.Errorf("PUT body lost fields: %v", body)
			}
			contains(t, "stdout", r.stdout, "Site example.com updated.", "Task "+taskID+" (verify")
		})
	}
}

// TestSiteEditPHP: -php sets a site's own php-fpm limits (sizes in MiB,
// with M or G), keeps the ones it does not name, and default gives one
// back to the web service; the API's refusal names the field.
func TestSiteEditPHP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		had  *domain.SitePHP
		args []string
		want string
	}{
		{"set", nil, []string{"-php", "memory_limit=512M,upload_max=1G", "-php", "max_children=8"}, `{"memory_limit":512,"upload_max":1024,"max_children":8}`},
		{"keep the others", &domain.SitePHP{MemoryLimit: 512, MaxChildren: 8}, []string{"-php", "upload_max=100"}, `{"memory_limit":512,"upload_max":100,"max_children":8}`},
		{"one back to the service", &domain.SitePHP{MemoryLimit: 512, MaxChildren: 8}, []string{"-php", "memory_limit=default"}, `{"max_children":8}`},
		{"all back to the service", &domain.SitePHP{MemoryLimit: 512}, []string{"-php", "memory_limit="}, `null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.api.withFixtures()
			site := fixtureSite()
			site.PHP = tt.had
			b.api.on("GET", "/sites/example.com", 200, site)
			b.api.on("PUT", "/sites/"+siteID, 200, map[string]any{"site": site, "task": fixtureTask(domain.TaskVerify, domain.TaskQueued)})
			b.run(append([]string{"site", "edit", "example.com"}, tt.args...)...).want(t, ExitOK)
			body := jsonBody(t, b.api.only("PUT", "/sites/"+siteID))
			jsonEqual(t, mustJSON(body["php"]), tt.want)
		})
	}
	b := setup(t)
	b.api.withFixtures()
	b.api.on("PUT", "/sites/"+siteID, 400, map[string]any{"error": map[string]any{"code": "invalid", "field": "php.max_children",
		"message": "php.max_children: 65 is out of bounds: it must be from 1 to 64 (or 0 for the web service's php_max_children)"}})
	r := b.run("site", "edit", "example.com", "-php", "max_children=65").want(t, ExitFailed)
	contains(t, "stderr", r.stderr, "php.max_children", "1 to 64")
}

func TestSiteEditStaleVersion(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.api.withFixtures()
	b.api.on("PUT", "/sites/"+siteID, 409, apiErr("conflict", "the site changed since you read it; read it again and retry"))
	r := b.run("site", "edit", "example.com", "-redirect-aliases=false").want(t, ExitFailed)
	contains(t, "stderr", r.stderr, "(conflict)")
}

func TestSiteTasks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		typ  string
		targ map[string]any
	}{
		{[]string{"site", "backup", "example.com"}, "backup", nil},
		{[]string{"site", "disable", "example.com"}, "disable", nil},
		{[]string{"site", "enable", "example.com"}, "enable", nil},
		{[]string{"site", "verify", "example.com"}, "verify", nil},
		{[]string{"site", "clone", "example.com", "-domain", "staging.example.com", "-platform", "drupal10"}, "clone",
			map[string]any{"domain": "staging.example.com", "platform_id": platformID}},
		{[]string{"site", "migrate", "example.com", "-db-server", "db1"}, "migrate",
			map[string]any{"db_server_id": dbID}},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.api.withFixtures()
			task := fixtureTask(domain.TaskType(tt.typ), domain.TaskQueued)
			b.api.on("POST", "/sites/example.com/tasks", 202, task)
			r := b.run(tt.args...).want(t, ExitOK)
			body := jsonBody(t, b.api.only("POST", "/sites/example.com/tasks"))
			if body["type"] != tt.typ {
				t.Errorf("type %v, want %s", body["type"], tt.typ)
			}
			if tt.targ != nil {
				jsonEqual(t, mustJSON(body["args"]), mustJSON(tt.targ))
			} else if _, ok := body["args"]; ok {
				t.Errorf("unexpected args %v", body["args"])
			}
			contains(t, "stdout", r.stdout, "Task "+taskID+" ("+tt.typ+" on site example.com) queued")
		})
	}
}

func TestSiteDeleteConfirmation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		args   []string
		tty    bool
		typed  string
		code   int
		posted bool
		msg    string
	}{
		{"script without -yes refuses", nil, false, "example.com\n", ExitUsage, false, "refusing to delete the site example.com"},
		{"-yes", []string{"-yes"}, false, "", ExitOK, true, ""},
		{"terminal, typed the domain", nil, true, "example.com\n", ExitOK, true, `Type "example.com" to confirm`},
		{"terminal, typed something else", nil, true, "exmaple.com\n", ExitFailed, false, "confirmation did not match; nothing was done"},
		{"terminal, no answer", nil, true, "", ExitFailed, false, "confirmation did not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.api.withFixtures()
			b.api.on("POST", "/sites/"+siteID+"/tasks", 202, fixtureTask(domain.TaskDelete, domain.TaskQueued))
			b.tty, b.in = tt.tty, tt.typed
			r := b.run(append([]string{"site", "delete", "example.com"}, tt.args...)...).want(t, tt.code)
			contains(t, "stderr", r.stderr, tt.msg)
			posts := b.api.requests("POST", "/sites/"+siteID+"/tasks")
			if (len(posts) == 1) != tt.posted {
				t.Fatalf("posted %d delete tasks, want posted=%v", len(posts), tt.posted)
			}
			if tt.posted && jsonBody(t, posts[0])["type"] != "delete" {
				t.Errorf("body %s", posts[0].Body)
			}
			if !tt.posted && len(b.api.writes()) != 0 {
				t.Errorf("writes %v", b.api.writes())
			}
		})
	}
}

// TestSiteDisableAsks: disable (Form.Ask) asks a plain yes or no on a
// terminal, never for the domain; a script and -yes are not asked.
func TestSiteDisableAsks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		args   []string
		tty    bool
		typed  string
		code   int
		posted bool
		msg    string
	}{
		{"script: not asked", nil, false, "", ExitOK, true, ""},
		{"-yes on a terminal", []string{"-yes"}, true, "", ExitOK, true, ""},
		{"terminal, y", nil, true, "y\n", ExitOK, true, "Disable site example.com? [y/N]"},
		{"terminal, yes", nil, true, "YES\n", ExitOK, true, "[y/N]"},
		{"terminal, no", nil, true, "n\n", ExitFailed, false, "nothing was done"},
		{"terminal, the domain is not a yes", nil, true, "example.com\n", ExitFailed, false, "nothing was done"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.api.withFixtures()
			b.api.on("POST", "/sites/example.com/tasks", 202, fixtureTask(domain.TaskDisable, domain.TaskQueued))
			b.tty, b.in = tt.tty, tt.typed
			r := b.run(append([]string{"site", "disable", "example.com"}, tt.args...)...).want(t, tt.code)
			contains(t, "stderr", r.stderr, tt.msg)
			if strings.Contains(r.stderr, "Type ") {
				t.Errorf("disable asks to type something: %s", r.stderr)
			}
			if posts := b.api.requests("POST", "/sites/example.com/tasks"); (len(posts) == 1) != tt.posted {
				t.Fatalf("posted %d disable tasks, want posted=%v", len(posts), tt.posted)
			}
		})
	}
	// migrate asks the same way.
	b := setup(t)
	b.api.withFixtures()
	b.api.on("POST", "/sites/example.com/tasks", 202, fixtureTask(domain.TaskMigrate, domain.TaskQueued))
	b.tty, b.in = true, "n\n"
	r := b.run("site", "migrate", "example.com", "-domain", "example.org").want(t, ExitFailed)
	contains(t, "stderr", r.stderr, "Migrate the site example.com?")
	if len(b.api.writes()) != 0 {
		t.Errorf("a refused migrate wrote: %v", b.api.writes())
	}
}

func TestSiteRestore(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.api.withFixtures()
	b.api.on("POST", "/sites/"+siteID+"/tasks", 202, fixtureTask(domain.TaskRestore, domain.TaskQueued))
	b.run("site", "restore", "example.com", "-backup", "0000000000000000b001").want(t, ExitUsage) // no -yes, no terminal
	if n := len(b.api.writes()); n != 0 {
		t.Fatalf("restore without -yes wrote: %v", b.api.writes())
	}
	b.run("site", "restore", "example.com", "-backup", "0000000000000000b001", "-yes").want(t, ExitOK)
	body := jsonBody(t, b.api.only("POST", "/sites/"+siteID+"/tasks"))
	jsonEqual(t, mustJSON(body), `{"type":"restore","args":{"backup_id":"0000000000000000b001"}}`)
}

func TestSiteBackups(t *testing.T) {
	t.Parallel()
	b := setup(t)
	backups := []domain.Backup{{ID: "0000000000000000b001", SiteID: siteID, Domain: "example.com", TaskID: taskID, Size: 3 << 20, Reason: "manual", CreatedAt: t0}}
	b.api.on("GET", "/sites/example.com/backups", 200, list(backups...))
	r := b.run("site", "backups", "example.com").want(t, ExitOK)
	contains(t, "stdout", r.stdout, "0000000000000000b001", "3.0 MiB", "manual", "2026-03-01 12:00:00Z")

	// A bare array is understood too.
	b2 := setup(t)
	b2.api.on("GET", "/sites/example.com/backups", 200, backups)
	r = b2.run("site", "backups", "example.com").want(t, ExitOK)
	contains(t, "stdout", r.stdout, "0000000000000000b001")
}

func TestSiteNotFound(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := b.run("site", "show", "nope.example").want(t, ExitFailed)
	contains(t, "stderr", r.stderr, "(not_found)")
	b.api.only("GET", "/sites/nope.example")
	_ = http.StatusOK
}

func TestSiteUploadCertificate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.api.withFixtures()
	b.api.on("PUT", "/sites/"+siteID+"/certificate", 202, fixtureTask(domain.TaskVerify, domain.TaskQueued))
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "chain.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, []byte("CHAIN"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, []byte("KEY"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := b.run("site", "upload-certificate", "example.com", "-cert", certFile, "-key", keyFile).want(t, ExitOK)
	body := jsonBody(t, b.api.only("PUT", "/sites/"+siteID+"/certificate"))
	if body["certificate"] != "CHAIN" || body["key"] != "KEY" {
		t.Errorf("body %v", body)
	}
	contains(t, "stdout", r.stdout, "Certificate of example.com uploaded.")
	b.run("site", "upload-certificate", "example.com", "-cert", certFile).want(t, ExitUsage)
}

func TestCertLabel(t *testing.T) {
	t.Parallel()
	exp := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		c    *domain.Certificate
		want string
	}{
		{nil, "none"},
		{&domain.Certificate{Issuer: "acme", NotAfter: exp}, "acme, expires 2026-03-01T00:00:00Z"},
		{&domain.Certificate{Issuer: "acme", NotAfter: exp, Error: "dns", Hint: "fix DNS"}, "acme, expires 2026-03-01T00:00:00Z; last attempt failed: dns; fix DNS"},
		{&domain.Certificate{Error: "refused"}, "last attempt failed: refused"},
	} {
		if got := certLabel(tc.c); got != tc.want {
			t.Errorf("certLabel(%+v) = %q, want %q", tc.c, got, tc.want)
		}
	}
	s := fixtureSite()
	if httpsLabel(&s) != "off" {
		t.Errorf("httpsLabel of a plain site = %q", httpsLabel(&s))
	}
	s.HTTPS, s.HSTS = domain.HTTPSRedirect, true
	if httpsLabel(&s) != "redirect (HSTS)" {
		t.Errorf("httpsLabel = %q", httpsLabel(&s))
	}
}

func TestSiteEditHTTPS(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		args  []string
		https any
		hsts  any
	}{
		{"redirect with hsts", []string{"-https", "redirect", "-hsts"}, "redirect", true},
		{"on", []string{"-https", "on"}, "on", nil},
		{"off drops hsts", []string{"-https", "off"}, "off", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.api.withFixtures()
			b.api.on("PUT", "/sites/"+siteID, 200, map[string]any{"site": fixtureSite(), "task": fixtureTask(domain.TaskVerify, domain.TaskQueued)})
			b.run(append([]string{"site", "edit", "example.com"}, tt.args...)...).want(t, ExitOK)
			body := jsonBody(t, b.api.only("PUT", "/sites/"+siteID))
			if body["https"] != tt.https || body["hsts"] != tt.hsts {
				t.Errorf("https %v hsts %v, want %v %v", body["https"], body["hsts"], tt.https, tt.hsts)
			}
		})
	}
	b := setup(t)
	r := b.run("site", "edit", "example.com", "-https", "yes").want(t, ExitUsage)
	contains(t, "stderr", r.stderr, "-https must be off, on or redirect")
}
