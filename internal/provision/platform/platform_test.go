package platform

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/testharness"
)

var update = flag.Bool("update", false, "rewrite golden files")

func fixture(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(testharness.PlatformFixture(name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOpenDetectsEachType(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		fixture string
		typ     domain.PlatformType
		release string
	}{
		{"static", domain.PlatformStatic, "static"},
		{"php-app", domain.PlatformPHP, "php"},
		{"drupal-fixture", domain.PlatformDrupal, "drupal 10.2.3"},
		{"drupal7-fixture", domain.PlatformDrupal, "drupal 7.99"},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			t.Parallel()
			dir := fixture(t, tc.fixture)
			p, err := Open(dir, tc.typ)
			if err != nil {
				t.Fatal(err)
			}
			if p.Type != tc.typ || p.Release() != tc.release {
				t.Fatalf("type %s release %q", p.Type, p.Release())
			}
			if _, err := Open(dir, wrongType(tc.typ)); !errors.Is(err, ErrTypeMismatch) {
				t.Fatalf("Open as %s = %v, want ErrTypeMismatch", wrongType(tc.typ), err)
			}
		})
	}
}

func wrongType(t domain.PlatformType) domain.PlatformType {
	if t == domain.PlatformStatic {
		return domain.PlatformDrupal
	}
	return domain.PlatformStatic
}

func TestOpenMissingAndUnknown(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "nope"), ""); !errors.Is(err, ErrMissing) {
		t.Fatalf("missing dir: %v", err)
	}
	if _, err := Open(dir, ""); !errors.Is(err, ErrUnknownType) {
		t.Fatalf("empty dir: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ManifestFile), []byte(`docroot = "../etc"`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, ""); !errors.Is(err, ErrManifest) {
		t.Fatalf("escaping docroot: %v", err)
	}
}

func TestDrupalPackages(t *testing.T) {
	t.Parallel()
	p, err := Open(fixture(t, "drupal-fixture"), domain.PlatformDrupal)
	if err != nil {
		t.Fatal(err)
	}
	pkgs, err := p.Packages()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Package{}
	for _, pk := range pkgs {
		got[pk.Name] = pk
	}
	want := map[string]Package{
		"drupal":                  {Name: "drupal", Type: "core", Title: "Drupal core", Release: "10.2.3"},
		"node":                    {Name: "node", Type: "module", Title: "Node", Release: "10.2.3", Path: "core/modules/node"},
		"system":                  {Name: "system", Type: "module", Title: "System", Release: "10.2.3", Path: "core/modules/system"},
		"token":                   {Name: "token", Type: "module", Title: "Token", Release: "8.x-1.13", Path: "modules/contrib/token"},
		"olivero_x":               {Name: "olivero_x", Type: "theme", Title: "Olivero X", Release: "2.0.1", Path: "themes/contrib/olivero_x"},
		"symfony/http-foundation": {Name: "symfony/http-foundation", Type: "library", Release: "v6.4.3"},
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s = %+v, want %+v", name, got[name], w)
		}
	}
	if _, ok := got["system_test"]; ok {
		t.Error("test modules must be skipped")
	}
	if len(got) != len(want) {
		t.Errorf("got %d packages: %+v", len(got), pkgs)
	}
}

func settings(siteDir string) Settings {
	return Settings{
		Domain:   "example.com",
		Aliases:  []string{"www.example.com"},
		SiteDir:  siteDir,
		HashSalt: "salt-abc_123",
		DB: DB{Driver: "mariadb", Host: "127.0.0.1", Port: 3306, Name: "s_0123456789abcdefghjk",
			User: "s_0123456789abcdefghjk", Password: `pa'ss\word`},
	}
}

func TestDrupalSettingsGolden(t *testing.T) {
	t.Parallel()
	p, err := Open(fixture(t, "drupal-fixture"), domain.PlatformDrupal)
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.RenderSettings(settings("/srv/platforms/d10/sites/example.com"))
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "settings.php.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Fatalf("settings.php differs from %s:\n%s", golden, got)
	}
	if !strings.Contains(string(got), `'password' => 'pa\'ss\\word',`) {
		t.Fatal("password not escaped as a PHP single-quoted string")
	}
}

func TestSettingsRefuseInjection(t *testing.T) {
	t.Parallel()
	p := &Platform{Type: domain.PlatformDrupal, Path: "/srv/p"}
	for name, mutate := range map[string]func(*Settings){
		"domain":   func(s *Settings) { s.Domain = "example.com';system('x');//" },
		"alias":    func(s *Settings) { s.Aliases = []string{"a.com\n$x"} },
		"host":     func(s *Settings) { s.DB.Host = "h'); evil" },
		"name":     func(s *Settings) { s.DB.Name = "x'; DROP" },
		"password": func(s *Settings) { s.DB.Password = "a\nb" },
		"driver":   func(s *Settings) { s.DB.Driver = "oracle" },
		"sitedir":  func(s *Settings) { s.SiteDir = "/srv/p/../etc" },
	} {
		s := settings("/srv/p/sites/example.com")
		mutate(&s)
		if _, err := p.RenderSettings(s); err == nil {
			t.Errorf("%s: rendered crafted settings", name)
		}
	}
}

func TestInstallArgv(t *testing.T) { // not parallel: sets PATH
	php, err := Open(fixture(t, "php-app"), domain.PlatformPHP)
	if err != nil {
		t.Fatal(err)
	}
	argv, err := php.InstallArgv("example.com", "")
	if err != nil || len(argv) != 2 || argv[0] != "php" || argv[1] != "bin/install.php" {
		t.Fatalf("php install argv = %q, %v", argv, err)
	}
	dr, err := Open(fixture(t, "drupal-fixture"), domain.PlatformDrupal)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", t.TempDir())
	if _, err := dr.InstallArgv("example.com", ""); !errors.Is(err, ErrPHPMissing) {
		t.Fatalf("drupal without drush or php: %v", err)
	}
	if _, err := dr.CronArgv("example.com"); !errors.Is(err, ErrPHPMissing) {
		t.Fatalf("drupal cron without drush or php: %v", err)
	}
}

func FuzzParseManifest(f *testing.F) {
	for _, s := range testharness.HostileInputs {
		f.Add([]byte("docroot = " + strconv.Quote(s)))
		f.Add([]byte("docroot = \"public\"\nhooks {\n install = [\"php\", " + strconv.Quote(s) + "]\n}\n"))
	}
	f.Add([]byte(`docroot = "public"`))
	f.Add([]byte("docroot = \"public\"\nhooks {\n install = [\"php\", \"bin/i.php\"]\n}\n"))
	f.Add([]byte(`docroot = "../x"`))
	f.Add([]byte("docroot = \"a\"\nhooks {\n cron = []\n}\n"))
	f.Add([]byte(`docroot = "${file("/etc/passwd")}"`))
	f.Fuzz(func(t *testing.T, src []byte) {
		m, err := ParseManifest("aegir.hcl", src)
		if err != nil {
			return
		}
		if strings.HasPrefix(m.Docroot, "/") || strings.Contains("/"+m.Docroot+"/", "/../") {
			t.Fatalf("accepted docroot %q", m.Docroot)
		}
		for _, argv := range [][]string{m.Hooks.Install, m.Hooks.Cron, m.Hooks.Stats, m.Hooks.Packages} {
			if argv != nil && (len(argv) == 0 || argv[0] == "") {
				t.Fatalf("accepted empty hook")
			}
		}
	})
}
