package config

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The Debian package's /etc/aegir/aegir.hcl refuses to start until the
// operator deletes its `unconfigured` line, saying what to set; without
// that line it is a valid server config.
func TestPackagedDefaultRefusesUntilConfigured(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("../../ops/package/aegir.hcl")
	if err != nil {
		t.Fatal(err)
	}
	none := func(string) string { return "" }
	dir := t.TempDir()
	file := filepath.Join(dir, "aegir.hcl")
	if err := os.WriteFile(file, src, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(ModeServer, file, none, nil)
	if !errors.Is(err, ErrUnconfigured) {
		t.Fatalf("packaged default loaded: err = %v", err)
	}
	for _, want := range []string{file, "not configured yet", "store, redis, executor and secrets", "unconfigured"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}

	configured := regexp.MustCompile(`(?m)^unconfigured = .*\n`).ReplaceAll(src, nil)
	if string(configured) == string(src) {
		t.Fatal("no unconfigured line to delete")
	}
	if err := os.WriteFile(file, configured, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(ModeServer, file, none, nil)
	if err != nil {
		t.Fatalf("configured default refused: %v", err)
	}
	if c.DataDir != "/var/lib/aegir" || c.Executor.Kind != "nomad" || c.Nomad.Binary != "/usr/bin/aegir" || c.Store.Backend != "consul" {
		t.Errorf("config = %+v", c)
	}
}
