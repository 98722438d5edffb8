package app_test

import (
	"fmt"
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

// devOn runs `aegir dev` on dataDir with the addresses of d (a process
// started again on the same ones is the same one restarted) and waits
// until its API answers. It returns the process and a channel closed
// when it has exited.
func devOn(t *testing.T, d *devProcess, logName string) (*exec.Cmd, <-chan struct{}) {
	t.Helper()
	logf, err := os.Create(filepath.Join(filepath.Dir(d.logsPath), logName))
	if err != nil {
		t.Fatal(err)
	}
	d.logsPath = logf.Name()
	cmd := exec.Command(aegirBin, "dev", "-data-dir", d.dataDir, "-http-addr", d.api, "-sites-addr", d.sites)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("%s:\n%s", logName, tail(string(b), 60))
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + d.api + "/api/v1/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case <-exited:
			t.Fatalf("aegir dev exited at start")
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("aegir dev did not answer on %s", d.api)
		}
		time.Sleep(100 * time.Millisecond)
	}
	tok, err := os.ReadFile(filepath.Join(d.dataDir, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	d.token = strings.TrimSpace(string(tok))
	return cmd, exited
}

// TestDevStopDuringInstall: SIGTERM or SIGINT to `aegir dev` while a site
// installs stops the back end with SIGTERM and waits for it to roll back;
// the task ends aegir_stopped (not runner_gone after the restart) and the
// site's directory is gone.
func TestDevStopDuringInstall(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			testDevStopDuringInstall(t, sig)
		})
	}
}

func testDevStopDuringInstall(t *testing.T, sig syscall.Signal) {
	root := t.TempDir()
	d := &devProcess{t: t, dataDir: filepath.Join(root, "data"), http: &http.Client{Timeout: 30 * time.Second},
		logsPath: filepath.Join(root, "dev.log")}
	d.api = fmt.Sprintf("127.0.0.1:%d", testharness.FreePort(t))
	d.sites = fmt.Sprintf("127.0.0.1:%d", testharness.FreePort(t))
	cmd, exited := devOn(t, d, "dev-1.log")
	d.waitPlatformsReady()

	// A php platform whose install hook sleeps: the install is still
	// running when aegir is stopped.
	slow := slowPlatform(t, root, 60)
	var plat struct {
		Task task `json:"task"`
	}
	if code := d.call("POST", "/platforms", map[string]any{"name": "slow", "path": slow, "web_server": "local", "type": "php"}, &plat); code != 201 {
		t.Fatalf("create platform: %d", code)
	}
	d.waitTask(plat.Task.ID)

	const domain = "stopped.example.test"
	var site struct {
		Task task `json:"task"`
	}
	if code := d.call("POST", "/sites", map[string]any{"domain": domain, "platform": "slow", "db_server": "local", "client": "default"}, &site); code != 201 {
		t.Fatalf("create site: %d", code)
	}
	siteDir := filepath.Join(slow, "sites", domain)
	// Wait until the install runs its hook: the site's directory exists.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(siteDir); err == nil && d.taskState(site.Task.ID).Status == "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the slow install never started: %+v", d.taskState(site.Task.ID))
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // into the hook

	stopped := time.Now()
	must(t, cmd.Process.Signal(sig)) // aegir only, not its back end's group
	select {
	case <-exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("aegir dev did not stop within 60s of %s", sig)
	}
	t.Logf("aegir dev stopped %s after %s", time.Since(stopped).Round(time.Millisecond), sig)
	if _, err := os.Stat(siteDir); !os.IsNotExist(err) {
		t.Errorf("site directory %s after the stop: %v, want it removed by the rollback", siteDir, err)
	}

	devOn(t, d, "dev-2.log")
	tk := d.waitDone(site.Task.ID)
	if tk.Status != "failed" || tk.ErrorCode != "aegir_stopped" {
		t.Fatalf("install stopped with aegir: %s %s %q", tk.Status, tk.ErrorCode, tk.Explanation)
	}
	t.Logf("the task ended %s %s: %s", tk.Status, tk.ErrorCode, tk.Explanation)
	if !strings.Contains(tk.Explanation, "rolled back") {
		t.Errorf("explanation %q does not say the install was rolled back", tk.Explanation)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
