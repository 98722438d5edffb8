package platform

import (
	"encoding/json"
	"github.com/aegirhq/aegir/internal/testharness"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
)

// pathWith sets PATH to a fresh directory holding links to the named
// programs of the current PATH and the given scripts.
func pathWith(t *testing.T, programs []string, scripts map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range programs {
		p := testharness.RequireProgram(t, name)
		if err := os.Symlink(p, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range scripts {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir)
	return dir
}

// installerInput decodes the JSON an installer argv passes to the script.
func installerInput(t *testing.T, argv []string) drupalInstall {
	t.Helper()
	if len(argv) != 5 || filepath.Base(argv[0]) != "php" || argv[1] != "-r" || argv[3] != "--" {
		t.Fatalf("not the installer: %q", argv)
	}
	if strings.Contains(argv[2], "<?php") || strings.Contains(argv[2], "example.com") {
		t.Fatalf("the script has its tag or a value pasted in: %q", argv[2])
	}
	var in drupalInstall
	if err := json.Unmarshal([]byte(argv[4]), &in); err != nil {
		t.Fatal(err)
	}
	return in
}

func TestDrupalArgvWithoutDrush(t *testing.T) { // not parallel: sets PATH
	pathWith(t, []string{"php"}, nil)
	for _, tc := range []struct {
		fixture string
		d7      bool
	}{{"drupal-fixture", false}, {"drupal7-fixture", true}} {
		p, err := Open(fixture(t, tc.fixture), domain.PlatformDrupal)
		if err != nil {
			t.Fatal(err)
		}
		argv := must(p.InstallArgv("example.com", ""))
		if shown := ShowArgv(argv); !strings.HasPrefix(shown[2], "<script of ") || shown[4] != argv[4] || argv[2] != drupalInstallerCode {
			t.Errorf("shown as %q", shown)
		}
		in := installerInput(t, argv)
		want := drupalInstall{Mode: "install", Root: p.Path, Domain: "example.com", D7: tc.d7, Profile: "standard", Langcode: "en",
			SiteName: "example.com", SiteMail: "admin@example.com", AccountName: "admin", AccountMail: "admin@example.com"}
		if in != want {
			t.Errorf("%s install: %+v, want %+v", tc.fixture, in, want)
		}
		in = installerInput(t, must(p.CronArgv("example.com")))
		if want := (drupalInstall{Mode: "cron", Root: p.Path, Domain: "example.com", D7: tc.d7}); in != want {
			t.Errorf("%s cron: %+v, want %+v", tc.fixture, in, want)
		}
		if _, err := p.InstallArgv("example.com", "x;rm -rf /"); err == nil {
			t.Errorf("%s: a crafted profile was accepted", tc.fixture)
		}
	}
}

func TestDrupalArgvWithDrush(t *testing.T) { // not parallel: sets PATH
	dir := pathWith(t, []string{"php"}, map[string]string{"drush": "#!/bin/sh\nexit 0\n"})
	p, err := Open(fixture(t, "drupal-fixture"), domain.PlatformDrupal)
	if err != nil {
		t.Fatal(err)
	}
	argv := must(p.InstallArgv("example.com", "minimal"))
	if argv[0] != filepath.Join(dir, "drush") || !strings.Contains(strings.Join(argv, " "), "site:install minimal") {
		t.Fatalf("install with drush on the PATH: %q", argv)
	}
	if argv := must(p.CronArgv("example.com")); argv[0] != filepath.Join(dir, "drush") || argv[len(argv)-1] != "cron" {
		t.Fatalf("cron with drush on the PATH: %q", argv)
	}
}

// installOnFixture copies a fixture, writes the site example.com's
// settings.php for db, and runs the installer and then the cron runner
// with env, as the back end would. It returns the site's directory.
func installOnFixture(t *testing.T, fx string, db DB, env []string) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "p")
	copyTree(t, fixture(t, fx), root)
	site := filepath.Join(root, "sites", "example.com")
	if err := os.MkdirAll(site, 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := Open(root, domain.PlatformDrupal)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.RenderSettings(Settings{Domain: "example.com", SiteDir: site, HashSalt: strings.Repeat("s", 43), DB: db})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(site, "settings.php"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, argv := range [][]string{must(drupalInstallerInstall(p, "example.com", "standard")), must(drupalInstallerCron(p, "example.com"))} {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir, cmd.Env = root, append([]string{"PATH=" + os.Getenv("PATH")}, env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", argv[4], err, out)
		}
	}
	return site
}

// installRecord is what the fixtures' install_drupal() records.
func installRecord(t *testing.T, site string) ([]byte, map[string]any) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(site, "aegir-fixture-install.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return raw, m
}

// TestDrupalInstallerOnFixtures runs the installer and cron runner on the
// Drupal 10 and 7 shaped fixtures, whose install_drupal() and cron record
// what they were given.
func TestDrupalInstallerOnFixtures(t *testing.T) {
	t.Parallel()
	testharness.RequireProgram(t, "php")
	for _, fx := range []string{"drupal-fixture", "drupal7-fixture"} {
		t.Run(fx, func(t *testing.T) {
			t.Parallel()
			db := filepath.Join(t.TempDir(), "site.sqlite")
			site := installOnFixture(t, fx, DB{Driver: "sqlite", Path: db, Name: "s_site", User: "s_site"},
				[]string{"AEGIR_DB_DRIVER=sqlite", "AEGIR_DB_PATH=" + db})
			raw, m := installRecord(t, site)
			want := map[string]string{"site_path": "sites/example.com", "profile": "standard", "langcode": "en", "site_name": "example.com",
				"account_name": "admin", "account_mail": "admin@example.com", "account_pass": "set"}
			for k, v := range want {
				if m[k] != v {
					t.Fatalf("install_drupal got %s = %v, want %q:\n%s", k, m[k], v, raw)
				}
			}
			form, _ := m["settings_form"].(map[string]any)
			sq, _ := form["sqlite"].(map[string]any)
			if form["driver"] != "sqlite" || sq["database"] != db {
				t.Fatalf("install_settings_form: %s", raw)
			}
			cron, err := os.ReadFile(filepath.Join(site, "aegir-fixture-cron.log"))
			if err != nil || !strings.Contains(string(cron), `"site_path":"sites\/example.com"`) || !strings.Contains(string(cron), `"driver":"sqlite"`) {
				t.Fatalf("cron: %s %v", cron, err)
			}
		})
	}
}

// TestDrupalInstallerMariaDBForm: for MariaDB the installer fills
// install_settings_form's mysql values from the environment, the
// password included, which is never on the command line.
func TestDrupalInstallerMariaDBForm(t *testing.T) {
	t.Parallel()
	testharness.RequireProgram(t, "php")
	pass := `p'w"$x\y`
	db := DB{Driver: "mariadb", Host: "db.internal", Socket: "/run/mysqld/mysqld.sock", Name: "s_site", User: "s_site", Password: pass}
	site := installOnFixture(t, "drupal-fixture", db, []string{"AEGIR_DB_DRIVER=mariadb", "AEGIR_DB_HOST=db.internal",
		"AEGIR_DB_SOCKET=/run/mysqld/mysqld.sock", "AEGIR_DB_NAME=s_site", "AEGIR_DB_USER=s_site", "AEGIR_DB_PASSWORD=" + pass})
	raw, m := installRecord(t, site)
	form, _ := m["settings_form"].(map[string]any)
	my, _ := form["mysql"].(map[string]any)
	want := map[string]string{"database": "s_site", "username": "s_site", "password": "set", "host": "db.internal", "port": "3306",
		"unix_socket": "/run/mysqld/mysqld.sock"}
	for k, v := range want {
		if my[k] != v {
			t.Fatalf("install_settings_form mysql %s = %v, want %q:\n%s", k, my[k], v, raw)
		}
	}
	if form["driver"] != "mysql" {
		t.Fatalf("driver: %s", raw)
	}
	settings, _ := m["settings_php_database"].(map[string]any)
	if settings["password"] != pass {
		t.Fatalf("settings.php password %v", settings["password"])
	}
}

func must(argv []string, err error) []string {
	if err != nil {
		panic(err)
	}
	return argv
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
