package platform

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aegirhq/aegir/internal/domain"
)

// ErrMissing means the platform directory does not exist or is not a directory.
var ErrMissing = errors.New("platform directory missing")

// ErrUnknownType means no platform type was recognised in the directory.
var ErrUnknownType = errors.New("platform type not recognised")

// ErrTypeMismatch means the directory holds another type than declared.
var ErrTypeMismatch = errors.New("platform type differs from the declared type")

// ErrManifest means a php platform's aegir.hcl is missing or invalid.
var ErrManifest = errors.New("invalid aegir.hcl manifest")

// ErrDrushMissing means a drupal task needs drush and none was found.
var ErrDrushMissing = errors.New("drush not found")

// ErrPHPMissing means a drupal task without drush needs php, the PHP
// command-line interpreter, for aegir's own installer, and none is on the
// PATH.
var ErrPHPMissing = errors.New("php not found on the PATH")

// Platform is an opened, recognised platform directory.
type Platform struct {
	Path string
	Type domain.PlatformType
	// Manifest is the parsed aegir.hcl of a php platform.
	Manifest *Manifest
	// CoreVersion is Drupal's VERSION constant for a drupal platform.
	CoreVersion string
}

// Open recognises the platform in dir and checks it is of the declared type
// (empty: accept what is found), then lets the type load its own files.
func Open(dir string, declared domain.PlatformType) (*Platform, error) {
	if err := domain.ValidatePath("platform path", dir, nil); err != nil {
		return nil, err
	}
	t, err := Detect(dir)
	if err != nil {
		return nil, err
	}
	if declared != "" && t.Name() != declared {
		return nil, fmt.Errorf("%w: %s holds a %s platform, not %s", ErrTypeMismatch, dir, t.Name(), declared)
	}
	p := &Platform{Path: dir, Type: t.Name()}
	if err := t.Load(p); err != nil {
		return nil, err
	}
	return p, nil
}

// Kind is the platform's Type. A Platform is made by Open, whose type is
// registered; one built by hand with an unknown type is a programming
// error, and Kind panics on it.
func (p *Platform) Kind() Type {
	t, ok := Lookup(p.Type)
	if !ok {
		panic(fmt.Sprintf("platform: %q is not a registered platform type", p.Type))
	}
	return t
}

// SiteDir is the directory of the site with the given (normalised) domain.
func (p *Platform) SiteDir(domainName string) string {
	return filepath.Join(p.Path, "sites", domainName)
}

// The methods below ask the platform's Type; see Type for what each means.

// Docroot is the directory the web server serves for a site.
func (p *Platform) Docroot(siteDir string) string { return p.Kind().Docroot(p, siteDir) }

// PHP reports whether the web server passes .php requests to PHP.
func (p *Platform) PHP() bool { return p.Kind().PHP() }

// SettingsFile is the site's generated settings file, or "" for a type
// without one.
func (p *Platform) SettingsFile(siteDir string) string { return p.Kind().SettingsFile(siteDir) }

// RenderSettings returns the site's settings file content, or nil for a
// type without settings. Values are validated first and escaped for the
// file's language.
func (p *Platform) RenderSettings(s Settings) ([]byte, error) { return p.Kind().RenderSettings(p, s) }

// Release names the platform's release: "drupal 10.2.3", "php-app 1.0", "static".
func (p *Platform) Release() string { return p.Kind().Release(p) }

// Packages scans the platform for packages.
func (p *Platform) Packages() ([]Package, error) { return p.Kind().Packages(p) }

// SitePackages scans the site in siteDir for its own packages.
func (p *Platform) SitePackages(siteDir string) ([]Package, error) {
	return p.Kind().SitePackages(p, siteDir)
}

// SiteTemplate is the platform-relative directory each new site gets its
// own copy of, or "".
func (p *Platform) SiteTemplate() string { return p.Kind().SiteTemplate() }

// InstallArgv is the command that installs a site, or nil when the type
// has none.
func (p *Platform) InstallArgv(domainName, profile string) ([]string, error) {
	return p.Kind().InstallArgv(p, domainName, profile)
}

// CronArgv is the command that runs a site's cron, or nil.
func (p *Platform) CronArgv(domainName string) ([]string, error) {
	return p.Kind().CronArgv(p, domainName)
}

// HookArgv returns the platform's hook command (one of HookNames), or nil
// when not declared.
func (p *Platform) HookArgv(hook string) []string { return p.Kind().Hook(p, hook) }

// Site is what the platform declares for each of its sites besides hooks.
func (p *Platform) Site() SiteSpec { return p.Kind().Site(p) }

// Stats says how the stats task measures a site.
func (p *Platform) Stats() Probe { return p.Kind().Stats(p) }

// RestoreCheck says what verify-backup asks of a restored site.
func (p *Platform) RestoreCheck() Probe { return p.Kind().RestoreCheck(p) }

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
