//go:build !linux

package localexec

import (
	"errors"
	"os/exec"
	"syscall"
)

var errNotLinux = errors.New("the local executor runs back ends on Linux only")

func sysProcAttr() *syscall.SysProcAttr     { return &syscall.SysProcAttr{Setpgid: true} }
func startProcess(cmd *exec.Cmd) error      { return errNotLinux }
func procStartTime(pid int) (uint64, error) { return 0, errNotLinux }
func waitExited(pid int) error              { return errNotLinux }
