package testharness

import (
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
}

// Consul starts a Consul agent in dev mode (a single server that is its own
// leader, KV in memory) on free 127.0.0.1 ports and waits until it has a
// leader and has registered itself. The agent is stopped when the test ends.
//
// Skips the test when the consul binary is missing, or fails it when
// CI=true; ops/build-agents.sh builds it.
func Consul(t testing.TB) *ConsulAgent {
	t.Helper()
	bin := requireBinary(t, "consul")
	dir := shortTempDir(t, "consul")
	a, err := startConsul(bin, dir, "aegir-"+randomHex(4))
	if err != nil {
		failStart(t, a.procOrNil(), err)
	}
	t.Cleanup(a.proc.stop)
	dumpOnFailure(t, "consul", a.proc.logPath)
	return a
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
		a, err := startConsul(bin, dir, "aegir-shared-"+randomHex(4))
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

// startConsul starts the agent in dir and waits for it. On error the
// returned agent, if not nil, holds the process for its log.
func startConsul(bin, dir, node string) (*ConsulAgent, error) {
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
		b, _ := json.MarshalIndent(cfg, "", "  ")
		cfgPath := filepath.Join(dir, "consul.json")
		if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
			return err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
		a = &ConsulAgent{Addr: addr, HTTPAddr: "http://" + addr, NodeName: node, DataDir: dataDir}
		a.proc, err = startProcess("consul", filepath.Join(dir, "consul.log"),
			[]string{bin, "agent", "-dev", "-config-file", cfgPath}, procOptions{Dir: dir})
		if err != nil {
			return err
		}
		return a.proc.waitReady(startTimeout, a.ready)
	})
	return a, err
}

var harnessHTTP = &http.Client{Timeout: 5 * time.Second}

// ready: a leader is elected and this node is in the catalog (before that,
// writes can fail with "No cluster leader").
func (a *ConsulAgent) ready() error {
	var leader string
	if err := getJSON(a.HTTPAddr+"/v1/status/leader", &leader); err != nil {
		return err
	}
	if leader == "" {
		return fmt.Errorf("no leader yet")
	}
	var nodes []struct{ Node string }
	if err := getJSON(a.HTTPAddr+"/v1/catalog/nodes", &nodes); err != nil {
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
	resp, err := harnessHTTP.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return json.Unmarshal(body, v)
}
