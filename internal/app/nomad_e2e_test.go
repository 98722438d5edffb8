package app_test

import (
	"cmp"
	"context"
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

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/aegirhq/aegir/internal/testharness"
)

// serverOptions configures startConfiguredServer.
type serverOptions struct {
	// config is HCL appended to the config file after data_dir.
	config string
	// args are extra command-line arguments after the addresses and -config.
	args []string
	// env is added to a process environment cleared of AEGIR_*, CONSUL_*,
	// NOMAD_* and VAULT_* variables, so the caller's shell cannot leak in.
	env []string
	// dataDir is the data directory; default: a new one. A server started
	// again on the same one is the same server restarted.
	dataDir string
	// bin is the aegir binary to run; default: the one TestMain built.
	bin string
}

// startConfiguredServer runs `aegir server -config <file>` with data_dir in
// the file, the API and builtin web server on free ports, and waits until
// the API answers. It returns with the admin token of the data dir.
func startConfiguredServer(t *testing.T, o serverOptions) *serverProcess {
	t.Helper()
	root := t.TempDir()
	d := &devProcess{t: t, dataDir: cmp.Or(o.dataDir, filepath.Join(root, "data")), http: &http.Client{Timeout: 30 * time.Second}}
	d.api = fmt.Sprintf("127.0.0.1:%d", testharness.FreePort(t))
	d.sites = fmt.Sprintf("127.0.0.1:%d", testharness.FreePort(t))
	d.logsPath = filepath.Join(root, "server.log")
	cfgPath := filepath.Join(root, "aegir.hcl")
	cfg := "data_dir = " + strconv.Quote(d.dataDir) + "\n" + o.config
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(d.logsPath)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"server", "-config", cfgPath, "-http-addr", d.api, "-sites-addr", d.sites}, o.args...)
	cmd := exec.Command(cmp.Or(o.bin, aegirBin), args...)
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "AEGIR_"), strings.HasPrefix(name, "CONSUL_"),
			strings.HasPrefix(name, "NOMAD_"), strings.HasPrefix(name, "VAULT_"):
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	cmd.Env = append(cmd.Env, o.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(d.logsPath)
			t.Logf("aegir server %s output:\n%s", d.api, tail(string(b), 80))
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
		select {
		case <-exited:
			b, _ := os.ReadFile(d.logsPath)
			t.Fatalf("aegir server exited:\n%s", tail(string(b), 40))
		default:
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(d.logsPath)
			t.Fatalf("aegir server did not answer on %s:\n%s", d.api, tail(string(b), 40))
		}
		time.Sleep(100 * time.Millisecond)
	}
	tok, err := os.ReadFile(filepath.Join(d.dataDir, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	d.token = strings.TrimSpace(string(tok))
	return &serverProcess{devProcess: d, cmd: cmd, exited: exited}
}

// sitesPort is the port of the process's builtin web server.
func (d *devProcess) sitesPort() int {
	_, p, _ := strings.Cut(d.sites, ":")
	n, _ := strconv.Atoi(p)
	return n
}

// queueSiteTask queues a site task and waits for it to succeed, returning
// it with its runner.
func (d *devProcess) queueSiteTask(siteID, typ string, args map[string]string) runnerTask {
	d.t.Helper()
	var tk task
	if code := d.call("POST", "/sites/"+siteID+"/tasks", map[string]any{"type": typ, "args": args}, &tk); code != 202 {
		d.t.Fatalf("queue %s: %d %+v", typ, code, tk)
	}
	d.waitTask(tk.ID)
	return d.taskState(tk.ID)
}

// staticPlatform writes a static platform whose index says body.
func staticPlatform(t *testing.T, body string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "static")
	if err := os.MkdirAll(filepath.Join(dir, "public"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "public", "index.html"), []byte(body+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// eventually GETs / of host until it answers want, for at most 10s.
func (d *devProcess) eventually(host string, want int) (int, string) {
	d.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := d.get(host, "/")
		if code == want || time.Now().After(deadline) {
			return code, body
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestServerOnNomad runs `aegir server` with the Nomad executor on a
// two-client Nomad cluster, the Consul store and Redis: a site on the
// server pinned to node aegir-b is installed, backed up and deleted
// through the API, every task runs as a job dispatched to aegir-b, the site
// is served by the aegir process's builtin web server from the routes the
// back end on the node wrote, and the periodic queue jobs are registered.
func TestServerOnNomad(t *testing.T) {
	t.Parallel()
	cluster := testharness.Nomad(t, testharness.NomadOptions{})
	consul := testharness.SharedConsul(t)
	redis := testharness.Redis(t)
	prefix := testharness.UniquePrefix(t)

	s := startConfiguredServer(t, serverOptions{
		config: "nomad {\n  binary = " + strconv.Quote(aegirBin) + "\n}\n",
		args:   []string{"-store", "consul", "-consul-addr", consul.Addr, "-redis-addr", redis.Addr, "-executor", "nomad"},
		env:    []string{"NOMAD_ADDR=" + cluster.HTTPAddr, "AEGIR_CONSUL_PREFIX=" + prefix},
	})
	ac := nomadapi.DefaultConfig()
	ac.Address = cluster.HTTPAddr
	nomad, err := nomadapi.NewClient(ac)
	if err != nil {
		t.Fatal(err)
	}
	// onNode fails the test unless the task ran as a dispatched job whose
	// one allocation was placed on node.
	onNode := func(tk runnerTask, node string) {
		t.Helper()
		jobID, ok := strings.CutPrefix(tk.Runner, "nomad:")
		if !ok || jobID == "" {
			t.Fatalf("task %s (%s) runner %q, want nomad:<job id>", tk.ID, tk.Type, tk.Runner)
		}
		allocs, _, err := nomad.Jobs().Allocations(jobID, true, nil)
		if err != nil {
			t.Fatalf("allocations of %s: %v", jobID, err)
		}
		if len(allocs) != 1 {
			t.Fatalf("task %s (%s): job %s has %d allocations, want 1", tk.ID, tk.Type, jobID, len(allocs))
		}
		if a := allocs[0]; a.NodeName != node || a.ClientStatus != "complete" {
			t.Errorf("task %s (%s) ran on node %q (%s), want %s (complete)", tk.ID, tk.Type, a.NodeName, a.ClientStatus, node)
		}
	}

	var srv struct {
		Server struct{ ID string } `json:"server"`
		Task   task                `json:"task"`
	}
	if code := s.call("POST", "/servers", map[string]any{"name": "web-b", "address": "127.0.0.1", "nomad_node": "aegir-b",
		"services": []map[string]any{{"kind": "builtin", "port": s.sitesPort()}, {"kind": "sqlite"}}}, &srv); code != 201 {
		t.Fatalf("create server: %d", code)
	}
	s.waitTask(srv.Task.ID)
	onNode(s.taskState(srv.Task.ID), "aegir-b")
	if code := s.call("POST", "/clients", map[string]any{"name": "acme"}, nil); code != 201 {
		t.Fatalf("create client: %d", code)
	}
	var plat struct {
		Task task `json:"task"`
	}
	if code := s.call("POST", "/platforms", map[string]any{"name": "static-b", "path": staticPlatform(t, "served from aegir-b"),
		"web_server": "web-b", "type": "static"}, &plat); code != 201 {
		t.Fatalf("create platform: %d", code)
	}
	s.waitTask(plat.Task.ID)

	const domain = "nomad.example.test"
	var site struct {
		Site struct{ ID string } `json:"site"`
		Task task                `json:"task"`
	}
	if code := s.call("POST", "/sites", map[string]any{"domain": domain, "platform": "static-b", "db_server": "web-b", "client": "acme"}, &site); code != 201 {
		t.Fatalf("create site: %d", code)
	}
	s.waitTask(site.Task.ID)
	install := s.taskState(site.Task.ID)
	onNode(install, "aegir-b")
	if code, body := s.eventually(domain, 200); code != 200 || !strings.Contains(body, "served from aegir-b") {
		t.Fatalf("%s answers %d %q", domain, code, body)
	}

	backup := s.queueSiteTask(site.Site.ID, "backup", nil)
	onNode(backup, "aegir-b")
	var backups struct {
		Items []struct{ ID string } `json:"items"`
	}
	s.call("GET", "/sites/"+site.Site.ID+"/backups", nil, &backups)
	if len(backups.Items) != 1 {
		t.Fatalf("backups = %+v", backups)
	}

	del := s.queueSiteTask(site.Site.ID, "delete", nil)
	onNode(del, "aegir-b")
	if code, _ := s.eventually(domain, 404); code != 404 {
		t.Errorf("deleted %s answers %d", domain, code)
	}

	// The leader registers the periodic queue jobs in Nomad.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, q := range []string{"cron", "backup", "stats"} {
		id := "aegir-queue-" + q
		for {
			job, _, err := nomad.Jobs().Info(id, (&nomadapi.QueryOptions{}).WithContext(ctx))
			if err == nil {
				if job.Periodic == nil || job.Periodic.Enabled == nil || !*job.Periodic.Enabled {
					t.Errorf("job %s is not an enabled periodic job", id)
				}
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("queue job %s not registered in Nomad: %v", id, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	// Their API token, in the jobs' Nomad Variable, is a queue user's: it
	// starts and follows a pass, and nothing else.
	v, _, err := nomad.Variables().Read("nomad/jobs/aegir-queue-cron", nil)
	if err != nil {
		t.Fatal(err)
	}
	q := *s.devProcess
	q.token = v.Items["aegir_token"]
	var who map[string]any
	if code := q.call("GET", "/whoami", nil, &who); code != 403 {
		t.Errorf("the queue jobs' token on /whoami: %d %v", code, who)
	}
	var pass struct{ ID, State string }
	if code := q.call("POST", "/queues/stats/run", nil, &pass); code != 202 || pass.ID == "" {
		t.Fatalf("the queue jobs' token starting a pass: %d %+v", code, pass)
	}
	for pass.State == "running" && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
		q.call("GET", "/queues/stats/passes/"+pass.ID, nil, &pass)
	}
	if pass.State != "done" {
		t.Errorf("stats pass with the queue jobs' token: %+v", pass)
	}
}

// staticSiteOnNodeB makes a site of its own on Nomad node aegir-b through
// s: server web-b there (the builtin web service on s's sites port and
// SQLite), client acme, a static platform static-b whose page says text,
// and site domainName on it; it waits for each task and returns the
// site's id.
func staticSiteOnNodeB(t *testing.T, s *serverProcess, domainName, text string) string {
	t.Helper()
	var srv struct {
		Task task `json:"task"`
	}
	if code := s.call("POST", "/servers", map[string]any{"name": "web-b", "address": "127.0.0.1", "nomad_node": "aegir-b",
		"services": []map[string]any{{"kind": "builtin", "port": s.sitesPort()}, {"kind": "sqlite"}}}, &srv); code != 201 {
		t.Fatalf("create server: %d", code)
	}
	s.waitTask(srv.Task.ID)
	if code := s.call("POST", "/clients", map[string]any{"name": "acme"}, nil); code != 201 {
		t.Fatalf("create client: %d", code)
	}
	var plat struct {
		Task task `json:"task"`
	}
	if code := s.call("POST", "/platforms", map[string]any{"name": "static-b", "path": staticPlatform(t, text),
		"web_server": "web-b", "type": "static"}, &plat); code != 201 {
		t.Fatalf("create platform: %d", code)
	}
	s.waitTask(plat.Task.ID)
	var site struct {
		Site struct{ ID string } `json:"site"`
		Task task                `json:"task"`
	}
	if code := s.call("POST", "/sites", map[string]any{"domain": domainName, "platform": "static-b", "db_server": "web-b", "client": "acme"}, &site); code != 201 {
		t.Fatalf("create site: %d", code)
	}
	s.waitTask(site.Task.ID)
	return site.Site.ID
}
