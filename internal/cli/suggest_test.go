package cli

import (
	"testing"

	"github.com/aegirhq/aegir/internal/testharness"
)

func TestSuggest(t *testing.T) {
	t.Parallel()
	nouns := Nouns()
	for _, tc := range []struct {
		word string
		from []string
		want string
	}{
		{"sites", nouns, "site"},
		{"sitee", nouns, "site"},
		{"sevrer", nouns, "server"},
		{"platfrom", nouns, "platform"},
		{"Site", nouns, "site"},
		{"exmaple", []string{"example", "static1"}, "example"},
		{"drupal1", []string{"drupal10", "drupal7"}, "drupal10"},
		{"xyz", nouns, ""},
		{"", nouns, ""},
		{"st", []string{"site"}, ""},
		{"lst", []string{"list", "show"}, "list"},
	} {
		if got := Suggest(tc.word, tc.from); got != tc.want {
			t.Errorf("Suggest(%q) = %q, want %q", tc.word, got, tc.want)
		}
	}
}

func FuzzEditDistance(f *testing.F) {
	for _, s := range testharness.HostileInputs {
		f.Add(s, "site")
	}
	f.Add("kitten", "sitting")
	f.Add("", "abc")
	f.Fuzz(func(t *testing.T, a, b string) {
		d := editDistance(a, b)
		if d < 0 || d > max(len(a), len(b)) {
			t.Fatalf("editDistance(%q, %q) = %d", a, b, d)
		}
		if (d == 0) != (a == b) {
			t.Fatalf("editDistance(%q, %q) = %d", a, b, d)
		}
		if editDistance(b, a) != d {
			t.Fatalf("not symmetric: %q %q", a, b)
		}
	})
}

// TestTypos: a mistyped noun, verb or name is a usage error (exit 2) that
// names what was probably meant.
func TestTypos(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.api.withFixtures()
	r := b.run("sites", "list").want(t, ExitUsage)
	contains(t, "stderr", r.stderr, `unknown command "sites" (did you mean "site"?)`)
	r = b.run("site", "lst").want(t, ExitUsage)
	contains(t, "stderr", r.stderr, `did you mean "list"?`)
	r = b.run("help", "sitee").want(t, ExitUsage)
	contains(t, "stderr", r.stderr, `did you mean "site"?`)
	b.api.on("POST", "/sites", 422, map[string]any{"error": map[string]string{"code": "invalid", "field": "platform", "message": "no platform named drupal1"}})
	r = b.run("site", "create", "new.example.com", "-platform", "drupal1", "-db-server", "db1", "-client", "acme").want(t, ExitUsage)
	contains(t, "stderr", r.stderr, `no platform named "drupal1"; did you mean "drupal10"?`)
	r = b.run("server", "show", "web2").want(t, ExitUsage)
	contains(t, "stderr", r.stderr, `did you mean "web1"?`)
	// A name like none is still "not found": exit 1.
	r = b.run("server", "show", "elsewhere").want(t, ExitFailed)
	contains(t, "stderr", r.stderr, `no server with id or name "elsewhere"`)
}
