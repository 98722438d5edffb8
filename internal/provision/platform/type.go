package platform

import "github.com/aegirhq/aegir/internal/domain"

// Type is one kind of platform: everything aegir does differently for a
// static, php or drupal codebase. Each implementation lives in its own file
// (static.go, php.go, drupal.go) and is listed in the registry
// (registry.go); nothing outside this package asks which type a platform
// is, it asks the platform's Type.
//
// Methods that take a *Platform get one that was opened as this type (its
// Manifest or CoreVersion filled by Load). None of them runs a command or
// touches a database: they say what to run or read, and the provision
// tasks do it.
type Type interface {
	// Name is the type's name as stored on a domain.Platform.
	Name() domain.PlatformType
	// Description is one sentence for forms and help.
	Description() string

	// Marker says what Detect looks for, for error messages ("public/").
	Marker() string
	// Detect reports whether the directory dir looks like this type.
	Detect(dir string) bool
	// Load reads and checks the type's own files in a detected tree (a
	// php platform's aegir.hcl, Drupal's VERSION) into p; verify-platform
	// fails with its error.
	Load(p *Platform) error
	// Release names the platform's release: "drupal 10.2.3", "php-app 1.0".
	Release(p *Platform) string
	// Packages scans the platform's own files for packages (a hook the
	// type declares is run by the task; see Hook).
	Packages(p *Platform) ([]Package, error)
	// SitePackages scans a site directory for the site's own packages.
	// On an error it returns what it found so far.
	SitePackages(p *Platform, siteDir string) ([]Package, error)

	// PHP reports whether the web server passes .php requests to PHP over
	// FastCGI for sites of this type.
	PHP() bool
	// Docroot is the directory the web server serves for the site in
	// siteDir.
	Docroot(p *Platform, siteDir string) string
	// SiteTemplate is the directory, relative to the platform, of which
	// each new site gets its own copy at the same place in its site
	// directory, or "" for none.
	SiteTemplate() string
	// SettingsFile is the site's generated settings file, or "" for a type
	// without one.
	SettingsFile(siteDir string) string
	// RenderSettings returns the settings file's content (nil without
	// one), after validating every value and escaping it for the file's
	// language.
	RenderSettings(p *Platform, s Settings) ([]byte, error)

	// Hook is the command the platform declares for the hook name (one
	// of HookNames), or nil.
	Hook(p *Platform, name string) []string
	// Site is what the platform declares for each of its sites besides
	// hooks: whether it has a database, its environment, an nginx
	// snippet and a health check.
	Site(p *Platform) SiteSpec
	// InstallArgv is the command that installs a site, or nil when the
	// type needs none.
	InstallArgv(p *Platform, domainName, profile string) ([]string, error)
	// CronArgv is the command that runs a site's cron, or nil when the
	// type has none.
	CronArgv(p *Platform, domainName string) ([]string, error)
	// Stats says how the stats task measures what a site's database holds.
	Stats(p *Platform) Probe
	// RestoreCheck says what verify-backup asks a site restored from a
	// backup: the hook must succeed and print figures, and every table
	// must have rows.
	RestoreCheck(p *Platform) Probe
}

// The hooks a platform may declare (see Manifest).
const (
	HookInstall  = "install"
	HookCron     = "cron"
	HookStats    = "stats"
	HookPackages = "packages"
	// HookPostRestore runs after a restore put the files, database and
	// settings back, before the site is published; failing, it rolls the
	// restore back.
	HookPostRestore = "post-restore"
	// HookPostClone runs on the new site of a clone, before it is
	// published; failing, it removes the clone.
	HookPostClone = "post-clone"
	// HookPostMigrate runs on the site at its new place, before it is
	// published there; failing, it rolls the migrate back.
	HookPostMigrate = "post-migrate"
	// HookVerify runs after verify found the site answering; failing, it
	// fails verify.
	HookVerify = "verify"
	// HookPreDelete runs before delete removes anything; failing, it
	// stops the delete.
	HookPreDelete = "pre-delete"
)

// HookNames lists every hook name.
var HookNames = []string{HookInstall, HookCron, HookStats, HookPackages, HookPostRestore, HookPostClone, HookPostMigrate, HookVerify, HookPreDelete}

// SiteSpec is what a platform declares for each of its sites besides its
// hooks. The zero value is "nothing declared" except Database, which
// NoSpec sets.
type SiteSpec struct {
	// Database is false for applications without one: install, backup,
	// restore, clone, migrate and delete leave databases alone.
	Database bool
	// Env is passed to PHP as FastCGI params and to hooks.
	Env map[string]string
	// NginxSnippet is the content of the platform's nginx snippet,
	// checked by CheckNginxSnippet, or "".
	NginxSnippet string
	// Expect, when set, is the health check a published site must pass.
	Expect *Expect
}

// NoSpec is the SiteSpec of a type that declares nothing: sites have a
// database, and nothing else.
func NoSpec() SiteSpec { return SiteSpec{Database: true} }

// Probe says how to ask a site's database what it holds.
type Probe struct {
	// Hook is a command that prints one JSON object of numbers, or nil.
	Hook []string
	// Tables maps a figure's name to the table whose row count it is.
	Tables map[string]string
}
