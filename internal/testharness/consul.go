package testharness

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ConsulAgent is a running `consul agent -dev` on 127.0.0.1.
type ConsulAgent struct {
	// Addr is host:port of the HTTP API, e.g. "127.0.0.1:41234".
	Addr string
	// HTTPAddr is "http://" + Addr.
	HTTPAddr string
	// NodeName is the agent's node name.
	NodeName string
	// DataDir is the agent's data directory.
	DataDir string
	// ManagementToken is a token with every permission (the ACL system's
	// initial management token), for the test's own setup and checks. It
	// is "" unless the agent was started by ConsulACL.
	ManagementToken string

	proc *process
}

// consulConfig is the JSON config file given to the agent: every port is
// chosen free on 127.0.0.1; gRPC is off (nothing here uses Connect/xDS).
type consulConfig struct {
	NodeName           string         `json:"node_name"`
	DataDir            string         `json:"data_dir"`
	BindAddr           string         `json:"bind_addr"`
	ClientAddr         string         `json:"client_addr"`
	AdvertiseAddr      string         `json:"advertise_addr"`
	DisableUpdateCheck bool           `json:"disable_update_check"`
	LogLevel           string         `json:"log_level"`
	Ports              map[string]int `json:"ports"`
	Performance        map[string]int `json:"performance"`
	ACL                *consulACL     `json:"acl,omitempty"`
}

// consulACL is the agent's acl block: ACLs on, deny by default, and the
// management token given up front (initial_management) rather than from
// /v1/acl/bootstrap, so it is known before the agent is ready. The agent
// uses it as its own token too, to register its node.
type consulACL struct {
	Enabled                bool              `json:"enabled"`
	DefaultPolicy          string            `json:"default_policy"`
	EnableTokenPersistence bool              `json:"enable_token_persistence"`
	Tokens                 map[string]string `json:"tokens"`
}

// Consul starts a Consul agent in dev mode (a single server that is its own
// leader, KV in memory) on free 127.0.0.1 ports and waits until it has a
// leader and has registered itself. The agent is stopped when the test ends.
//
// Skips the test when the consul binary is missing, or fails it when
// CI=true; ops/build-agents.sh builds it.
func Consul(t testing.TB) *ConsulAgent {
	t.Helper()
	return consulForTest(t, "")
}

// ConsulACL starts an agent of the test's own, as Consul does, with the
// ACL system on as production runs it: default_policy "deny", so a request without a
// token (anonymous) may do nothing. ManagementToken holds a token that may
// do everything; ACLToken makes tokens of narrower policies. The agent is
// stopped when the test ends.
func ConsulACL(t testing.TB) *ConsulAgent {
	t.Helper()
	return consulForTest(t, newUUID())
}

// consulForTest starts an agent of its own for t, with ACLs when
// managementToken is set.
func consulForTest(t testing.TB, managementToken string) *ConsulAgent {
	t.Helper()
	bin := requireBinary(t, "consul")
	dir := shortTempDir(t, "consul")
	a, err := startConsul(bin, dir, "aegir-"+randomHex(4), managementToken, false)
	if err != nil {
		failStart(t, a.procOrNil(), err)
	}
	t.Cleanup(a.proc.stop)
	dumpOnFailure(t, "consul", a.proc.logPath)
	return a
}

// Stop stops an agent started by Consul or ConsulACL before its test ends,
// as losing the cluster's Consul would: a -dev agent keeps its data in
// memory, so it is gone. Never call it on SharedConsul's agent. Safe to
// call twice.
func (a *ConsulAgent) Stop() { a.proc.stop() }

// ConsulPersistent starts an agent of the test's own, like Consul, but as
// a single server (bootstrap_expect 1) that keeps its KV store on disk, so
// Restart brings it back with its data, as a production Consul restarts.
func ConsulPersistent(t testing.TB) *ConsulAgent {
	t.Helper()
	bin := requireBinary(t, "consul")
	dir := shortTempDir(t, "consul")
	a, err := startConsul(bin, dir, "aegir-"+randomHex(4), "", true)
	if err != nil {
		failStart(t, a.procOrNil(), err)
	}
	t.Cleanup(func() { a.proc.stop() })
	dumpOnFailure(t, "consul", a.proc.logPath)
	return a
}

// ConsulPersistentACL is ConsulPersistent with the ACL system on, as
// ConsulACL: default deny, ManagementToken holds the initial management
// token. The ACL state (policies, tokens) is kept on disk with the KV, so
// tokens made before a Restart work after it.
func ConsulPersistentACL(t testing.TB) *ConsulAgent {
	t.Helper()
	bin := requireBinary(t, "consul")
	dir := shortTempDir(t, "consul")
	a, err := startConsul(bin, dir, "aegir-"+randomHex(4), newUUID(), true)
	if err != nil {
		failStart(t, a.procOrNil(), err)
	}
	t.Cleanup(func() { a.proc.stop() })
	dumpOnFailure(t, "consul", a.proc.logPath)
	return a
}

// Restart stops an agent from ConsulPersistent or ConsulPersistentACL (SIGTERM, as systemd
// does) and starts it again on the same ports and data, waiting until it
// has a leader again. down is how long it stays stopped.
func (a *ConsulAgent) Restart(t testing.TB, down time.Duration) {
	t.Helper()
	a.proc.stop()
	time.Sleep(down)
	p, err := startProcess("consul", a.proc.logPath, a.proc.argv, procOptions{Dir: a.proc.cmd.Dir})
	if err != nil {
		t.Fatalf("testharness: consul restart: %v", err)
	}
	a.proc = p
	if err := p.waitReady(startTimeout, a.ready); err != nil {
		failStart(t, p, err)
	}
}

// ACLToken creates an ACL policy with rules (Consul's policy HCL, e.g. the
// contents of ops/consul/aegir-policy.hcl) under a unique name starting
// with name, and a token holding only that policy, and returns the token's
// secret. The agent must come from ConsulACL or ConsulPersistentACL.
func (a *ConsulAgent) ACLToken(t testing.TB, name, rules string) string {
	t.Helper()
	if a.ManagementToken == "" {
		t.Fatalf("testharness: consul ACLToken on an agent without ACLs; start it with ConsulACL")
	}
	var policy struct{ ID string }
	// Policy names allow letters, digits, '-' and '_'.
	body := map[string]any{"Name": strings.ReplaceAll(sanitize(name), ".", "_") + "-" + randomHex(4), "Rules": rules}
	if err := a.aclPut("/v1/acl/policy", body, &policy); err != nil {
		t.Fatalf("testharness: consul: create policy %s: %v", name, err)
	}
	var token struct{ SecretID string }
	body = map[string]any{"Description": "test token for " + name, "Policies": []map[string]string{{"ID": policy.ID}}}
	if err := a.aclPut("/v1/acl/token", body, &token); err != nil {
		t.Fatalf("testharness: consul: create token for policy %s: %v", name, err)
	}
	return token.SecretID
}

// aclPut PUTs body as JSON to path with the management token and decodes
// the answer into out.
func (a *ConsulAgent) aclPut(path string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPut, a.HTTPAddr+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("X-Consul-Token", a.ManagementToken)
	return doJSON(req, out)
}

var (
	sharedConsulOnce sync.Once
	sharedConsul     *ConsulAgent
	sharedConsulErr  error
)

// SharedConsul returns one Consul agent for the whole test binary, started
// by the first caller. Tests that use it must isolate their keys, e.g. under
// UniquePrefix(t). It is never stopped explicitly: it gets SIGKILL when the
// test binary exits (Pdeathsig). Its directory is under os.TempDir, named
// aegir-consul-shared-<pid>-*; directories left by earlier, dead test
// binaries are removed when a new one starts.
func SharedConsul(t testing.TB) *ConsulAgent {
	t.Helper()
	bin := requireBinary(t, "consul")
	sharedConsulOnce.Do(func() {
		removeStaleSharedDirs()
		dir, err := os.MkdirTemp("", fmt.Sprintf("aegir-consul-shared-%d-", os.Getpid()))
		if err != nil {
			sharedConsulErr = err
			return
		}
		a, err := startConsul(bin, dir, "aegir-shared-"+randomHex(4), "", false)
		if err != nil {
			if p := a.procOrNil(); p != nil {
				err = fmt.Errorf("%w\nlast lines of %s:\n%s", err, p.logPath, p.tail(60))
				p.stop()
			}
			sharedConsulErr = err
			return
		}
		sharedConsul = a
	})
	if sharedConsulErr != nil {
		t.Fatalf("testharness: shared consul: %v", sharedConsulErr)
	}
	if sharedConsul.proc.exited() {
		t.Fatalf("testharness: shared consul exited (%v); log %s:\n%s",
			sharedConsul.proc.waitErr, sharedConsul.proc.logPath, sharedConsul.proc.tail(40))
	}
	return sharedConsul
}

// removeStaleSharedDirs deletes shared-agent directories whose test binary
// (the pid in the name) is gone.
func removeStaleSharedDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "aegir-consul-shared-*-*"))
	for _, d := range dirs {
		parts := strings.Split(filepath.Base(d), "-")
		if len(parts) < 5 {
			continue
		}
		pid, err := strconv.Atoi(parts[3])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			os.RemoveAll(d)
		}
	}
}

// UniquePrefix returns a KV prefix of the form
// "test/<sanitised test name>-<random>/" so tests sharing one Consul (or
// Redis) do not see each other's keys.
func UniquePrefix(t testing.TB) string {
	return "test/" + sanitize(t.Name()) + "-" + randomHex(4) + "/"
}

func (a *ConsulAgent) procOrNil() *process {
	if a == nil {
		return nil
	}
	return a.proc
}

// startConsul starts the agent in dir and waits for it. A non-empty
// managementToken turns ACLs on (default deny) with that initial management
// token. On error the returned agent, if not nil, holds the process for its
// log. persist starts a single server that keeps its data in dir instead
// of a -dev agent (for Restart).
func startConsul(bin, dir, node, managementToken string, persist bool) (*ConsulAgent, error) {
	var a *ConsulAgent
	err := retryPorts(func() error {
		if a != nil && a.proc != nil {
			a.proc.stop()
		}
		ports, err := freePorts(5)
		if err != nil {
			return err
		}
		dataDir := filepath.Join(dir, "data")
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return err
		}
		cfg := consulConfig{
			NodeName:           node,
			DataDir:            dataDir,
			BindAddr:           "127.0.0.1",
			ClientAddr:         "127.0.0.1",
			AdvertiseAddr:      "127.0.0.1",
			DisableUpdateCheck: true,
			LogLevel:           "info",
			Ports: map[string]int{
				"http":     ports[0],
				"dns":      ports[1],
				"serf_lan": ports[2],
				"serf_wan": ports[3],
				"server":   ports[4],
				"https":    -1,
				"grpc":     -1,
				"grpc_tls": -1,
			},
			Performance: map[string]int{"raft_multiplier": 1},
		}
		if managementToken != "" {
			cfg.ACL = &consulACL{
				Enabled: true, DefaultPolicy: "deny",
				Tokens: map[string]string{"initial_management": managementToken, "agent": managementToken},
			}
		}
		b, _ := json.MarshalIndent(cfg, "", "  ")
		cfgPath := filepath.Join(dir, "consul.json")
		if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
			return err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
		a = &ConsulAgent{Addr: addr, HTTPAddr: "http://" + addr, NodeName: node, DataDir: dataDir, ManagementToken: managementToken}
		argv := []string{bin, "agent", "-dev", "-config-file", cfgPath}
		if persist {
			argv = []string{bin, "agent", "-server", "-bootstrap-expect", "1", "-config-file", cfgPath}
		}
		a.proc, err = startProcess("consul", filepath.Join(dir, "consul.log"), argv, procOptions{Dir: dir})
		if err != nil {
			return err
		}
		return a.proc.waitReady(startTimeout, a.ready)
	})
	return a, err
}

var harnessHTTP = &http.Client{Timeout: 5 * time.Second}

// ready: a leader is elected and this node is in the catalog (before that,
// writes can fail with "No cluster leader"). With ACLs, the catalog is read
// with the management token, which also proves the ACL system is up.
func (a *ConsulAgent) ready() error {
	var leader string
	if err := getJSON(a.HTTPAddr+"/v1/status/leader", &leader); err != nil {
		return err
	}
	if leader == "" {
		return fmt.Errorf("no leader yet")
	}
	var nodes []struct{ Node string }
	if err := getJSONAuth(a.HTTPAddr+"/v1/catalog/nodes", "X-Consul-Token", a.ManagementToken, &nodes); err != nil {
		return err
	}
	for _, n := range nodes {
		if n.Node == a.NodeName {
			return nil
		}
	}
	return fmt.Errorf("node %s not yet in catalog", a.NodeName)
}

// getJSON GETs url and decodes a 200 response into v.
func getJSON(url string, v any) error {
	return getJSONAuth(url, "", "", v)
}

// getJSONAuth is getJSON with token in header (X-Consul-Token,
// X-Nomad-Token); an empty token sends none.
func getJSONAuth(url, header, token string, v any) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set(header, token)
	}
	return doJSON(req, v)
}

// doJSON sends req and decodes a 200 response into v (when v is not nil).
func doJSON(req *http.Request, v any) error {
	resp, err := harnessHTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %s", req.Method, req.URL, resp.Status, strings.TrimSpace(string(body)))
	}
	if v == nil {
		return nil
	}
	return json.Unmarshal(body, v)
}

// newUUID returns a random (version 4) UUID, the form Consul requires of
// token secrets.
func newUUID() string {
	h := randomHex(16)
	b := []byte(h)
	b[12] = '4'
	b[16] = "89ab"[b[16]%4]
	return fmt.Sprintf("%s-%s-%s-%s-%s", b[0:8], b[8:12], b[12:16], b[16:20], b[20:32])
}
