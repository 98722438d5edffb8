package app_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/store/boltkv"
)

// An aegir that finds a store written by a newer release in a schema it
// does not know refuses to start, saying so, and writes nothing to it.
func TestRefusesNewerStoreSchema(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	kv, err := boltkv.Open(filepath.Join(dir, "aegir.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := kv.Txn(ctx, []store.Op{{Verb: store.OpSet, Key: "meta/schema", Value: []byte(`{"version":99,"written_by":"9.0.0"}`)}}); err != nil {
		t.Fatal(err)
	}
	_, before, _ := kv.List(ctx, "")
	kv.Close()

	out, err := exec.Command(aegirBin, "dev", "-data-dir", dir, "-http-addr", "127.0.0.1:0", "-sites-addr", "127.0.0.1:0").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("aegir dev on a newer store: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "schema 99 (written by aegir 9.0.0)") || !strings.Contains(string(out), "run the newer aegir release") {
		t.Errorf("refusal does not say why:\n%s", out)
	}
	kv, err = boltkv.Open(filepath.Join(dir, "aegir.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer kv.Close()
	if _, after, _ := kv.List(ctx, ""); after != before {
		t.Errorf("the store was written: index %d → %d", before, after)
	}
}
