package config

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/hashicorp/hcl/v2/hclsimple"
)

// TestREADMEConfigParses decodes every HCL block of the README's
// Configuration section as an aegir config file, the way Load does: an
// operator who copies the example must not be told that a setting it shows
// is "not expected here". (Other sections show other HCL files, such as a
// platform's aegir.hcl manifest.)
func TestREADMEConfigParses(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	section := regexp.MustCompile("(?s)\n## Configuration\n(.*?)\n## ").FindSubmatch(readme)
	if section == nil {
		t.Fatal("README.md has no \"## Configuration\" section")
	}
	blocks := regexp.MustCompile("(?s)```hcl\n(.*?)```").FindAllSubmatch(section[1], -1)
	if len(blocks) == 0 {
		t.Fatal("README.md's Configuration section has no ```hcl block; the configuration example is gone")
	}
	for i, b := range blocks {
		var f fileConfig
		if err := hclsimple.Decode("README.md.hcl", b[1], nil, &f); err != nil {
			t.Errorf("README hcl block %d does not decode as a config file: %v", i+1, err)
			continue
		}
		if i == 0 {
			var c Config
			f.into(&c)
			if !slices.Equal(c.PlatformRoots, []string{"/var/aegir/platforms"}) {
				t.Errorf("platform_roots from the README = %q", c.PlatformRoots)
			}
			if c.Store.Backend != "consul" || c.Executor.Kind != "nomad" || c.Secrets.Backend != "vault" || c.Redis.Address == "" {
				t.Errorf("README config decoded to %+v", c)
			}
		}
	}
}
