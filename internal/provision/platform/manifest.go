package platform

import (
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/hashicorp/hcl/v2/hclsimple"

	"github.com/aegirhq/aegir/internal/domain"
)

// ManifestFile is the manifest of a php platform, at the platform's root.
const ManifestFile = "aegir.hcl"

// MaxManifestSize bounds aegir.hcl.
const MaxManifestSize = 64 << 10

// Manifest is a php platform's aegir.hcl:
//
//	name    = "php-app"          # optional, shown as the platform's release
//	version = "1.0"              # optional
//	docroot = "public"           # relative to the platform root
//
//	hooks {
//	  install  = ["php", "bin/install.php"]   # once, after the database and settings exist
//	  cron     = ["php", "bin/cron.php"]
//	  stats    = ["php", "bin/stats.php"]     # prints a JSON object of numbers
//	  packages = ["php", "bin/packages.php"]  # prints a JSON array of {name, type, release}
//	}
//
// Each hook is an argv list, run without a shell in the platform root with
// the site's context in environment variables (AEGIR_SITE_DOMAIN,
// AEGIR_SITE_DIR, AEGIR_SETTINGS, AEGIR_DB_DRIVER, AEGIR_DB_HOST,
// AEGIR_DB_PORT, AEGIR_DB_SOCKET, AEGIR_DB_PATH, AEGIR_DB_NAME,
// AEGIR_DB_USER, AEGIR_DB_PASSWORD). A relative program path containing a
// slash is resolved inside the platform root.
type Manifest struct {
	Name    string `hcl:"name,optional"`
	Version string `hcl:"version,optional"`
	Docroot string `hcl:"docroot"`
	Hooks   *Hooks `hcl:"hooks,block"`
}

// Hooks are the php platform's commands, each an argv list.
type Hooks struct {
	Install  []string `hcl:"install,optional"`
	Cron     []string `hcl:"cron,optional"`
	Stats    []string `hcl:"stats,optional"`
	Packages []string `hcl:"packages,optional"`
}

// LoadManifest reads and validates an aegir.hcl file.
func LoadManifest(file string) (*Manifest, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrManifest, err)
	}
	return ParseManifest(file, b)
}

// ParseManifest parses and validates manifest source; filename is used in
// error messages.
func ParseManifest(filename string, src []byte) (*Manifest, error) {
	if len(src) > MaxManifestSize {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrManifest, filename, MaxManifestSize)
	}
	var m Manifest
	if err := hclsimple.Decode("aegir.hcl", src, nil, &m); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrManifest, filename, err)
	}
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrManifest, filename, err)
	}
	return &m, nil
}

func (m *Manifest) validate() error {
	if err := checkText("name", m.Name); err != nil {
		return err
	}
	if err := checkText("version", m.Version); err != nil {
		return err
	}
	d := m.Docroot
	if d == "" || path.IsAbs(d) || path.Clean(d) != d || d == ".." || strings.HasPrefix(d, "../") || !safePath(d) {
		return fmt.Errorf("docroot %q must be a clean relative path inside the platform (letters, digits, '/', '.', '_', '-')", domain.Clip(d))
	}
	if m.Hooks == nil {
		m.Hooks = &Hooks{}
	}
	for name, argv := range map[string][]string{"install": m.Hooks.Install, "cron": m.Hooks.Cron, "stats": m.Hooks.Stats, "packages": m.Hooks.Packages} {
		if argv == nil {
			continue
		}
		if len(argv) == 0 || argv[0] == "" {
			return fmt.Errorf("hook %s is empty; remove it or give a program and its arguments", name)
		}
		if len(argv) > 64 {
			return fmt.Errorf("hook %s has more than 64 arguments", name)
		}
		for _, a := range argv {
			if err := checkText("hook "+name, a); err != nil {
				return err
			}
		}
		if p := argv[0]; strings.Contains(p, "/") && !path.IsAbs(p) {
			c := path.Clean(p)
			if c == ".." || strings.HasPrefix(c, "../") {
				return fmt.Errorf("hook %s program %q leaves the platform directory", name, domain.Clip(p))
			}
		}
	}
	return nil
}

func checkText(field, s string) error {
	if len(s) > 1024 {
		return fmt.Errorf("%s is longer than 1024 characters", field)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%s contains control characters", field)
		}
	}
	return nil
}

func safePath(p string) bool {
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '/' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
