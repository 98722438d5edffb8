package localexec

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

func sysProcAttr() *syscall.SysProcAttr {
	// Setpgid: the back end leads its own process group, so Cancel can
	// signal everything it started. Pdeathsig: it dies with aegir.
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// startProcess starts cmd on a locked OS thread: the parent-death signal
// fires when the thread that forked the child exits, and a Go thread exits
// only when a goroutine locked to it ends without unlocking; unlocking
// here returns the thread to the pool, where it lives as long as aegir.
func startProcess(cmd *exec.Cmd) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return cmd.Start()
}

// procStartTime returns the start time of process pid (clock ticks after
// boot, field 22 of /proc/<pid>/stat), and an error for a missing or zombie
// process.
func procStartTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 20 {
		return 0, errors.New("malformed /proc stat")
	}
	if string(f[0]) == "Z" || string(f[0]) == "X" {
		return 0, fmt.Errorf("process %d has exited", pid)
	}
	return strconv.ParseUint(string(f[19]), 10, 64)
}

// waitExited blocks until child pid exits, without reaping it: while it is
// a zombie its pid, and so its process group id, cannot be reused.
func waitExited(pid int) error {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		return err
	}
}
