package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/testharness"
)

// aegirBin is the aegir binary built once for the tests in this package:
// the local executor runs it as the back end, so tests of the whole
// product run the real thing.
var aegirBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "aegir-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	aegirBin = filepath.Join(dir, "aegir")
	build := exec.Command("go", "build", "-o", aegirBin, "github.com/aegirhq/aegir")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build aegir:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// devProcess is a running `aegir dev` and a client of its API.
type devProcess struct {
	t        *testing.T
	dataDir  string
	api      string
	sites    string
	token    string
	http     *http.Client
	logsPath string
	pid      int    // the aegir dev process's
	tlsAddr  string // its -sites-tls-addr, when it was given one
}

// startDev starts `aegir dev` on free ports in a new data directory;
// extra are more of its flags.
func startDev(t *testing.T, extra ...string) *devProcess {
	t.Helper()
	return startDevEnv(t, nil, extra...)
}

// startDevEnv is startDev with env added to the environment it inherits
// (AEGIR_MAX_IMPORT_MB=1). When aegir dev cannot bind a port it was given
// (another process took it after FreePort), it starts again on new ports,
// at most three times; a -sites-tls-addr in extra is picked anew too, and
// d.tlsAddr is the one it got.
func startDevEnv(t *testing.T, env []string, extra ...string) *devProcess {
	t.Helper()
	d := &devProcess{t: t, dataDir: filepath.Join(t.TempDir(), "data"), http: &http.Client{Timeout: 30 * time.Second}}
	for attempt := 1; ; attempt++ {
		args := slices.Clone(extra)
		if i := slices.Index(args, "-sites-tls-addr"); i >= 0 && i+1 < len(args) {
			if attempt > 1 {
				args[i+1] = fmt.Sprintf("127.0.0.1:%d", testharness.FreePort(t))
			}
			d.tlsAddr = args[i+1]
		}
		if d.launch(env, args, attempt < 3) {
			break
		}
		t.Logf("aegir dev could not bind one of its ports (attempt %d); starting it again on new ones", attempt)
	}
	return d.ready()
}

// launch starts aegir dev with args and waits until it answers. It
// returns false, having stopped it, when it could not bind a port and
// retry is set; any other failure fails the test.
func (d *devProcess) launch(env, extra []string, retry bool) bool {
	t := d.t
	t.Helper()
	_ = os.RemoveAll(d.dataDir)
	d.api = fmt.Sprintf("127.0.0.1:%d", testharness.FreePort(t))
	d.sites = fmt.Sprintf("127.0.0.1:%d", testharness.FreePort(t))
	d.logsPath = filepath.Join(t.TempDir(), "dev.log")
	logf, err := os.Create(d.logsPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(aegirBin, append([]string{"dev", "-data-dir", d.dataDir, "-http-addr", d.api, "-sites-addr", d.sites}, extra...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d.pid = cmd.Process.Pid
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		logf.Close()
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + d.api + "/api/v1/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		gone := false
		select {
		case <-exited:
			gone = true
		default:
		}
		if (gone || time.Now().After(deadline)) && retry {
			if b, _ := os.ReadFile(d.logsPath); strings.Contains(string(b), "address already in use") {
				stop()
				return false
			}
		}
		if time.Now().After(deadline) {
			stop()
			b, _ := os.ReadFile(d.logsPath)
			t.Fatalf("aegir dev did not answer on %s; its output:\n%s", d.api, tail(string(b), 60))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			b, _ := os.ReadFile(d.logsPath)
			t.Logf("aegir dev output:\n%s", tail(string(b), 60))
		}
	})
	return true
}

// ready reads the admin's token of a started aegir dev.
func (d *devProcess) ready() *devProcess {
	t := d.t
	t.Helper()
	tok, err := os.ReadFile(filepath.Join(d.dataDir, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(d.dataDir, "admin-token")); fi.Mode().Perm() != 0o600 {
		t.Errorf("admin-token mode %v, want 0600", fi.Mode().Perm())
	}
	d.token = strings.TrimSpace(string(tok))
	return d
}

// call sends a JSON request to the API and decodes the answer into out.
func (d *devProcess) call(method, path string, body any, out any) int {
	d.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, "http://"+d.api+"/api/v1"+path, r)
	req.Header.Set("Authorization", "Bearer "+d.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.http.Do(req)
	if err != nil {
		d.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			d.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, b, err)
		}
	}
	if resp.StatusCode >= 300 && out == nil {
		d.t.Logf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode
}

type task struct {
	ID          string `json:"id"`
	Type        string `json:"type"`
	Status      string `json:"status"`
	ErrorCode   string `json:"error_code"`
	Explanation string `json:"explanation"`
	FixHint     string `json:"fix_hint"`
	Summary     string `json:"summary"`
}

// waitTask waits for a task to end and fails the test unless it succeeded.
func (d *devProcess) waitTask(id string) task {
	d.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		var tk task
		d.call("GET", "/tasks/"+id, nil, &tk)
		switch tk.Status {
		case "succeeded":
			return tk
		case "failed", "cancelled":
			d.t.Fatalf("task %s (%s) %s: %s: %s (hint: %s)", id, tk.Type, tk.Status, tk.ErrorCode, tk.Explanation, tk.FixHint)
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("task %s (%s) still %s", id, tk.Type, tk.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// siteTask queues a task on a site and waits for it.
func (d *devProcess) siteTask(siteID, typ string, args map[string]string) task {
	d.t.Helper()
	var tk task
	if code := d.call("POST", "/sites/"+siteID+"/tasks", map[string]any{"type": typ, "args": args}, &tk); code != 202 {
		d.t.Fatalf("queue %s: %d %+v", typ, code, tk)
	}
	return d.waitTask(tk.ID)
}

// get fetches a page of a site through the builtin web server.
func (d *devProcess) get(host, path string) (int, string) {
	d.t.Helper()
	req, _ := http.NewRequest("GET", "http://"+d.sites+path, nil)
	req.Host = host
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		d.t.Fatalf("GET %s%s: %v", host, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (d *devProcess) waitPlatformsReady() {
	d.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var page struct {
			Items []struct {
				Name   string `json:"name"`
				Status string `json:"status"`
			} `json:"items"`
		}
		d.call("GET", "/platforms", nil, &page)
		ready := len(page.Items) > 0
		for _, p := range page.Items {
			ready = ready && p.Status == "ready"
		}
		if ready {
			return
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("platforms not ready: %+v", page.Items)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDevLifecycle drives one site through every task on `aegir dev`
// (static platform, builtin web server, SQLite), through the REST API,
// and checks what a visitor sees and what is left on disk.
func TestDevLifecycle(t *testing.T) {
	t.Parallel()
	d := startDev(t)
	d.waitPlatformsReady()
	examplePath := filepath.Join(d.dataDir, "platforms", "example")

	// A second static platform to migrate to.
	newPlatform := filepath.Join(d.dataDir, "platforms", "example2")
	if err := os.MkdirAll(filepath.Join(newPlatform, "public"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(newPlatform, "public", "index.html"), []byte("platform two\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var created struct {
		Platform struct{ ID string } `json:"platform"`
		Task     task                `json:"task"`
	}
	if code := d.call("POST", "/platforms", map[string]any{"name": "example2", "path": newPlatform, "web_server": "local", "type": "static"}, &created); code != 201 {
		t.Fatalf("create platform: %d", code)
	}
	d.waitTask(created.Task.ID)

	// Create: the install task is queued in the same request.
	var site struct {
		Site struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"site"`
		Task task `json:"task"`
	}
	code := d.call("POST", "/sites", map[string]any{
		"domain": "life.example.test", "aliases": []string{"www.life.example.test"},
		"platform": "example", "db_server": "local", // the only client, default, owns it
	}, &site)
	if code != 201 || site.Task.Type != "install" {
		t.Fatalf("create site: %d %+v", code, site)
	}
	id := site.Site.ID
	d.waitTask(site.Task.ID)
	for _, host := range []string{"life.example.test", "www.life.example.test"} {
		if code, body := d.get(host, "/"); code != 200 || !strings.Contains(body, "It works") {
			t.Fatalf("%s answers %d %q", host, code, body)
		}
	}

	// Backup, change the content, restore: the original is back.
	d.siteTask(id, "backup", nil)
	var backups struct {
		Items []struct{ ID string } `json:"items"`
	}
	d.call("GET", "/sites/"+id+"/backups", nil, &backups)
	if len(backups.Items) != 1 {
		t.Fatalf("backups = %+v", backups)
	}
	index := filepath.Join(examplePath, "sites", "life.example.test", "public", "index.html")
	if err := os.WriteFile(index, []byte("defaced\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, body := d.get("life.example.test", "/"); !strings.Contains(body, "defaced") {
		t.Fatalf("content change not served: %q", body)
	}
	d.siteTask(id, "restore", map[string]string{"backup_id": backups.Items[0].ID})
	if _, body := d.get("life.example.test", "/"); !strings.Contains(body, "It works") {
		t.Fatalf("after restore: %q", body)
	}
	// The files it replaced go in the task its result queued (in the
	// same transaction, so it is there as soon as the restore ended).
	var cleanups struct {
		Items []task `json:"items"`
	}
	d.call("GET", "/tasks?target_id="+id+"&type=remove-replaced-files", nil, &cleanups)
	if len(cleanups.Items) != 1 {
		t.Fatalf("remove-replaced-files tasks after the restore: %+v", cleanups.Items)
	}
	d.waitTask(cleanups.Items[0].ID)
	if left, _ := filepath.Glob(filepath.Join(examplePath, "sites", ".aegir-*")); len(left) != 0 {
		t.Fatalf("left beside the site after remove-replaced-files: %v", left)
	}

	// Disable: 503; enable: back.
	d.siteTask(id, "disable", nil)
	if code, _ := d.get("life.example.test", "/"); code != 503 {
		t.Fatalf("disabled site answers %d", code)
	}
	d.siteTask(id, "enable", nil)
	if code, _ := d.get("life.example.test", "/"); code != 200 {
		t.Fatalf("enabled site answers %d", code)
	}

	// Clone to a new domain.
	d.siteTask(id, "clone", map[string]string{"domain": "copy.example.test"})
	if code, body := d.get("copy.example.test", "/"); code != 200 || !strings.Contains(body, "It works") {
		t.Fatalf("clone answers %d %q", code, body)
	}
	var clone struct {
		ID string `json:"id"`
	}
	d.call("GET", "/sites/copy.example.test", nil, &clone)

	// Migrate to the other platform and a new domain.
	d.siteTask(id, "migrate", map[string]string{"platform_id": created.Platform.ID, "domain": "moved.example.test"})
	if code, _ := d.get("moved.example.test", "/"); code != 200 {
		t.Fatalf("migrated site answers %d", code)
	}
	if code, _ := d.get("life.example.test", "/"); code != 404 {
		t.Fatalf("old domain still answers %d after migrate", code)
	}

	// Delete both: nothing of either is left on disk.
	d.siteTask(id, "delete", nil)
	d.siteTask(clone.ID, "delete", nil)
	for _, host := range []string{"moved.example.test", "copy.example.test"} {
		if code, _ := d.get(host, "/"); code != 404 {
			t.Errorf("deleted %s answers %d", host, code)
		}
	}
	var left []string
	for _, dir := range []string{filepath.Join(examplePath, "sites"), filepath.Join(newPlatform, "sites"),
		filepath.Join(d.dataDir, "sqlite"), filepath.Join(d.dataDir, "builtin", "routes")} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			left = append(left, filepath.Join(dir, e.Name()))
		}
	}
	if len(left) > 0 {
		t.Fatalf("left behind after delete: %v", left)
	}
	var sites struct {
		Total int               `json:"total"`
		Items []json.RawMessage `json:"items"`
	}
	d.call("GET", "/sites", nil, &sites)
	if sites.Total != 0 {
		var tasks json.RawMessage
		d.call("GET", "/tasks?limit=20", nil, &tasks)
		t.Fatalf("%d sites remain: %s\nnewest tasks: %s", sites.Total, sites.Items, tasks)
	}
	_ = context.Background
	_ = net.JoinHostPort
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// The e2e tests' startDev starts aegir dev again on new ports when one it
// was given is taken (another test's process bound it after FreePort):
// it made TestDevHTTPSWithLocalCA fail once in CI.
func TestStartDevRetriesABusyPort(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	d := startDev(t, "-sites-tls-addr", busy.Addr().String())
	if d.tlsAddr == busy.Addr().String() || d.tlsAddr == "" {
		t.Fatalf("aegir dev's HTTPS address %q: want a new one, not the busy %s", d.tlsAddr, busy.Addr())
	}
	if code := d.call("GET", "/health", nil, nil); code != 200 {
		t.Fatalf("health: %d", code)
	}
}
