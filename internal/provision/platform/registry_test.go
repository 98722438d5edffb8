package platform

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
)

// TestRegistryMatchesDomain keeps the registry and the names the domain
// validates against in step (see doc.go for why there are two lists).
func TestRegistryMatchesDomain(t *testing.T) {
	t.Parallel()
	if got, want := Names(), domain.PlatformTypes(); !slices.Equal(got, want) {
		t.Fatalf("registry types %v, domain.PlatformTypes %v: add the type to both, in the same order", got, want)
	}
	if got, want := Choices(), domain.PlatformTypeChoices(); got != want {
		t.Fatalf("Choices() = %q, domain says %q", got, want)
	}
}

func TestLookup(t *testing.T) {
	t.Parallel()
	for _, typ := range Types() {
		got, ok := Lookup(typ.Name())
		if !ok || got != typ {
			t.Errorf("Lookup(%q) = %v, %v", typ.Name(), got, ok)
		}
		if typ.Description() == "" || typ.Marker() == "" {
			t.Errorf("%s has no description or marker", typ.Name())
		}
	}
	if _, ok := Lookup("java"); ok {
		t.Error("Lookup found an unknown type")
	}
	if Choices() != "static, php or drupal" {
		t.Errorf("Choices() = %q", Choices())
	}
}

func TestDetectErrorNamesEveryType(t *testing.T) {
	t.Parallel()
	_, err := Detect(t.TempDir())
	if !errors.Is(err, ErrUnknownType) {
		t.Fatalf("empty dir: %v", err)
	}
	for _, typ := range Types() {
		if !strings.Contains(err.Error(), typ.Marker()+" ("+string(typ.Name())+")") {
			t.Errorf("error %q does not say what marks a %s platform", err, typ.Name())
		}
	}
}

// TestTypesOnFixtures checks what each type answers for its fixture, the
// answers the provision tasks used to work out with switches.
func TestTypesOnFixtures(t *testing.T) {
	t.Parallel()
	site := "/srv/p/sites/example.com"
	for _, tc := range []struct {
		fixture  string
		php      bool
		settings string
		tmpl     string
		docroot  func(p *Platform) string
		stats    Probe
		restore  Probe
	}{
		{"static", false, "", "public", func(*Platform) string { return filepath.Join(site, "public") }, Probe{}, Probe{}},
		{"php-app", true, filepath.Join(site, "settings.json"), "", func(p *Platform) string { return filepath.Join(p.Path, p.Manifest.Docroot) },
			Probe{Hook: []string{"php", "bin/stats.php"}}, Probe{Hook: []string{"php", "bin/stats.php"}}},
		{"drupal-fixture", true, filepath.Join(site, "settings.php"), "", func(p *Platform) string { return p.Path },
			Probe{Tables: map[string]string{"users": "users_field_data", "nodes": "node_field_data"}},
			Probe{Tables: map[string]string{"users": "users_field_data"}}},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			t.Parallel()
			p, err := Open(fixture(t, tc.fixture), "")
			if err != nil {
				t.Fatal(err)
			}
			if p.PHP() != tc.php || p.SettingsFile(site) != tc.settings || p.SiteTemplate() != tc.tmpl || p.Docroot(site) != tc.docroot(p) {
				t.Errorf("php %v settings %q template %q docroot %q", p.PHP(), p.SettingsFile(site), p.SiteTemplate(), p.Docroot(site))
			}
			if got := p.Stats(); !probeEqual(got, tc.stats) {
				t.Errorf("Stats() = %+v, want %+v", got, tc.stats)
			}
			if got := p.RestoreCheck(); !probeEqual(got, tc.restore) {
				t.Errorf("RestoreCheck() = %+v, want %+v", got, tc.restore)
			}
		})
	}
}

func probeEqual(a, b Probe) bool {
	if !slices.Equal(a.Hook, b.Hook) || len(a.Tables) != len(b.Tables) {
		return false
	}
	for k, v := range a.Tables {
		if b.Tables[k] != v {
			return false
		}
	}
	return true
}

func TestDrupal7Probes(t *testing.T) {
	t.Parallel()
	p := &Platform{Type: domain.PlatformDrupal, Path: "/srv/d7", CoreVersion: "7.99"}
	if got := p.Stats().Tables; got["users"] != "users" || got["nodes"] != "node" {
		t.Errorf("d7 stats tables %v", got)
	}
	if got := p.RestoreCheck().Tables; len(got) != 1 || got["users"] != "users" {
		t.Errorf("d7 restore check tables %v", got)
	}
}
