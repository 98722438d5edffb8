package testharness

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds how long any service may take to become ready.
const startTimeout = 60 * time.Second

// stopTimeout is how long a service gets to exit after SIGTERM before its
// process group is killed.
const stopTimeout = 15 * time.Second

// errAddrInUse marks a start that failed because a chosen port was taken
// between FreePort and the service binding it; the caller retries with new
// ports.
var errAddrInUse = errors.New("address already in use")

// process is one running service binary.
type process struct {
	name    string
	argv    []string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	waitErr error         // valid after done is closed
}

// procOptions are the optional parts of a command.
type procOptions struct {
	Dir  string
	Env  []string            // appended to os.Environ()
	Cred *syscall.Credential // run as another user (postgres as root)
}

// spawnReq asks the spawner goroutine to start a command.
type spawnReq struct {
	cmd   *exec.Cmd
	reply chan error
}

var (
	spawnOnce sync.Once
	spawnCh   chan spawnReq
)

// spawn starts cmd from one goroutine locked to one OS thread for the life of
// the test binary. Pdeathsig fires when the *thread* that forked the child
// exits, not the process (golang/go#27505); the Go runtime may retire other
// threads, so forking from a thread that never exits makes Pdeathsig mean
// "the test binary died".
func spawn(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnCh = make(chan spawnReq)
		go func() {
			runtime.LockOSThread() // never unlocked: this thread lives as long as the process
			for r := range spawnCh {
				r.reply <- r.cmd.Start()
			}
		}()
	})
	reply := make(chan error, 1)
	spawnCh <- spawnReq{cmd: cmd, reply: reply}
	return <-reply
}

// startProcess runs argv with stdout and stderr appended to logPath. The
// process gets its own process group (so stop can signal everything it
// forked) and SIGKILL when the test binary dies.
func startProcess(name, logPath string, argv []string, o procOptions) (*process, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s: log file: %w", name, err)
	}
	defer logf.Close() // the child has its own copy of the descriptor
	fmt.Fprintf(logf, "=== testharness: starting %s at %s\n=== %s\n", name, time.Now().Format(time.RFC3339), strings.Join(argv, " "))

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = o.Dir
	cmd.Env = append(os.Environ(), o.Env...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:    true,
		Pdeathsig:  syscall.SIGKILL,
		Credential: o.Cred,
	}
	if err := spawn(cmd); err != nil {
		return nil, fmt.Errorf("%s: start %s: %w", name, argv[0], err)
	}
	p := &process{name: name, argv: argv, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process group, waits up to stopTimeout, then
// SIGKILLs the group. Safe to call twice.
func (p *process) stop() {
	if p == nil || p.exited() {
		return
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	// Reap anything left in the group (children that ignored SIGTERM).
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// stopAlone stops the process itself (SIGTERM, then SIGKILL), not its
// process group: what systemd's KillMode=process does to a Nomad client,
// whose task executors outlive it.
func (p *process) stopAlone() {
	if p == nil || p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// tail returns the last n lines of the process log.
func (p *process) tail(n int) string {
	return tailFile(p.logPath, n)
}

func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// waitReady polls check until it returns nil, the process exits, or the
// timeout passes. The error says which, with the last check error.
func (p *process) waitReady(timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		if p.exited() {
			err := fmt.Errorf("%s exited during startup (%v)", p.name, p.waitErr)
			if logHasAddrInUse(p.logPath) {
				return fmt.Errorf("%w: %w", err, errAddrInUse)
			}
			return err
		}
		if last = check(); last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %v", p.name, timeout, last)
		}
		select {
		case <-p.done:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func logHasAddrInUse(path string) bool {
	b, _ := os.ReadFile(path)
	s := strings.ToLower(string(b))
	return strings.Contains(s, "address already in use") || strings.Contains(s, "bind: address in use")
}

// failStart logs the tail of the process log and fails the test.
func failStart(t testing.TB, p *process, err error) {
	t.Helper()
	if p != nil {
		t.Logf("testharness: last lines of %s:\n%s", p.logPath, p.tail(60))
		p.stop()
	}
	t.Fatalf("testharness: %v", err)
}

// dumpOnFailure registers a cleanup that prints the tail of the log when the
// test failed, which is usually when the service's view matters.
func dumpOnFailure(t testing.TB, name, logPath string) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("testharness: %s log tail (%s):\n%s", name, logPath, tailFile(logPath, 40))
		}
	})
}

// retryPorts runs start up to three times while it fails with errAddrInUse
// (another process took a port between FreePort and bind).
func retryPorts(start func() error) error {
	var err error
	for range 3 {
		if err = start(); err == nil || !errors.Is(err, errAddrInUse) {
			return err
		}
	}
	return err
}

var (
	portMu    sync.Mutex
	portsUsed = map[int]bool{}
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago and
// that this test binary has not handed out before. Another process can still
// take it before the service binds it; the Start helpers retry on that.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := freePort()
	if err != nil {
		t.Fatalf("testharness: FreePort: %v", err)
	}
	return p
}

func freePort() (int, error) {
	portMu.Lock()
	defer portMu.Unlock()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !portsUsed[port] {
			portsUsed[port] = true
			return port, nil
		}
	}
	return 0, errors.New("no free port found in 50 tries")
}

// freePorts returns n distinct free ports.
func freePorts(n int) ([]int, error) {
	ps := make([]int, n)
	for i := range ps {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		ps[i] = p
	}
	return ps, nil
}

// freePortPair returns a port p such that p and p+1 are both free (Vault dev
// mode listens on its cluster port at API port + 1).
func freePortPair() (int, error) {
	for range 50 {
		p, err := freePort()
		if err != nil {
			return 0, err
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+1))
		if err != nil {
			continue
		}
		l.Close()
		portMu.Lock()
		used := portsUsed[p+1]
		portsUsed[p+1] = true
		portMu.Unlock()
		if !used {
			return p, nil
		}
	}
	return 0, errors.New("no free port pair found in 50 tries")
}

// randomHex returns n random bytes, hex encoded.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
