package testharness

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"
)

// NomadOptions configures Nomad. The zero value is a server and two clients
// named aegir-a and aegir-b.
type NomadOptions struct {
	// NodeNames names the client agents, one client per name. Default
	// ["aegir-a", "aegir-b"] (or Clients of them, see below).
	NodeNames []string
	// Clients is the number of clients when NodeNames is empty; names are
	// then aegir-a, aegir-b, aegir-c ... Default 2.
	Clients int
	// ClientHCL is extra HCL appended inside every client's `client { }`
	// block, e.g. `meta { "aegir_role" = "web" }` or host volumes. Default
	// none.
	ClientHCL string
	// ACL turns on Nomad's ACL system on every agent, as production runs
	// it: without a token (anonymous) nothing is allowed. The harness
	// bootstraps it; NomadCluster.ManagementToken is the bootstrap token
	// and NomadCluster.ACLToken makes narrower ones. Default off.
	ACL bool
	// Vault turns on Nomad's Vault integration (tasks with a vault block
	// get a token): the servers create tokens from Vault's token role
	// Role with Token (a token of a policy allowing that, periodic and
	// orphan, as Nomad 1.4's docs describe); clients reach Vault at Addr.
	// Default off.
	Vault *NomadVault
}

// NomadVault is Nomad's side of its Vault integration.
type NomadVault struct {
	Addr, Token, Role string
}

// NomadCluster is one Nomad server and its client agents, all on 127.0.0.1,
// each with its own data dir and ports.
type NomadCluster struct {
	// Addr is host:port of the server's HTTP API.
	Addr string
	// HTTPAddr is "http://" + Addr (NOMAD_ADDR).
	HTTPAddr string
	// Nodes are the client agents, in the order of their names.
	Nodes []NomadNode
	// ManagementToken is the secret of the ACL bootstrap token, which may
	// do everything; "" unless NomadOptions.ACL.
	ManagementToken string

	dir     string
	bin     string
	server  *process
	clients map[string]*process
}

// NomadNode is one client agent.
type NomadNode struct {
	// Name is the node name (`${node.unique.name}` in constraints).
	Name string
	// ID is the node ID the server knows it by.
	ID string
	// HTTPAddr is the client agent's own HTTP API, "http://127.0.0.1:port".
	HTTPAddr string
}

// nomadTimeout bounds the cluster start: a server election plus client
// fingerprinting and registration.
const nomadTimeout = 90 * time.Second

var nomadConfig = template.Must(template.New("nomad").Parse(`
name                 = "{{.Name}}"
region               = "global"
datacenter           = "dc1"
data_dir             = "{{.DataDir}}"
bind_addr            = "127.0.0.1"
log_level            = "INFO"
disable_update_check = true
leave_on_interrupt   = false
leave_on_terminate   = false

ports {
  http = {{.HTTP}}
  rpc  = {{.RPC}}
  serf = {{.Serf}}
}
addresses {
  http = "127.0.0.1"
  rpc  = "127.0.0.1"
  serf = "127.0.0.1"
}
advertise {
  http = "127.0.0.1:{{.HTTP}}"
  rpc  = "127.0.0.1:{{.RPC}}"
  serf = "127.0.0.1:{{.Serf}}"
}

# No Consul or Vault integration: tests that need them start their own and
# talk to them directly.
consul {
  auto_advertise   = false
  server_auto_join = false
  client_auto_join = false
}
{{if .VaultAddr}}
vault {
  enabled = true
  address = "{{.VaultAddr}}"
{{- if .Server}}
  token            = "{{.VaultToken}}"
  create_from_role = "{{.VaultRole}}"
{{- end}}
}
{{else}}
vault {
  enabled = false
}
{{end}}
{{if .ACL}}
acl {
  enabled = true
}
{{end}}
{{- if .Server}}
server {
  enabled          = true
  bootstrap_expect = 1
  # Batch jobs in tests finish in seconds; let GC see them soon.
  job_gc_threshold  = "5m"
}
{{else}}
client {
  enabled           = true
  servers           = ["127.0.0.1:{{.ServerRPC}}"]
  network_interface = "lo"
  cgroup_parent     = "{{.CgroupParent}}"
  # A test machine's disk may be fuller than Nomad's default thresholds
  # (80% of blocks, 70% of inodes); a client over one collects every
  # finished allocation at once, its logs with it, so tests that read an
  # allocation's files would see them vanish.
  gc_disk_usage_threshold  = 99
  gc_inode_usage_threshold = 99
  options {
    # Only raw_exec: no docker, exec (needs cgroup isolation), java, qemu.
    "driver.allowlist" = "raw_exec"
    # No cloud metadata probes (they would reach for 169.254.169.254) and
    # no Consul/Vault probes of default ports.
    "fingerprint.denylist" = "env_aws,env_gce,env_azure,env_digitalocean,consul{{if not .VaultAddr}},vault{{end}}"
  }
{{.ClientHCL}}
}

plugin "raw_exec" {
  config {
    enabled = true
  }
}
{{end}}
`))

type nomadAgentConfig struct {
	Name, DataDir   string
	HTTP, RPC, Serf int
	Server          bool
	ServerRPC       int
	CgroupParent    string
	ClientHCL       string
	ACL             bool
	// VaultAddr, VaultToken, VaultRole: NomadOptions.Vault.
	VaultAddr, VaultToken, VaultRole string
}

// Nomad starts a Nomad server and client agents (raw_exec only) on
// 127.0.0.1 and waits until the server has a leader and every client is
// registered, ready and has a healthy raw_exec driver. Everything is stopped
// when the test ends, including task processes left by the clients.
//
// Clients run as the current user; as root (as here) raw_exec tasks run as
// root. Skips the test when the nomad binary is missing, or fails it when
// CI=true; ops/build-agents.sh builds it.
func Nomad(t testing.TB, opts NomadOptions) *NomadCluster {
	t.Helper()
	bin := requireBinary(t, "nomad")
	names := opts.NodeNames
	if len(names) == 0 {
		n := opts.Clients
		if n <= 0 {
			n = 2
		}
		for i := range n {
			names = append(names, "aegir-"+string(rune('a'+i%26))+strings.Repeat("x", i/26))
		}
	}
	c := &NomadCluster{dir: shortTempDir(t, "nomad"), bin: bin, clients: map[string]*process{}}
	// Registered before the agents' cleanups, so it runs after they have
	// stopped and before the directory is removed: kill leftover task
	// processes and unmount the tmpfs secrets dirs the clients mounted.
	t.Cleanup(func() {
		killProcsMentioning(c.dir)
		unmountUnder(c.dir)
	})

	id := randomHex(3)
	var va NomadVault
	if opts.Vault != nil {
		va = *opts.Vault
	}
	var serverRPC int
	err := retryPorts(func() error {
		c.server.stop()
		ports, err := freePorts(3)
		if err != nil {
			return err
		}
		serverRPC = ports[1]
		c.Addr = "127.0.0.1:" + strconv.Itoa(ports[0])
		c.HTTPAddr = "http://" + c.Addr
		c.server, err = startNomadAgent(bin, c.dir, nomadAgentConfig{
			Name: "aegir-server-" + id, HTTP: ports[0], RPC: ports[1], Serf: ports[2], Server: true, ACL: opts.ACL,
			VaultAddr: va.Addr, VaultToken: va.Token, VaultRole: va.Role,
		})
		if err != nil {
			return err
		}
		return c.server.waitReady(nomadTimeout, c.leader)
	})
	if err != nil {
		failStart(t, c.server, err)
	}
	t.Cleanup(c.server.stop)
	dumpOnFailure(t, "nomad server", c.server.logPath)
	if opts.ACL {
		// Before the clients: their readiness checks need the token.
		if err := c.server.waitReady(nomadTimeout, c.bootstrapACL); err != nil {
			failStart(t, c.server, err)
		}
	}

	// Clients start in parallel: each takes a second or two to fingerprint.
	type started struct {
		p        *process
		httpAddr string
		err      error
	}
	results := make([]started, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			r := &results[i]
			r.err = retryPorts(func() error {
				r.p.stop()
				ports, err := freePorts(3)
				if err != nil {
					return err
				}
				r.httpAddr = "http://127.0.0.1:" + strconv.Itoa(ports[0])
				r.p, err = startNomadAgent(bin, c.dir, nomadAgentConfig{
					Name: name, HTTP: ports[0], RPC: ports[1], Serf: ports[2], ServerRPC: serverRPC,
					CgroupParent: "/aegir-test-" + id + "-" + sanitize(name),
					ClientHCL:    opts.ClientHCL, ACL: opts.ACL, VaultAddr: va.Addr,
				})
				if err != nil {
					return err
				}
				// The client's own API answers once the agent is up; node
				// registration is checked for all clients together below.
				return r.p.waitReady(nomadTimeout, func() error {
					var self map[string]any
					return getJSONAuth(r.httpAddr+"/v1/agent/self", "X-Nomad-Token", c.ManagementToken, &self)
				})
			})
		})
	}
	wg.Wait()
	for i, name := range names {
		r := results[i]
		if r.p != nil {
			c.clients[name] = r.p
			t.Cleanup(r.p.stop)
			t.Cleanup(func() { removeCgroups("/aegir-test-" + id + "-" + sanitize(name)) })
			dumpOnFailure(t, "nomad client "+name, r.p.logPath)
		}
		c.Nodes = append(c.Nodes, NomadNode{Name: name, HTTPAddr: r.httpAddr})
	}
	for i, name := range names {
		if r := results[i]; r.err != nil {
			failStart(t, r.p, fmt.Errorf("nomad client %s: %w", name, r.err))
		}
	}

	if err := c.server.waitReady(nomadTimeout, c.nodesReady); err != nil {
		for _, n := range c.Nodes {
			t.Logf("testharness: last lines of nomad client %s:\n%s", n.Name, c.clients[n.Name].tail(30))
		}
		failStart(t, c.server, err)
	}
	return c
}

func startNomadAgent(bin, dir string, cfg nomadAgentConfig) (*process, error) {
	agentDir := filepath.Join(dir, cfg.Name)
	cfg.DataDir = filepath.Join(agentDir, "data")
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := nomadConfig.Execute(&b, cfg); err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(agentDir, "agent.hcl")
	if err := os.WriteFile(cfgPath, b.Bytes(), 0o600); err != nil {
		return nil, err
	}
	return startProcess("nomad "+cfg.Name, filepath.Join(agentDir, "nomad.log"),
		[]string{bin, "agent", "-config", cfgPath}, procOptions{Dir: agentDir})
}

func (c *NomadCluster) leader() error {
	var leader string
	if err := getJSON(c.HTTPAddr+"/v1/status/leader", &leader); err != nil {
		return err
	}
	if leader == "" {
		return fmt.Errorf("no leader yet")
	}
	return nil
}

// bootstrapACL bootstraps the ACL system and keeps the management token.
// It fails until the leader has set up ACLs; waitReady retries it.
func (c *NomadCluster) bootstrapACL() error {
	if c.ManagementToken != "" {
		return nil
	}
	req, err := http.NewRequest(http.MethodPost, c.HTTPAddr+"/v1/acl/bootstrap", nil)
	if err != nil {
		return err
	}
	var tok struct{ SecretID string }
	if err := doJSON(req, &tok); err != nil {
		return fmt.Errorf("acl bootstrap: %w", err)
	}
	if tok.SecretID == "" {
		return errors.New("acl bootstrap answered no token")
	}
	c.ManagementToken = tok.SecretID
	return nil
}

// ACLToken creates an ACL policy with rules (Nomad's policy HCL, e.g. the
// contents of ops/nomad/aegir-policy.hcl) under a unique name starting
// with name, and a client token holding only that policy, and returns the
// token's secret. The cluster must have been started with ACL.
func (c *NomadCluster) ACLToken(t testing.TB, name, rules string) string {
	t.Helper()
	if c.ManagementToken == "" {
		t.Fatalf("testharness: nomad ACLToken on a cluster without ACLs; set NomadOptions.ACL")
	}
	// Policy names allow letters, digits and '-' (at most 128).
	policy := strings.NewReplacer("_", "-", ".", "-").Replace(sanitize(name)) + "-" + randomHex(4)
	if err := c.aclPost("/v1/acl/policy/"+policy, map[string]any{"Name": policy, "Rules": rules}, nil); err != nil {
		t.Fatalf("testharness: nomad: create policy %s: %v", name, err)
	}
	var tok struct{ SecretID string }
	body := map[string]any{"Name": "test token for " + name, "Type": "client", "Policies": []string{policy}}
	if err := c.aclPost("/v1/acl/token", body, &tok); err != nil {
		t.Fatalf("testharness: nomad: create token for policy %s: %v", name, err)
	}
	return tok.SecretID
}

// aclPost POSTs body as JSON to path with the management token and decodes
// the answer into out (unless nil).
func (c *NomadCluster) aclPost(path string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPost, c.HTTPAddr+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("X-Nomad-Token", c.ManagementToken)
	return doJSON(req, out)
}

type nomadNodeStub struct {
	ID, Name, Status string
	Drivers          map[string]struct{ Detected, Healthy bool }
}

// nodesReady: every client is registered, ready, with raw_exec healthy;
// fills in the node IDs.
func (c *NomadCluster) nodesReady() error {
	var nodes []nomadNodeStub
	if err := getJSONAuth(c.HTTPAddr+"/v1/nodes", "X-Nomad-Token", c.ManagementToken, &nodes); err != nil {
		return err
	}
	byName := map[string]nomadNodeStub{}
	for _, n := range nodes {
		byName[n.Name] = n
	}
	for i, want := range c.Nodes {
		n, ok := byName[want.Name]
		switch {
		case !ok:
			return fmt.Errorf("node %s not registered yet", want.Name)
		case n.Status != "ready":
			return fmt.Errorf("node %s is %s", want.Name, n.Status)
		case !n.Drivers["raw_exec"].Healthy:
			return fmt.Errorf("node %s: raw_exec driver not healthy yet", want.Name)
		}
		c.Nodes[i].ID = n.ID
	}
	return nil
}

// StopClient stops the client agent with that node name (SIGTERM, then
// SIGKILL, to the agent alone, as systemd's KillMode=process for Nomad
// does), for tests of a lost node. The server marks the node down after
// its heartbeat times out (tens of seconds). Task processes it started
// keep running, as their executors do, until the test ends or the client
// started again (StartClient) stops them.
func (c *NomadCluster) StopClient(t testing.TB, name string) {
	t.Helper()
	p, ok := c.clients[name]
	if !ok {
		t.Fatalf("testharness: nomad: no client named %q", name)
	}
	p.stopAlone()
}

// StartClient starts again a client agent StopClient stopped, with its
// configuration and data dir, so the node rejoins as itself (a client
// that was down and comes back), and waits until every node is ready.
func (c *NomadCluster) StartClient(t testing.TB, name string) {
	t.Helper()
	if _, ok := c.clients[name]; !ok {
		t.Fatalf("testharness: nomad: no client named %q", name)
	}
	agentDir := filepath.Join(c.dir, name)
	p, err := startProcess("nomad "+name, filepath.Join(agentDir, "nomad.log"),
		[]string{c.bin, "agent", "-config", filepath.Join(agentDir, "agent.hcl")}, procOptions{Dir: agentDir})
	if err != nil {
		t.Fatalf("testharness: nomad: restart client %s: %v", name, err)
	}
	c.clients[name] = p
	t.Cleanup(p.stop)
	if err := c.server.waitReady(nomadTimeout, c.nodesReady); err != nil {
		t.Fatalf("testharness: nomad: client %s did not rejoin: %v\n%s", name, err, p.tail(30))
	}
}

// Node returns the client node with that name.
func (c *NomadCluster) Node(t testing.TB, name string) NomadNode {
	t.Helper()
	for _, n := range c.Nodes {
		if n.Name == name {
			return n
		}
	}
	t.Fatalf("testharness: nomad: no client named %q", name)
	return NomadNode{}
}

// killProcsMentioning SIGKILLs every process whose command line contains
// dir: raw_exec tasks and Nomad's executor processes, which are built to
// outlive their client agent and are not in its process group.
func killProcsMentioning(dir string) {
	entries, _ := os.ReadDir("/proc")
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		// Its command line names dir (task processes), or it runs in dir
		// (plugins such as logmon, which a client starts in its own
		// process group and which outlive it: "nomad logmon" names
		// nothing).
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		cwd, _ := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err != nil || !bytes.Contains(b, []byte(dir)) && cwd != dir && !strings.HasPrefix(cwd, dir+"/") {
			continue
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// unmountUnder detaches every mount below dir, deepest first. Nomad clients
// running as root mount a tmpfs on each task's secrets/ and leave it when
// they stop.
func unmountUnder(dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			points = append(points, f[4])
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(points)))
	for _, p := range points {
		_ = syscall.Unmount(p, syscall.MNT_DETACH)
	}
}

// removeCgroups removes the (empty) cgroup directories a client created
// under its cgroup_parent, on cgroups v1 and v2, deepest first.
func removeCgroups(parent string) {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*" + parent)
	roots = append(roots, "/sys/fs/cgroup"+parent)
	for _, root := range roots {
		var dirs []string
		_ = filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			_ = syscall.Rmdir(dirs[i])
		}
	}
}
