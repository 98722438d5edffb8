package app_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/builtinweb"
	"github.com/aegirhq/aegir/internal/lifecycle"
	"github.com/aegirhq/aegir/internal/testharness"
)

// admin runs `aegir admin args...` with env added and returns its exit
// code, stdout and stderr.
func admin(t *testing.T, env []string, stdin []byte, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(aegirBin, append([]string{"admin"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("aegir admin %s: %v", strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	return code, stdout.String(), stderr.String()
}

// runbookStep runs the runnable block name of docs/recovery.md in dir with
// env added and aegir on the PATH, and returns its output; it fails the
// test when the block fails.
func runbookStep(t *testing.T, dir string, env []string, name string) string {
	t.Helper()
	blocks, err := lifecycle.Runbook("../../docs/recovery.md")
	if err != nil {
		t.Fatal(err)
	}
	b, ok := blocks[name]
	if !ok {
		t.Fatalf("docs/recovery.md has no runnable block %q", name)
	}
	cmd := b.Command(context.Background())
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Env = append(cmd.Env, "PATH="+filepath.Dir(aegirBin)+":"+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docs/recovery.md block %q (line %d): %v\n%s", name, b.Line, err, out)
	}
	return string(out)
}

// TestDisasterRecovery loses a running cluster's Consul and gets every
// site back: export from the running cluster, a fresh Consul with no data,
// import, a server on it, rebuild from the newest backups.
func TestDisasterRecovery(t *testing.T) {
	t.Parallel()
	consul := testharness.Consul(t)
	redis := testharness.Redis(t)
	prefix := testharness.UniquePrefix(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	a := startServerAt(t, dataDir, "", consul.Addr, redis.Addr, prefix, "", 2*time.Second)

	// One machine: builtin web server and SQLite, a static platform, two
	// sites with content of their own, each backed up; then the content
	// changes after the backup.
	var srv struct {
		Task task `json:"task"`
	}
	sitesPort, _ := strconv.Atoi(strings.Split(a.sites, ":")[1])
	if code := a.call("POST", "/servers", map[string]any{"name": "local", "address": "127.0.0.1",
		"services": []map[string]any{{"kind": "builtin", "port": sitesPort}, {"kind": "sqlite"}}}, &srv); code != 201 {
		t.Fatalf("create server: %d", code)
	}
	a.waitTask(srv.Task.ID)
	if code := a.call("POST", "/clients", map[string]any{"name": "acme"}, nil); code != 201 {
		t.Fatalf("create client: %d", code)
	}
	plat := filepath.Join(t.TempDir(), "static")
	if err := os.MkdirAll(filepath.Join(plat, "public"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(plat, "public", "index.html"), []byte("platform page\n"), 0o644)
	var p struct {
		Task task `json:"task"`
	}
	if code := a.call("POST", "/platforms", map[string]any{"name": "static", "path": plat, "web_server": "local", "type": "static"}, &p); code != 201 {
		t.Fatalf("create platform: %d", code)
	}
	a.waitTask(p.Task.ID)
	domains := []string{"one.example.test", "two.example.test"}
	siteIDs := map[string]string{}
	for _, dom := range domains {
		var site struct {
			Site struct{ ID string } `json:"site"`
			Task task                `json:"task"`
		}
		if code := a.call("POST", "/sites", map[string]any{"domain": dom, "platform": "static", "db_server": "local", "client": "acme"}, &site); code != 201 {
			t.Fatalf("create %s: %d", dom, code)
		}
		a.waitTask(site.Task.ID)
		siteIDs[dom] = site.Site.ID
		index := filepath.Join(plat, "sites", dom, "public", "index.html")
		if err := os.WriteFile(index, []byte("the content of "+dom+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		a.siteTask(site.Site.ID, "backup", nil)
		if err := os.WriteFile(index, []byte("changed after the backup\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// The runbook's export from the running cluster: credentials sealed
	// with the operator key. Without the key, none are in it.
	work := t.TempDir()
	keyFile := filepath.Join(t.TempDir(), "export.key")
	storeEnv := func(addr string) []string {
		return []string{"AEGIR_STORE=consul", "CONSUL_HTTP_ADDR=" + addr, "AEGIR_CONSUL_PREFIX=" + prefix, "AEGIR_DATA_DIR=" + dataDir}
	}
	runbookStep(t, work, []string{"AEGIR_EXPORT_KEY_FILE=" + keyFile}, "key")
	if out := runbookStep(t, work, append(storeEnv(consul.Addr), "AEGIR_EXPORT_KEY_FILE="+keyFile), "export"); !strings.Contains(out, "sealed with the key") {
		t.Fatalf("export: %s", out)
	}
	exports, _ := filepath.Glob(filepath.Join(work, "aegir-*.export"))
	if len(exports) != 1 {
		t.Fatalf("exports: %v", exports)
	}
	export := exports[0]
	code, plain, stderr := admin(t, storeEnv(consul.Addr), nil, "export")
	if code != 0 || !strings.Contains(plain, `"end":true`) || strings.Contains(plain, `{"k":"tokens/`) || strings.Contains(plain, `"password_hash":`) {
		t.Fatalf("export without a key: %d %s\n%.2000s", code, stderr, plain)
	}

	// The disaster: the server dies, Consul's data is gone, and so are
	// the web server's routes, and the second site's directory and its
	// database with it.
	_ = syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL)
	_ = a.cmd.Wait()
	consul.Stop()
	lost := []string{builtinweb.RoutesDir(dataDir), filepath.Join(plat, "sites", domains[1]),
		filepath.Join(dataDir, "sqlite", "s_"+siteIDs[domains[1]]+".db")}
	for _, p := range lost {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("nothing to lose at %s: %v", p, err)
		}
		if err := os.RemoveAll(p); err != nil {
			t.Fatal(err)
		}
	}
	fresh := testharness.Consul(t)

	// The runbook's import into the empty store; a second import is refused.
	if out := runbookStep(t, work, append(storeEnv(fresh.Addr), "AEGIR_EXPORT_KEY_FILE="+keyFile), "import"); !strings.Contains(out, "Imported") {
		t.Fatalf("import: %s", out)
	}
	if code, _, stderr := admin(t, storeEnv(fresh.Addr), nil, "import", "-key-file", keyFile, "-i", export); code != 1 || !strings.Contains(stderr, "not empty") {
		t.Fatalf("second import: %d %s", code, stderr)
	}
	if code, _, stderr := admin(t, storeEnv(fresh.Addr), nil, "import", "-i", export); code != 2 || !strings.Contains(stderr, "key") {
		t.Fatalf("import of a sealed export without the key: %d %s", code, stderr)
	}

	// A server on the fresh Consul, with the admin's old token (the export
	// sealed it). Its sites do not answer until they are rebuilt.
	b := startServerAt(t, dataDir, a.sites, fresh.Addr, redis.Addr, prefix, a.token, 2*time.Second)
	env := []string{"AEGIR_ADDR=http://" + b.api, "AEGIR_TOKEN=" + b.token}
	out := runbookStep(t, work, env, "rebuild")
	for _, dom := range domains {
		if !strings.Contains(out, dom) || strings.Count(out, "restored") != len(domains) {
			t.Errorf("rebuild report lacks %s restored:\n%s", dom, out)
		}
		// b serves on the sites address the server's record names.
		c, body := b.get(dom, "/")
		if c != 200 || body != "the content of "+dom+"\n" {
			t.Errorf("%s after rebuild: %d %q", dom, c, body)
		}
		if _, err := os.Stat(filepath.Join(dataDir, "sqlite", "s_"+siteIDs[dom]+".db")); err != nil {
			t.Errorf("%s's database after rebuild: %v", dom, err)
		}
	}
}
