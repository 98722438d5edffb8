package app_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/testharness"
)

// TestNewerLeaderStepsDown builds the previous version of aegir from git
// history and the current tree, and runs a server of the current one
// alone, leading, with a slow install under way; then a server of the
// previous one starts on the same Consul and Redis (a downgrade, or an
// old server brought back). The newer leader steps down: the install it
// ran is stopped and recorded as on a stop of aegir, saying why, the
// process runs on and answers the API, its /status names the older
// server it leaves the lead to, the older one leads and runs the tasks
// queued through the newer one; once the older one stops, the newer one
// leads again within the lease.
func TestNewerLeaderStepsDown(t *testing.T) {
	t.Parallel()
	oldBin, commit := buildPrevious(t, "1.0.0")
	newBin := buildCurrent(t, "1.1.0")
	t.Logf("the older server is %s", commit[:12])
	consul := testharness.Consul(t)
	redis := testharness.Redis(t)
	prefix := testharness.UniquePrefix(t)
	root := t.TempDir()
	const ttl = 2 * time.Second
	opts := func(bin, name string) serverOptions {
		return serverOptions{
			bin:     bin,
			args:    []string{"-store", "consul", "-consul-addr", consul.Addr, "-redis-addr", redis.Addr},
			env:     []string{"AEGIR_CONSUL_PREFIX=" + prefix, "AEGIR_LEADER_TTL=" + ttl.String()},
			dataDir: filepath.Join(root, name),
		}
	}
	leads := func(s systemStatus) bool { return s.Leader }

	newer := startConfiguredServer(t, opts(newBin, "newer"))
	newer.waitStatus("the newer server leads alone", 30*time.Second, leads)
	var srv struct {
		Server struct{ ID string } `json:"server"`
		Task   task                `json:"task"`
	}
	if code := newer.call("POST", "/servers", map[string]any{"name": "local", "address": "127.0.0.1",
		"services": []map[string]any{{"kind": "builtin", "port": newer.sitesPort()}, {"kind": "sqlite"}}}, &srv); code != 201 {
		t.Fatalf("create server: %d", code)
	}
	newer.waitTask(srv.Task.ID)
	if code := newer.call("POST", "/clients", map[string]any{"name": "acme"}, nil); code != 201 {
		t.Fatalf("create client: %d", code)
	}
	// A platform whose install hook sleeps: an install still running on
	// the newer leader when the older server starts.
	slow := slowPlatform(t, t.TempDir(), 60)
	var plat struct {
		Task task `json:"task"`
	}
	if code := newer.call("POST", "/platforms", map[string]any{"name": "slow", "path": slow, "web_server": "local", "type": "php"}, &plat); code != 201 {
		t.Fatalf("create platform: %d", code)
	}
	newer.waitTask(plat.Task.ID)
	var site struct {
		Task task `json:"task"`
	}
	if code := newer.call("POST", "/sites", map[string]any{"domain": "slow.example.test", "platform": "slow", "db_server": "local", "client": "acme"}, &site); code != 201 {
		t.Fatalf("create site: %d", code)
	}
	for deadline := time.Now().Add(30 * time.Second); newer.taskState(site.Task.ID).Status != "running"; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the slow install never started")
		}
	}

	// The older server joins with the admin's token, and takes the lead.
	if err := os.MkdirAll(filepath.Join(root, "older"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "older", "admin-token"), []byte(newer.token), 0o600); err != nil {
		t.Fatal(err)
	}
	older := startConfiguredServer(t, opts(oldBin, "older"))
	st := newer.waitStatus("the newer server stands by", 30*time.Second, func(s systemStatus) bool {
		state, msg := s.of("dispatcher")
		return !s.Leader && state == "degraded" && strings.HasPrefix(msg, "standby, will not lead during the rolling upgrade: ")
	})
	_, dispatcher := st.of("dispatcher")
	if !strings.Contains(dispatcher, "(release 1.0.0, schema 1) is live and older than this one (release 1.1.0") {
		t.Errorf("the newer server's status does not name the older release: %s", dispatcher)
	}
	older.waitStatus("the older server leads", 30*time.Second, leads)
	st = newer.waitStatus("the newer server lists the older one leading", 30*time.Second, func(s systemStatus) bool {
		_, msg := s.of("servers")
		return strings.Contains(msg, "2 aegir servers live") && strings.Contains(msg, "(release 1.0.0, schema 1, leading)")
	})
	_, servers := st.of("servers")
	if id := announcedID(servers, "(release 1.0.0, schema 1, leading)"); id == "" || !strings.Contains(dispatcher, "aegir server "+id+" (release 1.0.0") {
		t.Errorf("the newer server's dispatcher status does not name the older server %q: %s (servers: %s)", id, dispatcher, servers)
	}
	if out, err := os.ReadFile(newer.logsPath); err != nil || !strings.Contains(string(out), "stepping down from the lead, handing over to the others") {
		t.Errorf("the newer server did not log its step-down (%v)", err)
	}
	select {
	case <-newer.exited:
		t.Fatal("the newer server exited when it stepped down")
	default:
	}

	// The install it ran was stopped as on a stop of aegir, and recorded
	// by the newer server, once: the older one did not run it again.
	got := newer.waitDone(site.Task.ID)
	if got.Status != "failed" || got.ErrorCode != "aegir_stopped" || !strings.Contains(got.Explanation, "stepped down from the dispatcher's lead") {
		t.Errorf("the install the newer leader ran: %s %s: %s", got.Status, got.ErrorCode, got.Explanation)
	}
	var log struct {
		Lines []struct{ Msg string } `json:"lines"`
	}
	newer.call("GET", "/tasks/"+site.Task.ID+"/log", nil, &log)
	runs := 0
	for _, l := range log.Lines {
		if strings.HasPrefix(l.Msg, "aegir: running") {
			runs++
		}
	}
	if runs != 1 {
		t.Errorf("the install started %d times", runs)
	}

	// A task queued through the newer server runs under the older one.
	verify := func(through *serverProcess) runnerTask {
		t.Helper()
		var tk task
		if code := through.call("POST", "/servers/"+srv.Server.ID+"/tasks", map[string]any{"type": "verify-server"}, &tk); code != 202 {
			t.Fatalf("queue verify-server through %s: %d", through.api, code)
		}
		return through.waitDone(tk.ID)
	}
	if tk := verify(newer); tk.Status != "succeeded" {
		t.Errorf("a task queued through the newer server under the older leader: %s %s: %s", tk.Status, tk.ErrorCode, tk.Explanation)
	}
	if newer.status(nil).Leader || !older.status(nil).Leader {
		t.Error("the lead moved back while the older server is live")
	}

	// The older server stops: the newer one leads again within the lease.
	stopServer(t, older)
	stopped := time.Now()
	newer.waitStatus("the newer server leads again", ttl+15*time.Second, func(s systemStatus) bool {
		state, msg := s.of("dispatcher")
		return s.Leader && state == "ok" && strings.HasPrefix(msg, "leading: ")
	})
	t.Logf("the newer server led again %s after the older one stopped (lease %s)", time.Since(stopped).Round(time.Millisecond), ttl)
	if tk := verify(newer); tk.Status != "succeeded" {
		t.Errorf("a task after the newer server leads again: %s %s: %s", tk.Status, tk.ErrorCode, tk.Explanation)
	}
}

// announcedID is the id of the server the `servers` status message lists
// with suffix after it ("id (release 1.0.0, schema 1, leading)"), or "".
func announcedID(msg, suffix string) string {
	i := strings.Index(msg, " "+suffix)
	if i < 0 {
		return ""
	}
	before := msg[:i]
	return before[max(strings.LastIndex(before, ": "), strings.LastIndex(before, ", "))+2:]
}
