package cli

import (
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestHelp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		code int
		out  []string // in stdout (stderr for non-zero codes)
	}{
		{"overview", []string{"help"}, ExitOK, []string{"Exit codes:", "3  cannot reach the API", "AEGIR_TOKEN", "admin-token", "site", "platform", "token"}},
		{"no args", nil, ExitOK, []string{"Usage: aegir <command>"}},
		{"noun -h", []string{"site", "-h"}, ExitOK, []string{"Usage: aegir site <verb>", "create", "restore", "backups"}},
		{"noun alone", []string{"site"}, ExitUsage, []string{"Usage: aegir site <verb>"}},
		{"verb -h", []string{"site", "create", "-h"}, ExitOK, []string{"Usage: aegir site create DOMAIN", "-platform", "-redirect-aliases", "-wait", "Examples:", "aegir site create example.com"}},
		{"help noun verb", []string{"help", "task", "logs"}, ExitOK, []string{"Usage: aegir task logs", "-f", "&& echo ok"}},
		{"help noun", []string{"help", "server"}, ExitOK, []string{"credentials"}},
		{"unknown noun", []string{"sites"}, ExitUsage, []string{`unknown command "sites"`}},
		{"unknown verb", []string{"site", "lst"}, ExitUsage, []string{`unknown command "site lst"`, "Verbs:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			r := b.run(tt.args...).want(t, tt.code)
			out := r.stdout
			if tt.code != ExitOK {
				out = r.stderr
			}
			contains(t, "output", out, tt.out...)
			if n := len(b.api.all()); n != 0 {
				t.Errorf("help made %d API requests", n)
			}
		})
	}
}

func TestEveryVerbHasHelp(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, n := range nouns {
		for _, v := range n.verbs {
			r := b.run(n.name, v.name, "-h").want(t, ExitOK)
			contains(t, n.name+" "+v.name+" -h", r.stdout, "Usage: aegir "+n.name+" "+v.name, "Examples:")
		}
	}
	if n := len(b.api.all()); n != 0 {
		t.Errorf("-h made %d API requests", n)
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		msg  string
	}{
		{"unknown flag", []string{"site", "list", "-bogus"}, "flag provided but not defined: -bogus"},
		{"missing arg", []string{"site", "show"}, "missing argument"},
		{"extra arg", []string{"site", "show", "a.com", "b.com"}, `unexpected argument "b.com"`},
		{"create without platform", []string{"site", "create", "a.com", "-client", "acme"}, "needs -platform, -db-server"},
		{"bad int", []string{"site", "list", "-limit", "many"}, "invalid value"},
		{"bad platform type", []string{"platform", "create", "p", "-path", "/x", "-server", "w", "-type", "java"}, `unknown -type "java"`},
		{"bad http kind", []string{"server", "create", "w", "-address", "1.2.3.4", "-http", "iis"}, `unknown -http "iis"`},
		{"port without kind", []string{"server", "create", "w", "-address", "1.2.3.4", "-db-port", "5432"}, "-db-port needs -db"},
		{"restore without backup", []string{"site", "restore", "a.com", "-yes"}, "needs -backup"},
		{"migrate nothing", []string{"site", "migrate", "a.com"}, "at least one of"},
		{"edit nothing", []string{"site", "edit", "a.com"}, "nothing to change"},
		{"php unknown key", []string{"site", "edit", "a.com", "-php", "max_execution_time=30"}, `unknown php setting "max_execution_time"`},
		{"php not key=value", []string{"site", "edit", "a.com", "-php", "512M"}, "is not KEY=VALUE"},
		{"php bad size", []string{"site", "edit", "a.com", "-php", "memory_limit=lots"}, "give a size in MiB"},
		{"php bad children", []string{"site", "edit", "a.com", "-php", "max_children=8M"}, "whole number of workers"},
		{"client user without client", []string{"user", "create", "bob", "-role", "client"}, "at least one -client"},
		{"bad role", []string{"user", "create", "bob", "-role", "root"}, `unknown -role "root"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			r := b.run(tt.args...).want(t, ExitUsage)
			contains(t, "stderr", r.stderr, "Error: ", tt.msg)
			if n := len(b.api.all()); n != 0 {
				t.Errorf("a usage error made API requests: %v", b.api.all())
			}
		})
	}
}

func TestMissingToken(t *testing.T) {
	t.Parallel()
	b := setup(t)
	delete(b.env, "AEGIR_TOKEN")
	r := b.run("site", "list").want(t, ExitUnreachable)
	contains(t, "stderr", r.stderr, "AEGIR_TOKEN is not set", "<data-dir>/admin-token", "export AEGIR_TOKEN=$(cat <data-dir>/admin-token)")

	b.env["AEGIR_DATA_DIR"] = "/srv/aegir"
	r = b.run("site", "list").want(t, ExitUnreachable)
	contains(t, "stderr", r.stderr, "export AEGIR_TOKEN=$(cat /srv/aegir/admin-token)")
	if n := len(b.api.all()); n != 0 {
		t.Errorf("made %d requests without a token", n)
	}
}

func TestBadToken(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.env["AEGIR_TOKEN"] = "aegir_nope"
	r := b.run("client", "list").want(t, ExitUnreachable)
	contains(t, "stderr", r.stderr, "Error: missing or unknown token (unauthorized)")
	// What to do about it, in this client's commands.
	contains(t, "stderr", r.stderr, "<data-dir>/admin-token", "'aegir token create -user NAME'", "Tokens page")
	// The command it suggests is the one this CLI has: token create takes -user.
	h := setup(t).run("help", "token", "create").want(t, ExitOK)
	contains(t, "help", h.stdout+h.stderr, "-user")
}

// TestForbiddenHasItsOwnExitCode: a 403 is not "not authenticated" (3),
// which scripts answer by renewing the token; it is 4, as the README says.
func TestForbiddenHasItsOwnExitCode(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.api.on("GET", "/servers", 403, apiErr("forbidden", "servers are for admins"))
	r := b.run("server", "list").want(t, ExitForbidden)
	contains(t, "stderr", r.stderr, "Error: servers are for admins (forbidden)")
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	b := setup(t)
	b.env["AEGIR_ADDR"] = addr // without a scheme: http:// is assumed
	r := b.run("site", "list").want(t, ExitUnreachable)
	contains(t, "stderr", r.stderr, "cannot reach the aegir API at http://"+addr, "AEGIR_ADDR")
}

func TestBadAddr(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.env["AEGIR_ADDR"] = "ftp://example.com"
	b.run("site", "list").want(t, ExitUsage)
}

func TestAddrWithAPIPath(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.env["AEGIR_ADDR"] = b.api.srv.URL + "/api/v1/"
	b.api.on("GET", "/clients", 200, list(fixtureClient()))
	b.run("client", "list").want(t, ExitOK)
	b.api.only("GET", "/clients")
}

func TestAPIErrorsExitOne(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status     int
		code, msg  string
		wantStderr string
	}{
		{409, "duplicate", "example.com is already a site's domain or alias", "Error: example.com is already a site's domain or alias (duplicate)"},
		{400, "invalid", "domain: is not a host name", "Error: domain: is not a host name (invalid)"},
		{500, "internal", "boom", "Error: boom (internal)"},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.api.on("POST", "/sites", tt.status, apiErr(tt.code, tt.msg))
			r := b.run("site", "create", "example.com", "-platform", "drupal10", "-db-server", "db1", "-client", "acme").want(t, ExitFailed)
			if strings.TrimSpace(r.stderr) != tt.wantStderr {
				t.Errorf("stderr %q, want %q", r.stderr, tt.wantStderr)
			}
		})
	}
}

func TestNonJSONError(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.api.handle("GET", "/clients", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		w.Write([]byte("<html>bad gateway\x1b[31m</html>"))
	})
	r := b.run("client", "list").want(t, ExitFailed)
	contains(t, "stderr", r.stderr, "(http_502)", `\x1b`)
}

func TestHandles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want bool
	}{
		{[]string{"site", "list"}, true},
		{[]string{"site"}, true},
		{[]string{"server", "list"}, true},
		{[]string{"server", "credentials", "db1"}, true},
		{[]string{"server"}, false},
		{[]string{"server", "-config", "aegir.hcl"}, false},
		{[]string{"dev"}, false},
		{[]string{"help", "site"}, true},
		{[]string{"status"}, true},
		{[]string{"status", "-json"}, true},
		{[]string{"help"}, false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := Handles(tt.args); got != tt.want {
			t.Errorf("Handles(%q) = %v, want %v", tt.args, got, tt.want)
		}
	}
	if !slices.Equal(Nouns(), []string{"site", "platform", "server", "service", "client", "task", "user", "token", "audit", "notify", "queue", "backup", "status"}) {
		t.Errorf("Nouns() = %v", Nouns())
	}
}

func TestFlagsBeforeAndAfterArgs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.api.withFixtures()
	for _, args := range [][]string{
		{"site", "show", "-json", "example.com"},
		{"site", "show", "example.com", "-json"},
	} {
		r := b.run(args...).want(t, ExitOK)
		jsonEqual(t, r.stdout, mustJSON(fixtureSite()))
	}
	// After "--" a flag-like word is an argument.
	b.run("site", "show", "--", "-json").want(t, ExitFailed)
	b.api.only("GET", "/sites/-json")
}
