package cli

import (
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
)

// TestResourceList runs every list made by resource.list: the table header,
// paging flags in the query, the API's JSON passed through, and the hint
// when there are more pages.
func TestResourceList(t *testing.T) {
	t.Parallel()
	tests := []struct {
		noun, path, header string
		items              any // the page's items, to be served
	}{
		{"site", "/sites", "DOMAIN", []domain.Site{fixtureSite()}},
		{"platform", "/platforms", "RELEASE", []domain.Platform{fixturePlatform()}},
		{"server", "/servers", "NOMAD NODE", fixtureServers()},
		{"client", "/clients", "TITLE", []domain.Client{fixtureClient()}},
		{"user", "/users", "ROLE", []domain.User{{ID: userID, Name: "bob", Role: domain.RoleAdmin}}},
		{"token", "/tokens", "LAST USED", []domain.Token{{ID: "0000000000000000k001", Name: "ci", UserID: userID}}},
		{"task", "/tasks", "FINISHED", []domain.Task{fixtureTask(domain.TaskInstall, domain.TaskQueued)}},
	}
	for _, tt := range tests {
		t.Run(tt.noun, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.api.withFixtures()
			answer := map[string]any{"items": tt.items, "total": 40, "offset": 10, "limit": 5}
			b.api.on("GET", tt.path, 200, answer)

			r := b.run(tt.noun, "list", "-limit", "5", "-offset", "10").want(t, ExitOK)
			contains(t, "stdout", r.stdout, "ID", tt.header)
			contains(t, "stderr", r.stderr, "Showing 11-", " of 40 "+tt.noun+"s; use -offset ")
			q := b.api.requests("GET", tt.path)[0].Query
			if q.Get("limit") != "5" || q.Get("offset") != "10" {
				t.Errorf("query %v, want limit=5 offset=10", q)
			}

			r = b.run(tt.noun, "list", "-json").want(t, ExitOK)
			jsonEqual(t, r.stdout, mustJSON(answer))
			if r.stderr != "" {
				t.Errorf("-json wrote to stderr: %q", r.stderr)
			}
			reqs := b.api.requests("GET", tt.path)
			if q := reqs[len(reqs)-1].Query; q.Get("limit") != "50" || q.Get("offset") != "0" {
				t.Errorf("default query %v, want limit=50 offset=0", q)
			}

			b.run(tt.noun, "list", "extra").want(t, ExitUsage)
		})
	}
}

// TestResourceListEmpty prints only the header on stdout, says so on
// stderr, and reads no names.
func TestResourceListEmpty(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.api.on("GET", "/sites", 200, list[domain.Site]())
	r := b.run("site", "list").want(t, ExitOK)
	if got := strings.Fields(r.stdout); len(got) != 6 || got[0] != "ID" {
		t.Errorf("stdout %q, want the header only", r.stdout)
	}
	if r.stderr != "No sites.\n" {
		t.Errorf("stderr %q, want No sites.", r.stderr)
	}
	if all := b.api.all(); len(all) != 1 {
		t.Errorf("requests %v, want only GET /sites", all)
	}
}

// TestResourceShowByIDOrName: resources the API addresses by id only are
// found by name in the list, and an id-shaped name that is not an id too.
func TestResourceShowByIDOrName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		noun, id, name, field string
	}{
		{"platform", platformID, "drupal10", "Web server"},
		{"server", webID, "web1", "Services"},
		{"client", clientID, "acme", "Title"},
	}
	for _, tt := range tests {
		t.Run(tt.noun, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.api.withFixtures()
			byName := b.run(tt.noun, "show", tt.name).want(t, ExitOK)
			contains(t, "stdout", byName.stdout, tt.field)
			byID := b.run(tt.noun, "show", tt.id).want(t, ExitOK)
			if byID.stdout != byName.stdout {
				t.Errorf("by id:\n%s\nby name:\n%s", byID.stdout, byName.stdout)
			}
			r := b.run(tt.noun, "show", "nope").want(t, ExitFailed)
			contains(t, "stderr", r.stderr, `no `+tt.noun+` with id or name "nope"; see 'aegir `+tt.noun+` list' (not_found)`)
			r = b.run(tt.noun, "show", "0000000000000000zzzz").want(t, ExitFailed)
			contains(t, "stderr", r.stderr, `no `+tt.noun+` with id or name "0000000000000000zzzz"`)
			b.run(tt.noun, "show").want(t, ExitUsage)
			r = b.run(tt.noun, "show", "").want(t, ExitUsage)
			contains(t, "stderr", r.stderr, "empty "+tt.noun+" name")
		})
	}
}

// TestResourceShowByPath: sites, tasks and queues are read by the
// reference given, without a lookup in the list.
func TestResourceShowByPath(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.api.withFixtures()
	task := fixtureTask(domain.TaskInstall, domain.TaskSucceeded)
	b.api.on("GET", "/tasks/"+taskID, 200, task)
	b.api.on("GET", "/queues/cron", 200, map[string]any{"name": "cron", "settings": map[string]any{"enabled": true}})
	for _, args := range [][]string{{"site", "show", "example.com"}, {"task", "show", taskID}, {"queue", "show", "cron"}} {
		b.run(args...).want(t, ExitOK)
	}
	for _, r := range b.api.all() {
		if r == "GET /api/v1/sites" || r == "GET /api/v1/tasks" || r == "GET /api/v1/queues" {
			t.Errorf("listed the collection: %v", b.api.all())
		}
	}
	r := b.run("task", "show", "0000000000000000t999").want(t, ExitFailed)
	contains(t, "stderr", r.stderr, "(not_found)")
}

func TestPlurals(t *testing.T) {
	t.Parallel()
	for word, want := range map[string]string{"site": "sites", "audit entry": "audit entries", "key": "keys", "y": "ys"} {
		if got := plurals(word); got != want {
			t.Errorf("plurals(%q) = %q, want %q", word, got, want)
		}
	}
}
