package localexec

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/logbus"
	"github.com/aegirhq/aegir/scheduler/internal/fakebackend"
)

// fakeExecutor returns a LocalExecutor that runs the FakeBackend in mode,
// with dir as its AEGIR_FAKE_DIR.
func fakeExecutor(t testing.TB, bus logbus.Bus, mode, dir string) *Executor {
	t.Helper()
	e, err := New(Config{
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

func allLines(t *testing.T, bus logbus.Bus, taskID string) []logbus.Line {
	t.Helper()
	lines, _, err := bus.Read(context.Background(), taskID, "", 100000, 0)
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

func TestLocalResultAndLog(t *testing.T) {
	t.Parallel()
	bus := logbus.NewMemory(nil)
	e := fakeExecutor(t, bus, fakeOK, t.TempDir())
	task, pctx := fakebackend.TaskContext(t)
	run, err := e.Start(context.Background(), task, pctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(run.Runner(), "local:"+e.host+":") {
		t.Errorf("runner handle %q", run.Runner())
	}
	res, err := run.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != domain.TaskSucceeded || res.TaskID != task.ID || res.Summary != "fake verify" {
		t.Errorf("result = %+v", res)
	}
	var got []string
	for _, l := range allLines(t, bus, task.ID) {
		got = append(got, l.Level+" "+l.Msg)
	}
	want := []string{"info start verify", "info a raw line that is not JSON", "info done"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("log =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if alive, err := e.Alive(context.Background(), run.Runner()); alive || err != nil {
		t.Errorf("Alive after exit = %v, %v", alive, err)
	}
	// A second Wait returns the same.
	if res2, _ := run.Wait(); res2 != res {
		t.Error("second Wait returned another result")
	}
	run.Cancel() // after the end: harmless
}

func TestLocalAlive(t *testing.T) {
	t.Parallel()
	bus := logbus.NewMemory(nil)
	dir := t.TempDir()
	e := fakeExecutor(t, bus, fakeGate, dir)
	task, pctx := fakebackend.TaskContext(t)
	run, err := e.Start(context.Background(), task, pctx)
	if err != nil {
		t.Fatal(err)
	}
	fakebackend.WaitForLine(t, bus, task.ID, "waiting for release")
	ctx := context.Background()
	if alive, err := e.Alive(ctx, run.Runner()); !alive || err != nil {
		t.Fatalf("Alive while running = %v, %v", alive, err)
	}
	host, pid, start, err := parseLocalRunner(run.Runner())
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{
		fmt.Sprintf("local:%s:%d:%d", host, pid, start+1), // same pid, another process (reused pid)
		fmt.Sprintf("local:other-host:%d:%d", pid, start),
		"", "nomad:abc", "local:x:y:z",
	} {
		if alive, err := e.Alive(ctx, h); alive || err != nil {
			t.Errorf("Alive(%q) = %v, %v; want false", h, alive, err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "release"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := run.Wait(); err != nil {
		t.Fatal(err)
	}
	if alive, _ := e.Alive(ctx, run.Runner()); alive {
		t.Error("alive after exit")
	}
}

func TestLocalNoResult(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		mode string
		want []string
	}{
		{fakeDie, []string{"the back end exited with status 3 without a result", "last log lines: step one | disk on fire"}},
		{fakeGarbled, []string{"exited with status 0 and printed no valid result (not JSON", "it logged nothing"}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			bus := logbus.NewMemory(nil)
			e := fakeExecutor(t, bus, tc.mode, t.TempDir())
			task, pctx := fakebackend.TaskContext(t)
			run, err := e.Start(context.Background(), task, pctx)
			if err != nil {
				t.Fatal(err)
			}
			res, err := run.Wait()
			var nr *NoResultError
			if res != nil || !errors.As(err, &nr) {
				t.Fatalf("Wait = %v, %v; want a NoResultError", res, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// procGone reports whether pid no longer runs (missing or a zombie).
func procGone(pid int) bool {
	_, err := procStartTime(pid)
	return err != nil
}

func TestLocalCancelKillsProcessGroup(t *testing.T) {
	t.Parallel()
	bus := logbus.NewMemory(nil)
	e := fakeExecutor(t, bus, fakeSpawn, t.TempDir())
	task, pctx := fakebackend.TaskContext(t)
	run, err := e.Start(context.Background(), task, pctx)
	if err != nil {
		t.Fatal(err)
	}
	l := fakebackend.WaitForLine(t, bus, task.ID, "child pid ")
	var child int
	if _, err := fmt.Sscanf(l.Msg, "child pid %d", &child); err != nil {
		t.Fatal(err)
	}
	if procGone(child) {
		t.Fatal("grandchild not running before cancel")
	}
	run.Cancel()
	_, err = run.Wait()
	var nr *NoResultError
	if !errors.As(err, &nr) || nr.Exit != "signal terminated" {
		t.Fatalf("Wait after cancel = %v", err)
	}
	// The grandchild got the group's SIGTERM too; it is reparented, so
	// allow its new parent a moment to reap it.
	deadline := time.Now().Add(10 * time.Second)
	for !procGone(child) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(child, syscall.SIGKILL)
			t.Fatal("grandchild survived the cancel")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLocalCancelEscalatesToSIGKILL(t *testing.T) {
	t.Parallel()
	bus := logbus.NewMemory(nil)
	e := fakeExecutor(t, bus, fakeStubborn, t.TempDir())
	task, pctx := fakebackend.TaskContext(t)
	run, err := e.Start(context.Background(), task, pctx)
	if err != nil {
		t.Fatal(err)
	}
	fakebackend.WaitForLine(t, bus, task.ID, "ignoring SIGTERM")
	run.Cancel()
	run.Cancel()
	_, err = run.Wait()
	var nr *NoResultError
	if !errors.As(err, &nr) || nr.Exit != "signal killed" {
		t.Fatalf("Wait after cancel of a stubborn back end = %v", err)
	}
	if !strings.Contains(err.Error(), "killed by signal killed") {
		t.Errorf("explanation %q", err)
	}
}

func TestLocalEnvironmentIsFiltered(t *testing.T) {
	t.Setenv("AEGIR_TEST_PASSED", "1")
	t.Setenv("SOME_SECRET_TOKEN", "hunter2")
	bus := logbus.NewMemory(nil)
	e := fakeExecutor(t, bus, fakeEnv, t.TempDir())
	task, pctx := fakebackend.TaskContext(t)
	run, err := e.Start(context.Background(), task, pctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run.Wait(); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, l := range allLines(t, bus, task.ID) {
		if n, ok := strings.CutPrefix(l.Msg, "env "); ok {
			names[n] = true
		}
	}
	for _, n := range []string{"AEGIR_TEST_PASSED", "AEGIR_FAKE_BACKEND", "PATH"} {
		if !names[n] {
			t.Errorf("%s not passed to the back end", n)
		}
	}
	if names["SOME_SECRET_TOKEN"] {
		t.Error("an unlisted variable leaked into the back end's environment")
	}
}

func TestParseLogLine(t *testing.T) {
	t.Parallel()
	ts := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		raw, level, msg string
		time            time.Time
	}{
		{`{"time":"2025-01-02T03:04:05Z","level":"error","msg":"boom"}`, "error", "boom", ts},
		{`{"level":"WARNING","msg":"careful"}`, "warn", "careful", time.Time{}},
		{`{"level":"fatal","msg":"odd level"}`, "info", "odd level", time.Time{}},
		{`{"msg":""}`, "info", `{"msg":""}`, time.Time{}},
		{"plain text\r\n", "info", "plain text", time.Time{}},
		{"bad \xff utf8", "info", "bad � utf8", time.Time{}},
	} {
		l := parseLogLine([]byte(tc.raw))
		if l.Level != tc.level || l.Msg != tc.msg || (!tc.time.IsZero() && !l.Time.Equal(tc.time)) || l.Time.IsZero() {
			t.Errorf("parseLogLine(%q) = %+v", tc.raw, l)
		}
	}
}

func TestReadLinesCutsLongLines(t *testing.T) {
	t.Parallel()
	in := "short\n" + strings.Repeat("x", 10000) + "\nlast-without-newline"
	var got []string
	readLines(strings.NewReader(in), 100, func(b []byte) { got = append(got, strings.TrimRight(string(b), "\n")) })
	if len(got) != 3 || got[0] != "short" || got[1] != strings.Repeat("x", 100)+"…[truncated]" || got[2] != "last-without-newline" {
		t.Fatalf("lines = %q", got)
	}
}
