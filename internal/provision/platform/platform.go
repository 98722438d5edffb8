// Package platform knows the platform types a site can run on: how to
// recognise each one on disk, where a site's docroot and settings live,
// how settings are rendered, what installs a site, and how packages are
// found. It does no database or web work and runs no commands; the
// provision tasks do.
//
// Layout (platform path P, site domain D, site dir S = P/sites/D):
//
//	static  P/public/ is the template docroot; each site gets its own copy in S/public.
//	php     P/aegir.hcl declares docroot and hooks; docroot P/<docroot>, settings S/settings.json.
//	drupal  P/index.php and P/core/lib/Drupal.php (8+) or P/includes/bootstrap.inc (7);
//	        docroot P, settings S/settings.php.
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

// Platform is an opened, recognised platform directory.
type Platform struct {
	Path string
	Type domain.PlatformType
	// Manifest is the parsed aegir.hcl of a php platform.
	Manifest *Manifest
	// CoreVersion is Drupal's VERSION constant for a drupal platform.
	CoreVersion string
}

// Detect returns the type of platform in dir.
func Detect(dir string) (domain.PlatformType, error) {
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		return "", fmt.Errorf("%w: %s", ErrMissing, dir)
	}
	if isFile(filepath.Join(dir, "index.php")) &&
		(isFile(filepath.Join(dir, "core", "lib", "Drupal.php")) || isFile(filepath.Join(dir, "includes", "bootstrap.inc"))) {
		return domain.PlatformDrupal, nil
	}
	if isFile(filepath.Join(dir, ManifestFile)) {
		return domain.PlatformPHP, nil
	}
	if isDir(filepath.Join(dir, "public")) {
		return domain.PlatformStatic, nil
	}
	return "", fmt.Errorf("%w in %s: expected public/ (static), %s (php) or index.php with core/lib/Drupal.php (drupal)", ErrUnknownType, dir, ManifestFile)
}

// Open recognises the platform in dir and checks it is of the declared type
// (empty: accept what is found).
func Open(dir string, declared domain.PlatformType) (*Platform, error) {
	if err := domain.ValidatePath("platform path", dir, nil); err != nil {
		return nil, err
	}
	typ, err := Detect(dir)
	if err != nil {
		return nil, err
	}
	if declared != "" && typ != declared {
		return nil, fmt.Errorf("%w: %s holds a %s platform, not %s", ErrTypeMismatch, dir, typ, declared)
	}
	p := &Platform{Path: dir, Type: typ}
	switch typ {
	case domain.PlatformPHP:
		m, err := LoadManifest(filepath.Join(dir, ManifestFile))
		if err != nil {
			return nil, err
		}
		p.Manifest = m
	case domain.PlatformDrupal:
		p.CoreVersion = drupalVersion(dir)
	}
	return p, nil
}

// SiteDir is the directory of the site with the given (normalised) domain.
func (p *Platform) SiteDir(domainName string) string {
	return filepath.Join(p.Path, "sites", domainName)
}

// Docroot is the directory the web server serves for a site.
func (p *Platform) Docroot(siteDir string) string {
	switch p.Type {
	case domain.PlatformStatic:
		return filepath.Join(siteDir, "public")
	case domain.PlatformPHP:
		return filepath.Join(p.Path, filepath.FromSlash(p.Manifest.Docroot))
	default:
		return p.Path
	}
}

// PHP reports whether the web server passes .php requests to PHP.
func (p *Platform) PHP() bool { return p.Type != domain.PlatformStatic }

// SettingsFile is the site's generated settings file, or "" for a type
// without one.
func (p *Platform) SettingsFile(siteDir string) string {
	switch p.Type {
	case domain.PlatformPHP:
		return filepath.Join(siteDir, "settings.json")
	case domain.PlatformDrupal:
		return filepath.Join(siteDir, "settings.php")
	}
	return ""
}

// Release names the platform's release: "drupal 10.2.3", "php-app 1.0", "static".
func (p *Platform) Release() string {
	switch p.Type {
	case domain.PlatformDrupal:
		if p.CoreVersion == "" {
			return "drupal (unknown version)"
		}
		return "drupal " + p.CoreVersion
	case domain.PlatformPHP:
		name := p.Manifest.Name
		if name == "" {
			name = "php"
		}
		if p.Manifest.Version != "" {
			return name + " " + p.Manifest.Version
		}
		return name
	}
	return "static"
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
