package testharness

import (
	"bufio"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// RedisServer is a running redis-server on 127.0.0.1 with persistence off.
type RedisServer struct {
	// Addr is host:port, e.g. "127.0.0.1:41234".
	Addr string

	bin  string
	dir  string
	port int
	proc *process
}

// Redis starts redis-server on a free 127.0.0.1 port with no persistence
// (--save "" --appendonly no) and its working dir in a temp dir, waits until
// it answers PING, and stops it when the test ends.
//
// Skips the test when redis-server is missing, or fails it when CI=true;
// ops/install-deps.sh installs it.
func Redis(t testing.TB) *RedisServer {
	t.Helper()
	bin := requireBinary(t, "redis-server")
	r := &RedisServer{bin: bin, dir: shortTempDir(t, "redis")}
	err := retryPorts(func() error {
		r.proc.stop()
		port, err := freePort()
		if err != nil {
			return err
		}
		r.port = port
		r.Addr = "127.0.0.1:" + strconv.Itoa(port)
		return r.start()
	})
	if err != nil {
		failStart(t, r.proc, err)
	}
	t.Cleanup(func() { r.proc.stop() })
	dumpOnFailure(t, "redis", filepath.Join(r.dir, "redis.log"))
	return r
}

func (r *RedisServer) start() error {
	var err error
	r.proc, err = startProcess("redis-server", filepath.Join(r.dir, "redis.log"), []string{
		r.bin,
		"--bind", "127.0.0.1",
		"--port", strconv.Itoa(r.port),
		"--save", "",
		"--appendonly", "no",
		"--dir", r.dir,
		"--daemonize", "no",
		"--protected-mode", "no",
		"--unixsocket", "",
	}, procOptions{Dir: r.dir})
	if err != nil {
		return err
	}
	return r.proc.waitReady(startTimeout, func() error { return redisPing(r.Addr) })
}

// Stop stops the server (SIGTERM, then SIGKILL). Data is lost: there is no
// persistence.
func (r *RedisServer) Stop(t testing.TB) {
	t.Helper()
	r.proc.stop()
}

// Restart stops the server and starts it again on the same port, for tests
// of reconnects and lost state.
func (r *RedisServer) Restart(t testing.TB) {
	t.Helper()
	r.proc.stop()
	if err := r.start(); err != nil {
		failStart(t, r.proc, err)
	}
}

// redisPing sends an inline PING and expects +PONG.
func redisPing(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}
