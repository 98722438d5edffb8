package lifecycle

import (
	"bytes"
	"context"
	"net"
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

// pkgVersion is the version the test builds the package with.
const pkgVersion = "0.0.0~lifecycletest"

// run runs argv and returns its combined output; it fails the test when
// the command fails.
func run(t *testing.T, argv ...string) string {
	t.Helper()
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// buildPackage runs `just package`'s script into out and returns the
// .deb's path.
func buildPackage(t *testing.T, out string) string {
	t.Helper()
	testharness.RequireProgram(t, "go")
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", filepath.Join(root, "ops/package/build.sh"))
	cmd.Env = append(os.Environ(), "OUT="+out, "VERSION="+pkgVersion)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("ops/package/build.sh: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(stdout)), "\n")
	deb := lines[len(lines)-1]
	if filepath.Dir(deb) != out || !strings.HasSuffix(deb, ".deb") {
		t.Fatalf("build.sh printed %q, not a .deb in %s", deb, out)
	}
	return deb
}

// The Debian package on this machine, from install to purge.
func TestDebianPackage(t *testing.T) {
	testharness.RequireRoot(t, "installing the Debian package")
	for _, p := range []string{"dpkg", "dpkg-deb", "dpkg-query", "runuser", "systemd-analyze"} {
		testharness.RequireProgram(t, p)
	}
	// A run of this test that died part-way leaves its own package behind
	// (its version says so): purge it. Any other aegir is someone's.
	if v, err := exec.Command("dpkg-query", "-W", "-f=${Version}", "aegir").Output(); err == nil {
		if string(v) != pkgVersion {
			t.Fatalf("aegir %s is installed on this machine: the test would replace and purge it; remove it first", v)
		}
		t.Logf("purging aegir %s left by an earlier run of this test", v)
		run(t, "dpkg", "-P", "aegir")
	}
	if exec.Command("getent", "passwd", "aegir").Run() == nil {
		t.Fatal("a user aegir exists on this machine: the test's purge would delete it; remove it first")
	}
	if _, err := os.Stat("/var/lib/aegir"); err == nil {
		t.Fatal("/var/lib/aegir exists on this machine: the test's purge would delete it; move it away first")
	}

	for _, addr := range []string{"127.0.0.1:8480", "127.0.0.1:8481"} {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("the packaged config's %s is taken (%v): stop what listens there", addr, err)
		}
		l.Close()
	}
	install, err := Runbook("../../docs/install.md")
	if err != nil {
		t.Fatal(err)
	}
	// step runs a block of docs/install.md in work, where dist/ holds the
	// package, as the runbook is run from the repository's root.
	work := t.TempDir()
	step := func(name string) string {
		t.Helper()
		b, ok := install[name]
		if !ok {
			t.Fatalf("docs/install.md has no runnable block %q", name)
		}
		cmd := b.Command(context.Background())
		cmd.Dir = work
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("docs/install.md block %q (line %d): %v\n%s", name, b.Line, err, out)
		}
		return string(out)
	}
	deb := buildPackage(t, filepath.Join(work, "dist"))
	info := run(t, "dpkg-deb", "--info", deb)
	for _, want := range []string{"Package: aegir", "Version: " + pkgVersion, "postinst", "postrm", "conffiles"} {
		if !strings.Contains(info, want) {
			t.Errorf("dpkg-deb --info lacks %q:\n%s", want, info)
		}
	}

	t.Cleanup(func() {
		if out, err := exec.Command("dpkg", "-P", "aegir").CombinedOutput(); err != nil {
			t.Errorf("cleanup: dpkg -P aegir: %v\n%s", err, out)
		}
	})
	step("install")

	if got := run(t, "/usr/bin/aegir", "version"); strings.TrimSpace(got) != "aegir "+pkgVersion {
		t.Errorf("aegir version = %q", got)
	}
	run(t, "getent", "passwd", "aegir")
	st := run(t, "stat", "-c", "%U:%G %a", "/var/lib/aegir", "/etc/aegir", "/etc/aegir/aegir.hcl")
	if want := "aegir:aegir 750\nroot:aegir 750\nroot:aegir 640\n"; st != want {
		t.Errorf("owners and modes:\n%s\nwant:\n%s", st, want)
	}
	if conf := run(t, "dpkg-query", "-W", "-f=${Conffiles}", "aegir"); !strings.Contains(conf, "/etc/aegir/aegir.hcl") {
		t.Errorf("/etc/aegir/aegir.hcl is not a conffile: %q", conf)
	}

	// The unit passes systemd's own checks (a parse warning about it, which
	// systemd-analyze only prints, fails the test too).
	out, err := exec.Command("systemd-analyze", "verify", "/lib/systemd/system/aegir.service").CombinedOutput()
	if err != nil || strings.Contains(string(out), "aegir") {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}

	// The runbook's drop-in for the local executor as root passes too.
	units := t.TempDir()
	run(t, "cp", "/lib/systemd/system/aegir.service", units)
	dropIn := localRootDropIn(t)
	if err := os.MkdirAll(filepath.Join(units, "aegir.service.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(units, "aegir.service.d", "local-root.conf"), []byte(dropIn), 0o644); err != nil {
		t.Fatal(err)
	}
	verify := exec.Command("systemd-analyze", "verify", "aegir.service")
	verify.Dir = units
	verify.Env = append(os.Environ(), "SYSTEMD_UNIT_PATH="+units+":")
	out, err = verify.CombinedOutput()
	if err != nil || strings.Contains(string(out), "aegir") {
		t.Errorf("systemd-analyze verify with the local-root drop-in: %v\n%s", err, out)
	}

	// What the unit runs, as the unit's user: the packaged default refuses
	// to start (exit 2, which the unit does not restart) and says what to set.
	cmd := exec.Command("runuser", "-u", "aegir", "--", "/usr/bin/aegir", "server", "run", "-config", "/etc/aegir/aegir.hcl")
	out, err = cmd.CombinedOutput()
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 2 {
		t.Errorf("aegir server on the packaged config: %v (want exit 2)\n%s", err, out)
	}
	for _, want := range []string{"not configured yet", "set store, redis, executor and secrets", "unconfigured"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("refusal does not say %q:\n%s", want, out)
		}
	}

	// Configured for one machine by the runbook, it starts as the unit
	// starts it and answers the runbook's check.
	step("configure")
	srv := exec.Command("runuser", "-u", "aegir", "--", "/usr/bin/aegir", "server", "run", "-config", "/etc/aegir/aegir.hcl")
	var srvOut bytes.Buffer
	srv.Stdout, srv.Stderr = &srvOut, &srvOut
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		_ = srv.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- srv.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = srv.Process.Kill()
			<-done
			t.Errorf("aegir server did not stop on SIGTERM")
		}
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://127.0.0.1:8480/api/v1/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("the configured aegir did not answer:\n%s", srvOut.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out := step("check"); !strings.Contains(out, "ok") {
		t.Errorf("aegir status: %s", out)
	}
	stop()
	if _, err := os.Stat("/var/lib/aegir/aegir.db"); err != nil {
		t.Errorf("the configured bolt store: %v", err)
	}

	// The runbook's upgrade keeps the operator's config.
	if out := step("upgrade"); !strings.Contains(out, "aegir "+pkgVersion) {
		t.Errorf("upgrade: %s", out)
	}
	if b, err := os.ReadFile("/etc/aegir/aegir.hcl"); err != nil || strings.Contains(string(b), "unconfigured =") || !strings.Contains(string(b), `backend = "bolt"`) {
		t.Errorf("config after the upgrade: %v\n%s", err, b)
	}

	// The operator's data and edits survive removal.
	marker := "/var/lib/aegir/aegir.db"
	before, err := os.ReadFile(marker)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile("/etc/aegir/aegir.hcl", os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("# edited by the operator\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()

	run(t, "dpkg", "-r", "aegir")
	if _, err := os.Stat("/usr/bin/aegir"); !os.IsNotExist(err) {
		t.Errorf("/usr/bin/aegir after dpkg -r: %v", err)
	}
	if _, err := os.Stat("/lib/systemd/system/aegir.service"); !os.IsNotExist(err) {
		t.Errorf("the unit after dpkg -r: %v", err)
	}
	if b, err := os.ReadFile(marker); err != nil || !bytes.Equal(b, before) {
		t.Errorf("data after dpkg -r: %q, %v", b, err)
	}
	if b, err := os.ReadFile("/etc/aegir/aegir.hcl"); err != nil || !strings.Contains(string(b), "edited by the operator") {
		t.Errorf("config after dpkg -r: %v", err)
	}
	run(t, "getent", "passwd", "aegir")

	run(t, "dpkg", "-P", "aegir")
	for _, p := range []string{"/var/lib/aegir", "/etc/aegir"} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s after dpkg -P: %v", p, err)
		}
	}
	if exec.Command("getent", "passwd", "aegir").Run() == nil {
		t.Error("user aegir after dpkg -P")
	}
}

// localRootDropIn returns the drop-in docs/install.md gives for the local
// executor as root: the fenced block that starts with its path.
func localRootDropIn(t *testing.T) string {
	t.Helper()
	md, err := os.ReadFile("../../docs/install.md")
	if err != nil {
		t.Fatal(err)
	}
	const head = "```\n# /etc/systemd/system/aegir.service.d/local-root.conf\n"
	_, rest, ok := strings.Cut(string(md), head)
	if !ok {
		t.Fatal("docs/install.md has no local-root.conf block")
	}
	body, _, ok := strings.Cut(rest, "```")
	if !ok || !strings.Contains(body, "User=root") {
		t.Fatalf("docs/install.md's local-root.conf block: %q", body)
	}
	return body
}
