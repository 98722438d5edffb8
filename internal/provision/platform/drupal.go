package platform

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/template"

	"github.com/aegirhq/aegir/internal/domain"
)

// drupalType is a Drupal codebase, 7 or 8+: P/index.php with
// P/core/lib/Drupal.php (8+) or P/includes/bootstrap.inc (7). The platform
// root is the docroot, a site's settings are S/settings.php, drush
// installs a site and runs its cron (aegir's own installer, calling
// Drupal's API through php, where the platform has no drush), and packages
// are read from info files and composer.lock.
type drupalType struct{}

var _ Type = drupalType{}

func (drupalType) Name() domain.PlatformType { return domain.PlatformDrupal }

func (drupalType) Description() string {
	return "a Drupal 7 or 8+ codebase; sites are installed with drush, or with aegir's own installer where the platform has none"
}

func (drupalType) Marker() string { return "index.php with core/lib/Drupal.php" }

func (drupalType) Detect(dir string) bool {
	return isFile(filepath.Join(dir, "index.php")) &&
		(isFile(filepath.Join(dir, "core", "lib", "Drupal.php")) || isFile(filepath.Join(dir, "includes", "bootstrap.inc")))
}

func (drupalType) Load(p *Platform) error {
	p.CoreVersion = drupalVersion(p.Path)
	return nil
}

func (drupalType) Release(p *Platform) string {
	if p.CoreVersion == "" {
		return "drupal (unknown version)"
	}
	return "drupal " + p.CoreVersion
}

// Packages lists the core itself, every *.info.yml and *.info outside
// tests/ directories, and composer.lock.
func (drupalType) Packages(p *Platform) ([]Package, error) {
	pkgs := []Package{{Name: "drupal", Type: "core", Title: "Drupal core", Release: p.CoreVersion}}
	found, err := ScanInfoFiles(p.Path, p.CoreVersion)
	if err != nil {
		return nil, err
	}
	pkgs = append(pkgs, found...)
	lock, err := ScanComposerLock(filepath.Join(p.Path, "composer.lock"))
	if err != nil {
		return nil, err
	}
	pkgs = merge(pkgs, lock)
	if len(pkgs) > MaxPackages {
		pkgs = pkgs[:MaxPackages]
	}
	return pkgs, nil
}

// SitePackages scans the site's own modules/ and themes/.
func (drupalType) SitePackages(p *Platform, siteDir string) ([]Package, error) {
	var out []Package
	for _, sub := range []string{"modules", "themes"} {
		dir := filepath.Join(siteDir, sub)
		if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() {
			continue // none, or a link: not followed
		}
		pkgs, err := ScanInfoFiles(dir, p.CoreVersion)
		if err != nil {
			return out, err
		}
		out = append(out, pkgs...)
	}
	return out, nil
}

func (drupalType) PHP() bool { return true }

func (drupalType) Docroot(p *Platform, _ string) string { return p.Path }

func (drupalType) SiteTemplate() string { return "" }

func (drupalType) SettingsFile(siteDir string) string { return filepath.Join(siteDir, "settings.php") }

func (drupalType) RenderSettings(p *Platform, s Settings) ([]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := drupalSettings.Execute(&buf, drupalData(p, s)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (drupalType) Hook(*Platform, string) []string { return nil }

// InstallArgv is drush site:install with the database taken from the
// already written settings.php (no password on the command line), or,
// without drush, aegir's own installer (drupal_installer.go) with the
// same settings: profile, site name, account, database (from the
// command's AEGIR_DB_* environment).
func (drupalType) InstallArgv(p *Platform, domainName, profile string) ([]string, error) {
	if profile == "" {
		profile = "standard"
	}
	if err := domain.ValidateName("profile", profile); err != nil {
		return nil, err
	}
	drush, err := p.drush()
	if errors.Is(err, ErrDrushMissing) {
		return drupalInstallerInstall(p, domainName, profile)
	}
	if err != nil {
		return nil, err
	}
	return []string{drush, "--root=" + p.Path, "--uri=http://" + domainName, "site:install", profile,
		"--yes", "--sites-subdir=" + domainName, "--site-name=" + domainName}, nil
}

// CronArgv is drush cron, or, without drush, aegir's installer running
// Drupal's cron through its API.
func (drupalType) CronArgv(p *Platform, domainName string) ([]string, error) {
	drush, err := p.drush()
	if errors.Is(err, ErrDrushMissing) {
		return drupalInstallerCron(p, domainName)
	}
	if err != nil {
		return nil, err
	}
	return []string{drush, "--root=" + p.Path, "--uri=http://" + domainName, "cron"}, nil
}

// Stats counts users and nodes.
func (drupalType) Stats(p *Platform) Probe {
	if d7(p) {
		return Probe{Tables: map[string]string{"users": "users", "nodes": "node"}}
	}
	return Probe{Tables: map[string]string{"users": "users_field_data", "nodes": "node_field_data"}}
}

// RestoreCheck wants users: a Drupal database without any is not a site.
func (drupalType) RestoreCheck(p *Platform) Probe {
	if d7(p) {
		return Probe{Tables: map[string]string{"users": "users"}}
	}
	return Probe{Tables: map[string]string{"users": "users_field_data"}}
}

func d7(p *Platform) bool { return strings.HasPrefix(p.CoreVersion, "7.") }

// drush finds drush: the platform's vendor/bin/drush first (or that of the
// directory above, for a web/ docroot), then PATH.
func (p *Platform) drush() (string, error) {
	for _, c := range []string{filepath.Join(p.Path, "vendor", "bin", "drush"), filepath.Join(filepath.Dir(p.Path), "vendor", "bin", "drush")} {
		if fi, err := os.Stat(c); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return c, nil
		}
	}
	if path, err := exec.LookPath("drush"); err == nil {
		return path, nil
	}
	return "", ErrDrushMissing
}

var versionRe = regexp.MustCompile(`(?:const\s+VERSION\s*=|define\(\s*'VERSION'\s*,)\s*'([0-9A-Za-z.+-]{1,40})'`)

// drupalVersion reads Drupal's VERSION from core/lib/Drupal.php (8+) or
// includes/bootstrap.inc (7).
func drupalVersion(dir string) string {
	for _, f := range []string{"core/lib/Drupal.php", "includes/bootstrap.inc"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			continue
		}
		if m := versionRe.FindSubmatch(b); m != nil {
			return string(m[1])
		}
	}
	return ""
}

// drupalDrivers maps aegir's database kinds to Drupal's driver names.
var drupalDrivers = map[string]string{"mariadb": "mysql", "postgresql": "pgsql", "sqlite": "sqlite"}

// phpString quotes s as a PHP single-quoted string literal.
func phpString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// hostPattern is a trusted_host_patterns entry matching exactly d.
func hostPattern(d string) string {
	return "^" + regexp.QuoteMeta(d) + "$"
}

type drupalView struct {
	Settings
	DrupalDriver string
	Database     string
	Host         string
	Port         string
	FilesPath    string
	ConfigSync   string
	Hosts        []string
	D7           bool
}

func drupalData(p *Platform, s Settings) drupalView {
	v := drupalView{Settings: s, Host: s.DB.Host, Database: s.DB.Name, D7: d7(p)}
	v.DrupalDriver = drupalDrivers[s.DB.Driver]
	if s.DB.Driver == "sqlite" {
		v.Database = s.DB.Path
	}
	if s.DB.Port > 0 {
		v.Port = strconv.Itoa(s.DB.Port)
	}
	v.FilesPath = "sites/" + s.Domain + "/files"
	v.ConfigSync = s.SiteDir + "/private/config/sync"
	for _, h := range append([]string{s.Domain}, s.Aliases...) {
		v.Hosts = append(v.Hosts, hostPattern(h))
	}
	return v
}

var drupalSettings = template.Must(template.New("settings.php").Funcs(template.FuncMap{"php": phpString}).Parse(`<?php
// Generated by aegir for {{.Domain}}. aegir rewrites this file on every
// install, verify, restore, clone and migrate: put your own settings in
// settings.local.php beside it.
$databases['default']['default'] = [
  'driver' => {{php .DrupalDriver}},
  'database' => {{php .Database}},
  'username' => {{php .DB.User}},
  'password' => {{php .DB.Password}},
  'host' => {{php .Host}},
  'port' => {{php .Port}},
{{- if .DB.Socket}}
  'unix_socket' => {{php .DB.Socket}},
{{- end}}
  'prefix' => '',
];
{{- if .D7}}
$drupal_hash_salt = {{php .HashSalt}};
$conf['file_public_path'] = {{php .FilesPath}};
{{- else}}
$settings['hash_salt'] = {{php .HashSalt}};
$settings['file_public_path'] = {{php .FilesPath}};
$settings['config_sync_directory'] = {{php .ConfigSync}};
$settings['trusted_host_patterns'] = [
{{- range .Hosts}}
  {{php .}},
{{- end}}
];
{{- end}}
if (file_exists(__DIR__ . '/settings.local.php')) {
  include __DIR__ . '/settings.local.php';
}
`))

func (drupalType) Site(*Platform) SiteSpec { return NoSpec() }
