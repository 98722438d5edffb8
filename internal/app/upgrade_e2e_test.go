package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/testharness"
)

// upgradeFromMarker finds the previous version the rolling-upgrade test
// starts from: the first commit in which servers announce their release
// (internal/app/peers.go gained serversKey), the oldest aegir whose
// refusal to lead can be checked. AEGIR_UPGRADE_FROM names another commit
// or tag (a release tag, once there are some).
const upgradeFromMarker = "const serversKey"

// buildPrevious builds the previous version of aegir from git history,
// with release number version, into a temp directory keyed by the commit,
// so later runs reuse it. It fails clearly without git or history.
func buildPrevious(t *testing.T, version string) (bin, commit string) {
	t.Helper()
	testharness.RequireProgram(t, "git")
	git := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("git", args...).Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("git %s: %v %s (the rolling-upgrade test needs the repository's git history)", strings.Join(args, " "), err, stderr)
		}
		return strings.TrimSpace(string(out))
	}
	root := git("rev-parse", "--show-toplevel")
	commit = os.Getenv("AEGIR_UPGRADE_FROM")
	if commit == "" {
		if git("-C", root, "rev-parse", "--is-shallow-repository") == "true" {
			t.Fatal("the repository is a shallow clone: the rolling-upgrade test builds an earlier commit; run git fetch --unshallow")
		}
		commits := strings.Fields(git("-C", root, "log", "--reverse", "--format=%H", "-S"+upgradeFromMarker, "--", "internal/app/peers.go"))
		if len(commits) == 0 {
			t.Fatalf("no commit in the history adds %q to internal/app/peers.go: the history is incomplete", upgradeFromMarker)
		}
		commit = commits[0]
	}
	commit = git("-C", root, "rev-parse", "--verify", commit+"^{commit}")
	cache := filepath.Join(os.TempDir(), "aegir-upgrade-from-"+commit[:12]+"-"+version)
	bin = filepath.Join(cache, "aegir")
	if _, err := os.Stat(bin); err == nil {
		return bin, commit
	}
	src, err := os.MkdirTemp("", "aegir-upgrade-src-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(src)
	archive := exec.Command("git", "-C", root, "archive", "--format=tar", commit)
	untar := exec.Command("tar", "-x", "-C", src)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	untar.Stdin = pipe
	if err := untar.Start(); err != nil {
		t.Fatal(err)
	}
	if err := archive.Run(); err != nil {
		t.Fatalf("git archive %s: %v", commit, err)
	}
	if err := untar.Wait(); err != nil {
		t.Fatalf("unpack %s: %v", commit, err)
	}
	tmp := bin + ".tmp"
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-buildvcs=false", "-ldflags=-X github.com/aegirhq/aegir/internal/app.Version="+version, "-o", tmp, ".")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build aegir at %s: %v\n%s", commit, err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		t.Fatal(err)
	}
	return bin, commit
}

// buildCurrent builds this tree with release number version.
func buildCurrent(t *testing.T, version string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "aegir")
	out, err := exec.Command("go", "build", "-ldflags=-X github.com/aegirhq/aegir/internal/app.Version="+version, "-o", bin, "github.com/aegirhq/aegir").CombinedOutput()
	if err != nil {
		t.Fatalf("build aegir %s: %v\n%s", version, err, out)
	}
	return bin
}

// stopServer stops p as an upgrade does (SIGTERM) and waits for it.
func stopServer(t *testing.T, p *serverProcess) {
	t.Helper()
	if err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("aegir server %s did not stop", p.api)
	}
}

// TestRollingUpgrade builds the previous version of aegir from git
// history and the current tree, runs two servers of the previous one on
// one Consul and one Redis, and upgrades them one at a time while tasks
// are queued through whichever server answers: the upgraded server
// refuses to lead while the older one is live and says so in /status,
// leads once the older one is gone, and no task and no record is lost
// (every task queued ends, and every client created before or during the
// upgrade is there after it).
func TestRollingUpgrade(t *testing.T) {
	t.Parallel()
	oldBin, commit := buildPrevious(t, "1.0.0")
	newBin := buildCurrent(t, "1.1.0")
	t.Logf("upgrading from %s", commit[:12])
	// A Consul of its own: the servers here make many blocking queries, which
	// would count against the shared agent's per-address connection limit.
	consul := testharness.Consul(t)
	redis := testharness.Redis(t)
	prefix := testharness.UniquePrefix(t)
	root := t.TempDir()
	opts := func(bin, name string) serverOptions {
		return serverOptions{
			bin:     bin,
			args:    []string{"-store", "consul", "-consul-addr", consul.Addr, "-redis-addr", redis.Addr},
			env:     []string{"AEGIR_CONSUL_PREFIX=" + prefix, "AEGIR_LEADER_TTL=2s"},
			dataDir: filepath.Join(root, name),
		}
	}
	a := startConfiguredServer(t, opts(oldBin, "a"))
	// b joins the cluster a bootstrapped, with its admin's token.
	if err := os.MkdirAll(filepath.Join(root, "b"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "b", "admin-token"), []byte(a.token), 0o600); err != nil {
		t.Fatal(err)
	}
	b := startConfiguredServer(t, opts(oldBin, "b"))
	a.waitStatus("a leads", 30*time.Second, func(s systemStatus) bool { return s.Leader })

	var srv struct {
		Server struct{ ID string } `json:"server"`
		Task   task                `json:"task"`
	}
	if code := a.call("POST", "/servers", map[string]any{"name": "local", "address": "127.0.0.1",
		"services": []map[string]any{{"kind": "builtin", "port": a.sitesPort()}, {"kind": "sqlite"}}}, &srv); code != 201 {
		t.Fatalf("create server: %d", code)
	}
	a.waitTask(srv.Task.ID)

	// Tasks and records keep coming through whichever server answers.
	var (
		mu      sync.Mutex
		apis    = []string{a.api, b.api}
		tasks   []string
		clients []string
		refused int
	)
	post := func(api, path string, body any, out any) int {
		bb, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", "http://"+api+"/api/v1"+path, bytes.NewReader(bb))
		req.Header.Set("Authorization", "Bearer "+a.token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		defer resp.Body.Close()
		_ = json.NewDecoder(resp.Body).Decode(out)
		return resp.StatusCode
	}
	stop := make(chan struct{})
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(300 * time.Millisecond):
			}
			mu.Lock()
			api := apis[i%len(apis)]
			mu.Unlock()
			var tk task
			// A task every 1.5 s: each verify-server changes the server's
			// record, and the leader's routing watch (store.WatchPlacement)
			// leaves two cancelled blocking queries in Consul per change,
			// each held for its wait time; faster, the test's one-address
			// Consul refuses connections (429) before the upgrade is done.
			if i%5 != 0 {
				// clients only
			} else if code := post(api, "/servers/"+srv.Server.ID+"/tasks", map[string]any{"type": "verify-server"}, &tk); code == 202 {
				mu.Lock()
				tasks = append(tasks, tk.ID)
				mu.Unlock()
			} else {
				mu.Lock()
				refused++ // a server stopping or starting: the caller tries another
				mu.Unlock()
			}
			name := fmt.Sprintf("c%03d", i)
			if code := post(api, "/clients", map[string]any{"name": name}, &struct{}{}); code == 201 {
				mu.Lock()
				clients = append(clients, name)
				mu.Unlock()
			}
		}
	}()
	setAPI := func(i int, api string) {
		mu.Lock()
		apis[i] = api
		mu.Unlock()
	}
	time.Sleep(3 * time.Second)

	// Upgrade b, the follower: stopped, then started on the new release.
	setAPI(1, a.api)
	stopServer(t, b)
	b = startConfiguredServer(t, opts(newBin, "b"))
	b.token = a.token
	setAPI(1, b.api)
	st := b.waitStatus("b refuses to lead", 30*time.Second, func(s systemStatus) bool {
		state, msg := s.of("dispatcher")
		return state == "degraded" && strings.Contains(msg, "will not lead during the rolling upgrade")
	})
	if _, msg := st.of("dispatcher"); !strings.Contains(msg, "release 1.0.0") || !strings.Contains(msg, "older than this one (release 1.1.0") {
		t.Errorf("b's status does not name the older release: %s", msg)
	}
	st = b.waitStatus("b lists both servers", 30*time.Second, func(s systemStatus) bool {
		_, msg := s.of("servers")
		return strings.Contains(msg, "2 aegir servers live")
	})
	if state, msg := st.of("servers"); state != "degraded" || !strings.Contains(msg, "mixed releases") || !strings.Contains(msg, "release 1.0.0, schema 1, leading") {
		t.Errorf("servers during the upgrade: %s %s", state, msg)
	}
	time.Sleep(3 * time.Second) // tasks through both releases
	if b.status(nil).Leader {
		t.Fatal("the upgraded server leads while the older one is live")
	}

	// Upgrade a, the leader: b takes over, a comes back as a follower.
	setAPI(0, b.api)
	stopServer(t, a)
	b.waitStatus("b leads once the older server is gone", 30*time.Second, func(s systemStatus) bool { return s.Leader })
	a = startConfiguredServer(t, opts(newBin, "a"))
	setAPI(0, a.api)
	a.waitStatus("a lists both servers on one release", 30*time.Second, func(s systemStatus) bool {
		state, msg := s.of("servers")
		return state == "ok" && strings.Contains(msg, "2 aegir servers live")
	})
	time.Sleep(3 * time.Second)
	close(stop)
	<-loopDone

	mu.Lock()
	defer mu.Unlock()
	if len(tasks) < 5 {
		t.Fatalf("only %d tasks queued during the upgrade (%d refused)", len(tasks), refused)
	}
	stopped := 0
	for _, id := range tasks {
		tk := b.waitDone(id)
		switch {
		case tk.Status == "succeeded":
		case tk.Status == "failed" && tk.ErrorCode == "aegir_stopped":
			stopped++ // its leader stopped under it: ended and rolled back, recorded
		default:
			t.Errorf("task %s %s %s: %s", id, tk.Status, tk.ErrorCode, tk.Explanation)
		}
	}
	var list struct {
		Items []struct{ Name string } `json:"items"`
	}
	if code := a.call("GET", "/clients?limit=1000", nil, &list); code != 200 {
		t.Fatalf("list clients: %d", code)
	}
	have := map[string]bool{}
	for _, c := range list.Items {
		have[c.Name] = true
	}
	for _, name := range clients {
		if !have[name] {
			t.Errorf("client %s created during the upgrade is gone", name)
		}
	}
	t.Logf("%d tasks queued (%d ended by a stopping leader, %d requests refused), %d clients created", len(tasks), stopped, refused, len(clients))
}
