package platform

import (
	"path/filepath"

	"github.com/aegirhq/aegir/internal/domain"
)

// staticType is a platform of plain files: P/public/ is a template that
// each site gets its own copy of, in S/public, served as it is. It has no
// settings, install, cron, packages or figures.
type staticType struct{}

var _ Type = staticType{}

func (staticType) Name() domain.PlatformType { return domain.PlatformStatic }

func (staticType) Description() string {
	return "plain files: each site gets its own copy of the platform's public/ directory"
}

func (staticType) Marker() string { return "public/" }

func (staticType) Detect(dir string) bool { return isDir(filepath.Join(dir, "public")) }

func (staticType) Load(*Platform) error { return nil }

func (staticType) Release(*Platform) string { return "static" }

func (staticType) Packages(*Platform) ([]Package, error) { return nil, nil }

func (staticType) SitePackages(*Platform, string) ([]Package, error) { return nil, nil }

func (staticType) PHP() bool { return false }

func (staticType) Docroot(_ *Platform, siteDir string) string {
	return filepath.Join(siteDir, "public")
}

func (staticType) SiteTemplate() string { return "public" }

func (staticType) SettingsFile(string) string { return "" }

func (staticType) RenderSettings(*Platform, Settings) ([]byte, error) { return nil, nil }

func (staticType) Hook(*Platform, string) []string { return nil }

func (staticType) InstallArgv(*Platform, string, string) ([]string, error) { return nil, nil }

func (staticType) CronArgv(*Platform, string) ([]string, error) { return nil, nil }

func (staticType) Stats(*Platform) Probe { return Probe{} }

func (staticType) RestoreCheck(*Platform) Probe { return Probe{} }

func (staticType) Site(*Platform) SiteSpec { return NoSpec() }
