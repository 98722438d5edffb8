package app_test

import (
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// backEnds returns the pids of the `aegir provision run` children of the
// process pid.
func backEnds(pid int) []int {
	var out []int
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		child, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", p.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		rest := string(stat)
		if i := strings.LastIndexByte(rest, ')'); i >= 0 {
			rest = rest[i+1:]
		}
		f := strings.Fields(rest)
		if len(f) < 2 || f[1] != strconv.Itoa(pid) {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
		if strings.Contains(string(cmdline), "provision\x00run") {
			out = append(out, child)
		}
	}
	return out
}

// TestLeftoversOfAKilledRestore: on the built `aegir dev`, a restore's back
// end killed with SIGKILL while it unpacks leaves its staging directory
// (named after its task) beside the sites; the site still serves; the
// next task's back end on that server removes it (once it is older than
// the dispatcher's list of live tasks by the clock allowance: its times
// are set back here rather than waiting), says so in its log, and `aegir
// status` counts it under janitor.
func TestLeftoversOfAKilledRestore(t *testing.T) {
	t.Parallel()
	d := startDev(t)
	d.waitPlatformsReady()
	d.mustCLI(0, "site", "create", "big.example.test", "-platform", "example", "-db-server", "local", "-client", "default", "-wait")
	sitesDir := filepath.Join(d.dataDir, "platforms", "example", "sites")
	f, err := os.Create(filepath.Join(sitesDir, "big.example.test", "public", "blob.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(f, rand.Reader, 160<<20); err != nil { // incompressible: unpacking takes a while
		t.Fatal(err)
	}
	f.Close()
	d.mustCLI(0, "site", "backup", "big.example.test", "-wait")
	var backup backupRecord
	for _, b := range d.backups() {
		if b.Domain == "big.example.test" {
			backup = b
		}
	}

	d.mustCLI(0, "site", "restore", "big.example.test", "-backup", backup.ID, "-yes")
	var staging string
	for deadline := time.Now().Add(60 * time.Second); staging == ""; time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the restore made no staging directory")
		}
		if m, _ := filepath.Glob(filepath.Join(sitesDir, ".aegir-staging-*")); len(m) > 0 {
			staging = m[0]
		}
	}
	killed := 0
	for _, pid := range backEnds(d.pid) {
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			killed++
		}
	}
	if killed == 0 {
		t.Fatal("no back end to kill")
	}
	waitUntil(t, 60*time.Second, "the killed restore to end", func() bool {
		var l struct {
			Items []task `json:"items"`
		}
		d.call("GET", "/tasks?type=restore", nil, &l)
		for _, tk := range l.Items {
			if tk.Type == "restore" && (tk.Status == "failed" || tk.Status == "cancelled") {
				return true
			}
		}
		return false
	})
	if _, err := os.Stat(staging); err != nil {
		t.Fatalf("the killed restore left no staging directory: %v", err)
	}
	if code, body := d.get("big.example.test", "/"); code != 200 || !strings.Contains(body, "It works") {
		t.Errorf("the site after the killed restore: %d %q", code, body)
	}

	// Its times set back past the clock allowance, as minutes later.
	old := time.Now().Add(-10 * time.Minute)
	_ = filepath.Walk(staging, func(p string, _ os.FileInfo, _ error) error { _ = os.Chtimes(p, old, old); return nil })

	var verify task
	var site struct{ ID string }
	d.call("GET", "/sites/big.example.test", nil, &site)
	verify = d.siteTask(site.ID, "verify", nil)
	if _, err := os.Stat(staging); !os.IsNotExist(err) {
		t.Errorf("the staging directory of the killed restore is still there after the next task: %v", err)
	}
	logOut, _ := d.mustCLI(0, "task", "logs", verify.ID)
	if !strings.Contains(logOut, "janitor") || !strings.Contains(logOut, filepath.Base(staging)) {
		t.Errorf("the next task's log does not name the removal:\n%s", logOut)
	}
	status, _ := d.mustCLI(0, "status")
	if !strings.Contains(status, "1 leftovers of dead tasks removed") {
		t.Errorf("aegir status does not count the removal:\n%s", status)
	}
}
