// Package fakebackend plays `aegir provision run` in the scheduler's
// tests: a test binary re-executed by the local executor with
// AEGIR_FAKE_BACKEND set runs Main instead of its tests. The real back end
// can't be used there (it is the binary under test's sibling, and the
// dispatcher must be proven against crashes, hangs and garbage that a
// correct back end never produces).
package fakebackend

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
)

// Main runs the fake back end and exits when the test binary was started
// as one (AEGIR_FAKE_BACKEND set), and otherwise runs the tests. Call it
// from TestMain.
func Main(m *testing.M) {
	if mode := os.Getenv("AEGIR_FAKE_BACKEND"); mode != "" {
		os.Exit(fakeBackend(mode))
	}
	os.Exit(m.Run())
}

// Fault injection modes of the fake back end (AEGIR_FAKE_BACKEND).
const (
	OK       = "ok"       // logs a few lines, succeeds with the changes its task type implies
	Gate     = "gate"     // like ok, but marks DIR/<task>.start and waits for DIR/release first
	Hang     = "hang"     // logs a line and sleeps forever (dies on SIGTERM)
	Stubborn = "stubborn" // ignores SIGTERM and sleeps forever: only SIGKILL stops it
	Spawn    = "spawn"    // starts a grandchild that sleeps, logs its pid, hangs
	Sleep    = "sleep"    // the grandchild of spawn
	Die      = "die"      // logs, then exits 3 without a result
	Garbled  = "garbled"  // prints something that is not a result
	Illegal  = "illegal"  // succeeds with a change the site's state machine refuses
	Env      = "env"      // logs the names of its environment variables
	Stamp    = "stamp"    // like ok, but first writes DIR/<task>.stamp: the time it started, in ns
)

func fakeLog(level, msg string) {
	b, _ := json.Marshal(map[string]string{"time": time.Now().UTC().Format(time.RFC3339Nano), "level": level, "msg": msg})
	os.Stderr.Write(append(b, '\n'))
}

func fakeBackend(mode string) int {
	if want := []string{"provision", "run", "--context", "-"}; !slices.Equal(os.Args[1:], want) {
		fmt.Fprintf(os.Stderr, "fake back end: args %q, want %q\n", os.Args[1:], want)
		return 2
	}
	dir := os.Getenv("AEGIR_FAKE_DIR")
	switch mode {
	case Sleep:
		time.Sleep(time.Hour)
		return 0
	case Stubborn:
		signal.Ignore(syscall.SIGTERM)
		fakeLog("info", "ignoring SIGTERM")
		time.Sleep(time.Hour)
		return 0
	case Hang:
		fakeLog("info", "hanging")
		time.Sleep(time.Hour)
		return 0
	case Spawn:
		child := exec.Command(os.Args[0], os.Args[1:]...)
		child.Env = append(os.Environ(), "AEGIR_FAKE_BACKEND="+Sleep)
		if err := child.Start(); err != nil {
			fakeLog("error", err.Error())
			return 1
		}
		fakeLog("info", fmt.Sprintf("child pid %d", child.Process.Pid))
		time.Sleep(time.Hour)
		return 0
	case Die:
		fakeLog("info", "step one")
		fakeLog("error", "disk on fire")
		return 3
	case Garbled:
		fmt.Println("this is not a result")
		return 0
	case Env:
		for _, kv := range os.Environ() {
			name, _, _ := strings.Cut(kv, "=")
			fakeLog("info", "env "+name)
		}
	}
	pc, err := provision.DecodeContext(os.Stdin)
	if err != nil {
		fakeLog("error", err.Error())
		return 1
	}
	if mode == Stamp {
		_ = os.WriteFile(filepath.Join(dir, pc.Task.ID+".stamp"), []byte(strconv.FormatInt(time.Now().UnixNano(), 10)), 0o600)
	}
	res := provision.Result{Version: 1, TaskID: pc.Task.ID, Status: domain.TaskSucceeded, Summary: "fake " + string(pc.Task.Type)}
	fakeLog("info", "start "+string(pc.Task.Type))
	os.Stderr.WriteString("a raw line that is not JSON\n")
	if mode == Gate {
		target := pc.Task.ID
		if pc.Site != nil {
			target = pc.Site.Domain
		}
		_ = os.WriteFile(filepath.Join(dir, pc.Task.ID+".start"), []byte(target), 0o600)
		fakeLog("info", "waiting for release")
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if _, err := os.Stat(filepath.Join(dir, "release")); err == nil {
				break
			}
		}
		_ = os.WriteFile(filepath.Join(dir, pc.Task.ID+".end"), []byte(target), 0o600)
	}
	switch pc.Task.Type {
	case domain.TaskInstall, domain.TaskEnable:
		res.Changes.SiteStatus = domain.SiteEnabled
	case domain.TaskDisable:
		res.Changes.SiteStatus = domain.SiteDisabled
	case domain.TaskDelete:
		res.Changes.SiteStatus = domain.SiteDeleted
	case domain.TaskBackup:
		res.Changes.Backups = []provision.NewBackup{{Path: "/backups/x.tar.zst", Size: 10, SHA256: "abc", ServerID: pc.DBServer.ID, Reason: "manual"}}
	case domain.TaskVerifyServer:
		res.Changes.ServerStatus = domain.ServerReady
	case domain.TaskVerifyPlatform:
		res.Changes.PlatformStatus = domain.PlatformReady
	}
	if mode == Illegal {
		res.Changes.SiteStatus = domain.SiteDisabled // pending → disabled is refused
	}
	fakeLog("info", "done")
	b, _ := json.Marshal(res)
	os.Stdout.Write(b)
	return 0
}
