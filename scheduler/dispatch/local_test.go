package dispatch

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/logbus"
	"github.com/aegirhq/aegir/scheduler/localexec"
)

// The dispatcher's tests run the fake back end (main_test.go) through the
// real local executor; these are their helpers for it.

// fakeExecutor returns a local executor that runs the fake back end in
// mode, with dir as its AEGIR_FAKE_DIR.
func fakeExecutor(t testing.TB, bus logbus.Bus, mode, dir string) *localexec.Executor {
	t.Helper()
	e, err := localexec.New(localexec.Config{
		Binary:    os.Args[0],
		Bus:       bus,
		Env:       []string{"AEGIR_FAKE_BACKEND=" + mode, "AEGIR_FAKE_DIR=" + dir},
		KillGrace: 300 * time.Millisecond,
		Logger:    testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// localRunnerPID is the pid in a local runner handle
// ("local:<host>:<pid>:<start>").
func localRunnerPID(t testing.TB, runner string) int {
	t.Helper()
	parts := strings.Split(strings.TrimPrefix(runner, "local:"), ":")
	if !strings.HasPrefix(runner, "local:") || len(parts) != 3 {
		t.Fatalf("%q is not a local runner", runner)
	}
	pid, err := strconv.Atoi(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// procGone reports whether process pid has exited (missing, or a zombie).
func procGone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	f := bytes.Fields(b[i+1:])
	return len(f) == 0 || string(f[0]) == "Z" || string(f[0]) == "X"
}

// hostname is the host part of this machine's local runner handles.
func hostname(t testing.TB) string {
	t.Helper()
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	return h
}
