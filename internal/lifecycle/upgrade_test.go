package lifecycle

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/testharness"
)

// buildAegir builds the aegir binary into a temporary directory.
func buildAegir(t *testing.T) string {
	t.Helper()
	testharness.RequireProgram(t, "go")
	bin := filepath.Join(t.TempDir(), "aegir")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/aegirhq/aegir").CombinedOutput()
	if err != nil {
		t.Fatalf("build aegir: %v\n%s", err, out)
	}
	return bin
}

// aegirProc is a running aegir dev or aegir server.
type aegirProc struct {
	t    *testing.T
	cmd  *exec.Cmd
	out  *bytes.Buffer
	api  string
	done chan struct{}
}

// startAegir runs bin with args in dir and waits for its API on api.
func startAegir(t *testing.T, dir string, env []string, api, bin string, args ...string) *aegirProc {
	t.Helper()
	p := &aegirProc{t: t, cmd: exec.Command(bin, args...), out: &bytes.Buffer{}, api: api, done: make(chan struct{})}
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(p.stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + api + "/api/v1/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited:\n%s", strings.Join(args, " "), p.out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer on %s:\n%s", strings.Join(args, " "), api, p.out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for the process to end.
func (p *aegirProc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		p.t.Errorf("aegir did not stop on SIGTERM:\n%s", p.out)
	}
}

// call sends a JSON request with token and decodes the answer into out.
func (p *aegirProc) call(token, method, path string, body, out any) int {
	p.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, "http://"+p.api+"/api/v1"+path, r)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			p.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
	}
	return resp.StatusCode
}

// TestUpgradeRunbook moves an aegir dev installation into Consul with
// docs/upgrade.md's blocks.
func TestUpgradeRunbook(t *testing.T) {
	t.Parallel()
	consul := testharness.SharedConsul(t)
	bin := buildAegir(t)
	blocks, err := Runbook("../../docs/upgrade.md")
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	prefix := testharness.UniquePrefix(t)
	sites := fmt.Sprintf("127.0.0.1:%d", testharness.FreePort(t))
	env := []string{"CONSUL_HTTP_ADDR=" + consul.Addr, "AEGIR_CONSUL_PREFIX=" + prefix,
		"PATH=" + filepath.Dir(bin) + ":" + os.Getenv("PATH")}
	step := func(name string, more ...string) string {
		t.Helper()
		b, ok := blocks[name]
		if !ok {
			t.Fatalf("docs/upgrade.md has no runnable block %q", name)
		}
		cmd := b.Command(context.Background())
		cmd.Dir = work
		cmd.Env = append(append(os.Environ(), env...), more...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("docs/upgrade.md block %q (line %d): %v\n%s", name, b.Line, err, out)
		}
		return string(out)
	}

	// aegir dev with a site, then stopped.
	devAPI := fmt.Sprintf("127.0.0.1:%d", testharness.FreePort(t))
	dev := startAegir(t, work, nil, devAPI, bin, "dev", "-data-dir", "aegir-data", "-http-addr", devAPI, "-sites-addr", sites)
	tok, err := os.ReadFile(filepath.Join(work, "aegir-data", "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(tok))
	var created struct {
		Task struct{ ID string } `json:"task"`
	}
	deadline := time.Now().Add(60 * time.Second)
	for dev.call(token, "POST", "/sites", map[string]any{"domain": "hello.localhost", "platform": "example", "db_server": "local", "client": "default"}, &created) != 201 {
		if time.Now().After(deadline) {
			t.Fatalf("create site on aegir dev:\n%s", dev.out)
		}
		time.Sleep(200 * time.Millisecond) // the example platform is still being verified
	}
	for {
		var task struct{ Status, Explanation string }
		dev.call(token, "GET", "/tasks/"+created.Task.ID, nil, &task)
		if task.Status == "succeeded" {
			break
		}
		if task.Status == "failed" || time.Now().After(deadline) {
			t.Fatalf("install on aegir dev: %s %s", task.Status, task.Explanation)
		}
		time.Sleep(100 * time.Millisecond)
	}
	dev.stop()

	// The runbook's move into Consul.
	if out := step("export-dev"); !strings.Contains(out, "sealed with the key") {
		t.Errorf("export-dev: %s", out)
	}
	if out := step("import-consul"); !strings.Contains(out, "Imported") {
		t.Errorf("import-consul: %s", out)
	}

	// aegir server as in step 4, on its own API address and dev's sites
	// address.
	api := fmt.Sprintf("127.0.0.1:%d", testharness.FreePort(t))
	startAegir(t, work, env, api, bin, "server", "run", "-store", "consul", "-data-dir", filepath.Join(work, "aegir-data"),
		"-http-addr", api, "-sites-addr", sites)
	out := step("check", "AEGIR_ADDR=http://"+api)
	if !strings.Contains(out, "hello.localhost") || !strings.Contains(out, "succeeded") {
		t.Errorf("check:\n%s", out)
	}
	req, _ := http.NewRequest("GET", "http://"+sites+"/", nil)
	req.Host = "hello.localhost"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "It works") {
		t.Errorf("hello.localhost on the server: %d %q", resp.StatusCode, body)
	}
}
