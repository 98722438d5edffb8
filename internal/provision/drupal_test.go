package provision_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/testharness"
)

// drupalBundle is a bundle whose builtin web server passes PHP to a
// php-fpm, with the Drupal 10 and 7 shaped fixtures as platforms "d10"
// and "d7", and PATH set to a directory holding only the named programs
// and scripts (so no drush unless the test puts one there). Not
// parallel: it sets PATH.
func drupalBundle(t *testing.T, programs []string, scripts map[string]string) (*bundle, string) {
	t.Helper()
	fpm := testharness.PHPFPM(t)
	b := setup(t)
	b.webSvc.Settings = map[string]string{"php_fastcgi": "unix:" + fpm.Socket}
	for name, fx := range map[string]string{"d10": "drupal-fixture", "d7": "drupal7-fixture"} {
		b.platform[name] = &provision.PlatformInfo{ID: domain.NewID(), Name: name, Path: filepath.Join(t.TempDir(), name), Type: domain.PlatformDrupal}
		copyDir(t, fixture(t, fx), b.platform[name].Path)
		testharness.WebReachable(t, b.platform[name].Path) // php-fpm's workers run as www-data
	}
	bin := t.TempDir()
	for _, name := range programs {
		p := testharness.RequireProgram(t, name)
		if err := os.Symlink(p, filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range scripts {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin)
	return b, bin
}

// TestDrupalInstallWithoutDrush installs a site on each fixture with no
// drush anywhere: aegir's installer calls the fixture's install_drupal()
// with the profile, database, site name and account, and cron runs
// through the fixture's cron API.
func TestDrupalInstallWithoutDrush(t *testing.T) { // not parallel: sets PATH
	b, _ := drupalBundle(t, []string{"php"}, nil)
	for _, tc := range []struct{ plat, users string }{{"d10", "users_field_data"}, {"d7", "users"}} {
		site := b.newSite(tc.plat + ".example.com")
		b.mustRun(b.ctx(domain.TaskInstall, site, tc.plat))
		siteDir := filepath.Join(b.platform[tc.plat].Path, "sites", site.Domain)
		raw, err := os.ReadFile(filepath.Join(siteDir, "aegir-fixture-install.json"))
		if err != nil {
			t.Fatalf("%s: install_drupal did not run: %v", tc.plat, err)
		}
		var got struct {
			SitePath     string `json:"site_path"`
			Profile      string `json:"profile"`
			Langcode     string `json:"langcode"`
			SiteName     string `json:"site_name"`
			AccountName  string `json:"account_name"`
			AccountMail  string `json:"account_mail"`
			AccountPass  string `json:"account_pass"`
			SettingsForm struct {
				Driver string `json:"driver"`
				SQLite struct {
					Database string `json:"database"`
				} `json:"sqlite"`
			} `json:"settings_form"`
			SettingsPHP struct {
				Driver   string `json:"driver"`
				Database string `json:"database"`
			} `json:"settings_php_database"`
		}
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatal(err)
		}
		db := b.sqlitePath(site.ID)
		if got.SitePath != "sites/"+site.Domain || got.Profile != "standard" || got.Langcode != "en" || got.SiteName != site.Domain ||
			got.AccountName != "admin" || got.AccountMail != "admin@"+site.Domain || got.AccountPass != "set" ||
			got.SettingsForm.Driver != "sqlite" || got.SettingsForm.SQLite.Database != db ||
			got.SettingsPHP.Driver != "sqlite" || got.SettingsPHP.Database != db {
			t.Fatalf("%s: install_drupal got %s", tc.plat, raw)
		}
		if n := b.count(site.ID, tc.users); n != 1 {
			t.Fatalf("%s: %d accounts in %s", tc.plat, n, tc.users)
		}
		res := b.mustRun(b.ctx(domain.TaskCron, site, tc.plat))
		cron, err := os.ReadFile(filepath.Join(siteDir, "aegir-fixture-cron.log"))
		if err != nil || !strings.Contains(string(cron), `"site_path":"sites\/`+site.Domain+`"`) || !strings.Contains(string(cron), `"driver":"sqlite"`) {
			t.Fatalf("%s: cron did not run through the API: %q %v (%+v)", tc.plat, cron, err, res)
		}
	}
	if logs := b.logs.String(); strings.Contains(logs, "drush") || strings.Contains(logs, "aegir_fail") || !strings.Contains(logs, "<script of ") {
		t.Fatalf("drush was mentioned, or the installer's script logged in full:\n%s", logs)
	}
}

// TestDrupalInstallWithDrush: a drush on the PATH is used for install and
// cron instead of aegir's installer.
func TestDrupalInstallWithDrush(t *testing.T) { // not parallel: sets PATH
	calls := filepath.Join(t.TempDir(), "drush.calls")
	b, bin := drupalBundle(t, []string{"php"}, map[string]string{"drush": "#!/bin/sh\necho \"$@\" >> " + calls + "\n"})
	site := b.newSite("drush.example.com")
	b.mustRun(b.ctx(domain.TaskInstall, site, "d10"))
	b.mustRun(b.ctx(domain.TaskCron, site, "d10"))
	raw, err := os.ReadFile(calls)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	root := b.platform["d10"].Path
	if len(lines) != 2 ||
		lines[0] != "--root="+root+" --uri=http://drush.example.com site:install standard --yes --sites-subdir=drush.example.com --site-name=drush.example.com" ||
		lines[1] != "--root="+root+" --uri=http://drush.example.com cron" {
		t.Fatalf("drush (%s) was called with:\n%s", bin, raw)
	}
	siteDir := filepath.Join(root, "sites", site.Domain)
	for _, f := range []string{"aegir-fixture-install.json", "aegir-fixture-cron.log"} {
		if _, err := os.Stat(filepath.Join(siteDir, f)); err == nil {
			t.Fatalf("aegir's installer ran although drush is there: %s", f)
		}
	}
}

// TestDrupalWithoutPHP: with neither drush nor php, install fails before
// creating anything and cron fails, both with php_not_found and a hint.
func TestDrupalWithoutPHP(t *testing.T) { // not parallel: sets PATH
	b, bin := drupalBundle(t, []string{"php"}, nil)
	cronSite := b.newSite("cron.example.com")
	b.mustRun(b.ctx(domain.TaskInstall, cronSite, "d10"))
	if err := os.Remove(filepath.Join(bin, "php")); err != nil {
		t.Fatal(err)
	}
	site := b.newSite("nophp.example.com")
	res := b.run(b.ctx(domain.TaskInstall, site, "d10"))
	wantFailure(t, res, provision.CodePHPMissing)
	if !strings.Contains(res.FixHint, "php-cli") || !strings.Contains(res.FixHint, "drush") {
		t.Fatalf("fix hint: %q", res.FixHint)
	}
	if _, err := os.Stat(filepath.Join(b.platform["d10"].Path, "sites", site.Domain)); err == nil {
		t.Fatal("site dir created although php is missing")
	}
	if _, err := os.Stat(b.sqlitePath(site.ID)); err == nil {
		t.Fatal("database created although php is missing")
	}
	wantFailure(t, b.run(b.ctx(domain.TaskCron, cronSite, "d10")), provision.CodePHPMissing)
}
