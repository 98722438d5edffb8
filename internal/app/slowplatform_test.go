package app_test

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// slowPlatform writes a php platform under parent/slow whose install hook
// sleeps for seconds: a site install on it is still running when a test
// stops, fails over or steps down the aegir that runs it. It returns the
// platform's path.
func slowPlatform(t *testing.T, parent string, seconds int) string {
	t.Helper()
	slow := filepath.Join(parent, "slow")
	if err := os.MkdirAll(filepath.Join(slow, "public"), 0o755); err != nil {
		t.Fatal(err)
	}
	manifest := "docroot = \"public\"\nhooks {\n  install = [\"sleep\", \"" + strconv.Itoa(seconds) + "\"]\n}\n"
	for name, body := range map[string]string{"public/index.php": "<?php echo 'ok';\n", "aegir.hcl": manifest} {
		if err := os.WriteFile(filepath.Join(slow, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return slow
}
