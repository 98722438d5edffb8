package app_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/testharness"
)

// serverProcess is a running `aegir server`.
type serverProcess struct {
	*devProcess
	cmd *exec.Cmd
	// exited is closed when the process has ended (startConfiguredServer
	// only; nil otherwise).
	exited chan struct{}
}

// startServer runs `aegir server` on the shared Consul store (under prefix)
// and Redis, with a short leadership lease.
func startServer(t *testing.T, consulAddr, redisAddr, prefix, token string, ttl time.Duration) *serverProcess {
	t.Helper()
	return startServerAt(t, filepath.Join(t.TempDir(), "data"), "", consulAddr, redisAddr, prefix, token, ttl)
}

// startServerAt is startServer on the data directory dataDir, its builtin
// web server on sitesAddr ("": a free port).
func startServerAt(t *testing.T, dataDir, sitesAddr, consulAddr, redisAddr, prefix, token string, ttl time.Duration) *serverProcess {
	t.Helper()
	d := &devProcess{t: t, dataDir: dataDir, http: &http.Client{Timeout: 30 * time.Second}}
	d.api = fmt.Sprintf("127.0.0.1:%d", testharness.FreePort(t))
	d.sites = sitesAddr
	if d.sites == "" {
		d.sites = fmt.Sprintf("127.0.0.1:%d", testharness.FreePort(t))
	}
	d.logsPath = filepath.Join(t.TempDir(), "server.log")
	logf, err := os.Create(d.logsPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(aegirBin, "server", "-data-dir", d.dataDir, "-http-addr", d.api, "-sites-addr", d.sites,
		"-store", "consul", "-consul-addr", consulAddr, "-redis-addr", redisAddr)
	cmd.Env = append(os.Environ(), "AEGIR_CONSUL_PREFIX="+prefix, "AEGIR_LEADER_TTL="+ttl.String())
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(d.logsPath)
			t.Logf("aegir server %s output:\n%s", d.api, tail(string(b), 40))
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + d.api + "/api/v1/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("aegir server did not answer on %s", d.api)
		}
		time.Sleep(100 * time.Millisecond)
	}
	d.token = token
	if token == "" {
		tok, err := os.ReadFile(filepath.Join(d.dataDir, "admin-token"))
		if err != nil {
			t.Fatal(err)
		}
		d.token = strings.TrimSpace(string(tok))
	}
	return &serverProcess{devProcess: d, cmd: cmd}
}

type runnerTask struct {
	task
	Runner string `json:"runner"`
}

func (d *devProcess) taskState(id string) runnerTask {
	var tk runnerTask
	d.call("GET", "/tasks/"+id, nil, &tk)
	return tk
}

// waitDone waits for a task to end, whatever its outcome.
func (d *devProcess) waitDone(id string) runnerTask {
	d.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		tk := d.taskState(id)
		if tk.Status == "succeeded" || tk.Status == "failed" || tk.Status == "cancelled" {
			return tk
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("task %s still %s", id, tk.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// leading reports whether the process has logged that it leads.
func (p *serverProcess) leading() bool {
	b, _ := os.ReadFile(p.logsPath)
	return strings.Contains(string(b), "leading: this process dispatches tasks")
}

// TestTwoServersOneDispatcher runs two `aegir server` processes on one
// Consul and one Redis: exactly one dispatches; when it is killed, the
// other takes over within the lease time, the task the dead leader was
// running fails with an explanation, and no task runs twice.
func TestTwoServersOneDispatcher(t *testing.T) {
	t.Parallel()
	consul := testharness.SharedConsul(t)
	redis := testharness.Redis(t)
	prefix := testharness.UniquePrefix(t)
	const ttl = 2 * time.Second

	a := startServer(t, consul.Addr, redis.Addr, prefix, "", ttl)
	b := startServer(t, consul.Addr, redis.Addr, prefix, a.token, ttl)

	// A server for quick tasks, and a php platform whose install hook
	// sleeps, for a task that is still running when its leader dies.
	var srv struct {
		Server struct{ ID string } `json:"server"`
		Task   task                `json:"task"`
	}
	sitesPort, _ := strconv.Atoi(strings.Split(a.sites, ":")[1])
	if code := a.call("POST", "/servers", map[string]any{"name": "local", "address": "127.0.0.1",
		"services": []map[string]any{{"kind": "builtin", "port": sitesPort}, {"kind": "sqlite"}}}, &srv); code != 201 {
		t.Fatalf("create server: %d", code)
	}
	a.waitTask(srv.Task.ID)
	if code := a.call("POST", "/clients", map[string]any{"name": "acme"}, nil); code != 201 {
		t.Fatalf("create client: %d", code)
	}
	slow := slowPlatform(t, t.TempDir(), 30)
	var plat struct {
		Task task `json:"task"`
	}
	if code := a.call("POST", "/platforms", map[string]any{"name": "slow", "path": slow, "web_server": "local", "type": "php"}, &plat); code != 201 {
		t.Fatalf("create platform: %d", code)
	}
	a.waitTask(plat.Task.ID)

	queueVerify := func(p *serverProcess, n int) []string {
		var ids []string
		for range n {
			var tk task
			if code := p.call("POST", "/servers/"+srv.Server.ID+"/tasks", map[string]any{"type": "verify-server"}, &tk); code != 202 {
				t.Fatalf("queue verify-server: %d", code)
			}
			ids = append(ids, tk.ID)
		}
		return ids
	}
	ids := append(queueVerify(a, 6), queueVerify(b, 4)...)
	for _, id := range ids {
		if tk := a.waitDone(id); tk.Status != "succeeded" {
			t.Fatalf("task %s: %s %s", id, tk.Status, tk.Explanation)
		}
	}
	// Exactly one of the two leads.
	var lead, follow *serverProcess
	switch {
	case a.leading() && !b.leading():
		lead, follow = a, b
	case b.leading() && !a.leading():
		lead, follow = b, a
	default:
		t.Fatalf("leaders: a=%v b=%v, want exactly one", a.leading(), b.leading())
	}

	// A long install runs on the leader; kill the leader without warning.
	var site struct {
		Task task `json:"task"`
	}
	if code := follow.call("POST", "/sites", map[string]any{"domain": "slow.example.test", "platform": "slow", "db_server": "local", "client": "acme"}, &site); code != 201 {
		t.Fatalf("create site: %d", code)
	}
	deadline := time.Now().Add(30 * time.Second)
	for follow.taskState(site.Task.ID).Status != "running" {
		if time.Now().After(deadline) {
			t.Fatal("the slow install never started")
		}
		time.Sleep(50 * time.Millisecond)
	}
	killed := time.Now()
	_ = syscall.Kill(-lead.cmd.Process.Pid, syscall.SIGKILL)

	// The follower takes over: the dead leader's task fails as gone, and a
	// task queued after the kill runs under the follower.
	if got := follow.waitDone(site.Task.ID); got.Status != "failed" || !strings.Contains(got.Explanation, "gone") {
		t.Fatalf("task of the killed leader: %s %q", got.Status, got.Explanation)
	}
	next := queueVerify(follow, 1)[0]
	tk := follow.waitDone(next)
	took := time.Since(killed)
	if tk.Status != "succeeded" || !follow.leading() {
		t.Fatalf("task after the kill: %s; follower leading: %v", tk.Status, follow.leading())
	}
	t.Logf("take-over: the follower ran a new task %s after the leader was killed (lease %s)", took.Round(time.Millisecond), ttl)
	if took > ttl+10*time.Second {
		t.Errorf("take-over took %s with a lease of %s", took, ttl)
	}

	// No task ran twice: each log has one "aegir: running" line.
	for _, id := range append(ids, next) {
		var log struct {
			Lines []struct{ Msg string } `json:"lines"`
		}
		follow.call("GET", "/tasks/"+id+"/log", nil, &log)
		n := 0
		for _, l := range log.Lines {
			if strings.HasPrefix(l.Msg, "aegir: running") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("task %s started %d times", id, n)
		}
	}
}
