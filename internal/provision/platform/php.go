package platform

import (
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/aegirhq/aegir/internal/domain"
)

// phpType is a PHP application described by its aegir.hcl (see Manifest):
// the manifest names the docroot and the commands that install a site, run
// its cron, measure it and list the platform's packages. A site's settings
// are S/settings.json, the database connection as JSON.
type phpType struct{}

var _ Type = phpType{}

func (phpType) Name() domain.PlatformType { return domain.PlatformPHP }

func (phpType) Description() string {
	return "a PHP application whose " + ManifestFile + " declares its docroot and hooks"
}

func (phpType) Marker() string { return ManifestFile }

func (phpType) Detect(dir string) bool { return isFile(filepath.Join(dir, ManifestFile)) }

func (phpType) Load(p *Platform) error {
	m, err := LoadManifest(filepath.Join(p.Path, ManifestFile))
	if err != nil {
		return err
	}
	if m.NginxSnippet != "" {
		if m.snippet, err = readSnippet(p.Path, m.NginxSnippet); err != nil {
			return fmt.Errorf("%w: %v", ErrManifest, err)
		}
	}
	p.Manifest = m
	return nil
}

func (phpType) Release(p *Platform) string {
	name := p.Manifest.Name
	if name == "" {
		name = "php"
	}
	if p.Manifest.Version != "" {
		return name + " " + p.Manifest.Version
	}
	return name
}

// Packages is empty: a php platform lists its packages with its packages
// hook, which the task runs.
func (phpType) Packages(*Platform) ([]Package, error) { return nil, nil }

func (phpType) SitePackages(*Platform, string) ([]Package, error) { return nil, nil }

func (phpType) PHP() bool { return true }

func (phpType) Docroot(p *Platform, _ string) string {
	return filepath.Join(p.Path, filepath.FromSlash(p.Manifest.Docroot))
}

func (phpType) SiteTemplate() string { return "" }

func (phpType) SettingsFile(siteDir string) string { return filepath.Join(siteDir, "settings.json") }

// RenderSettings writes the database connection as indented JSON.
func (phpType) RenderSettings(_ *Platform, s Settings) ([]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(s.DB, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func (phpType) Hook(p *Platform, name string) []string {
	if p.Manifest == nil || p.Manifest.Hooks == nil {
		return nil
	}
	argv := p.Manifest.Hooks.byName()[name]
	if argv == nil {
		return nil
	}
	return resolve(p, argv)
}

func (phpType) Site(p *Platform) SiteSpec {
	m := p.Manifest
	if m == nil {
		return NoSpec()
	}
	return SiteSpec{Database: m.HasDatabase(), Env: maps.Clone(m.Env), NginxSnippet: m.snippet, Expect: m.Expect}
}

func (t phpType) InstallArgv(p *Platform, _, _ string) ([]string, error) {
	return t.Hook(p, HookInstall), nil
}

func (t phpType) CronArgv(p *Platform, _ string) ([]string, error) {
	return t.Hook(p, HookCron), nil
}

func (t phpType) Stats(p *Platform) Probe { return Probe{Hook: t.Hook(p, HookStats)} }

func (t phpType) RestoreCheck(p *Platform) Probe { return Probe{Hook: t.Hook(p, HookStats)} }

// resolve returns argv with a relative program path that contains a slash
// made absolute inside the platform.
func resolve(p *Platform, argv []string) []string {
	out := slices.Clone(argv)
	if strings.Contains(out[0], "/") && !filepath.IsAbs(out[0]) {
		out[0] = filepath.Join(p.Path, filepath.FromSlash(out[0]))
	}
	return out
}
