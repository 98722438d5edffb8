package provision

import (
	"context"
	"github.com/aegirhq/aegir/internal/testharness"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// TestEndUserProcesses: what a deleted site's user still runs (a pool
// worker finishing its request after a graceful reload) is ended, so
// userdel can remove the user; SIGTERM first, SIGKILL for what ignores it.
func TestEndUserProcesses(t *testing.T) {
	t.Parallel()
	testharness.RequireRoot(t, "running a process as another user")
	const uid = 64999 // no user of aegir's or the system's
	start := func(script string) *exec.Cmd {
		cmd := exec.Command("sh", "-c", script)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		go func() { _ = cmd.Wait() }()
		return cmd
	}
	start("sleep 30")
	start("trap '' TERM; sleep 30 & wait") // ignores SIGTERM: SIGKILL ends it
	deadline := time.Now().Add(5 * time.Second)
	for len(userProcesses(uid)) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(userProcesses(uid)); n < 2 {
		t.Fatalf("found %d processes of uid %d, want at least 2", n, uid)
	}
	if n := endUserProcesses(context.Background(), uid, 300*time.Millisecond); n < 2 {
		t.Errorf("signalled %d processes, want at least 2", n)
	}
	if left := userProcesses(uid); len(left) != 0 {
		t.Fatalf("processes of uid %d left: %v", uid, left)
	}
	if endUserProcesses(context.Background(), 0, time.Millisecond) != 0 {
		t.Fatal("root's processes must never be signalled")
	}
}
