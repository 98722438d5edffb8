package testharness

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// TraefikVersion is the Traefik that ops/build-agents.sh builds (pinned in
// ops/agents/traefik/go.mod).
const TraefikVersion = "3.1.0"

func init() { agentVersions["traefik"] = TraefikVersion }

// TraefikServer is a running Traefik v3 whose only provider is Consul
// Catalog, pointed at a test Consul agent.
type TraefikServer struct {
	// Addr is host:port of the "web" entry point, where routed requests go.
	Addr string
	// APIAddr is host:port of the "traefik" entry point: /ping and the
	// read-only API (/api/http/routers ...), for readiness and debugging.
	APIAddr string
	// Dir holds the static configuration and the log.
	Dir string

	proc *process
}

// Traefik starts Traefik on free 127.0.0.1 ports with the Consul Catalog
// provider on consulAddr (host:port of the agent's HTTP API): prefix
// "traefik", exposedByDefault false, polling the catalog every second, and
// a 100ms provider throttle, so a change is routed within about 1.1s.
// It waits until /ping answers and stops Traefik when the test ends.
//
// Skips the test when the traefik binary is missing, or fails it when
// CI=true; `ops/build-agents.sh traefik` builds it.
func Traefik(t testing.TB, consulAddr string) *TraefikServer {
	t.Helper()
	return TraefikConfig(t, func(webAddr, apiAddr string) ([]byte, error) {
		return defaultTraefikConfig(webAddr, apiAddr, consulAddr)
	})
}

// TraefikConfig starts Traefik with the static configuration (YAML) that
// render returns for the two free 127.0.0.1 addresses it is given: the
// "web" entry point and the "traefik" entry point, which must serve /ping
// (ping.entryPoint: traefik). Tests of a shipped configuration use it.
func TraefikConfig(t testing.TB, render func(webAddr, apiAddr string) ([]byte, error)) *TraefikServer {
	t.Helper()
	bin := requireBinary(t, "traefik")
	dir := shortTempDir(t, "traefik")
	var tr *TraefikServer
	err := retryPorts(func() error {
		if tr != nil && tr.proc != nil {
			tr.proc.stop()
		}
		ports, err := freePorts(2)
		if err != nil {
			return err
		}
		tr = &TraefikServer{
			Addr:    fmt.Sprintf("127.0.0.1:%d", ports[0]),
			APIAddr: fmt.Sprintf("127.0.0.1:%d", ports[1]),
			Dir:     dir,
		}
		b, err := render(tr.Addr, tr.APIAddr)
		if err != nil {
			return err
		}
		cfgPath := filepath.Join(dir, "traefik.yml")
		if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
			return err
		}
		tr.proc, err = startProcess("traefik", filepath.Join(dir, "traefik.log"),
			[]string{bin, "--configFile=" + cfgPath}, procOptions{Dir: dir, Env: []string{"HOME=" + dir}})
		if err != nil {
			return err
		}
		return tr.proc.waitReady(startTimeout, tr.ready)
	})
	if err != nil {
		failStart(t, tr.procOrNil(), err)
	}
	t.Cleanup(tr.proc.stop)
	dumpOnFailure(t, "traefik", tr.proc.logPath)
	return tr
}

// defaultTraefikConfig is the configuration Traefik uses.
func defaultTraefikConfig(webAddr, apiAddr, consulAddr string) ([]byte, error) {
	// JSON is YAML: the file is written with encoding/json, nothing pasted.
	cfg := map[string]any{
		"global": map[string]any{"checkNewVersion": false, "sendAnonymousUsage": false},
		"entryPoints": map[string]any{
			"web":     map[string]any{"address": webAddr},
			"traefik": map[string]any{"address": apiAddr},
		},
		"ping": map[string]any{"entryPoint": "traefik"},
		"api":  map[string]any{"insecure": true, "dashboard": false},
		"log":  map[string]any{"level": "INFO", "noColor": true},
		"providers": map[string]any{
			"providersThrottleDuration": "100ms",
			"consulCatalog": map[string]any{
				"prefix":           "traefik",
				"exposedByDefault": false,
				"refreshInterval":  "1s",
				// Polling, not watch mode: Traefik v3.1's watch mode was
				// seen to miss a change until the next catalog event,
				// an unbounded wait; polling bounds it by the interval.
				"watch":    false,
				"endpoint": map[string]any{"address": consulAddr, "scheme": "http"},
			},
		},
	}
	return json.MarshalIndent(cfg, "", "  ")
}

func (tr *TraefikServer) procOrNil() *process {
	if tr == nil {
		return nil
	}
	return tr.proc
}

func (tr *TraefikServer) ready() error {
	resp, err := harnessHTTP.Get("http://" + tr.APIAddr + "/ping")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("traefik /ping: %s", resp.Status)
	}
	return nil
}

// Stop stops Traefik now (it is stopped at the end of the test anyway).
func (tr *TraefikServer) Stop() { tr.proc.stop() }

// LogTail returns the last n lines of Traefik's log.
func (tr *TraefikServer) LogTail(n int) string { return tr.proc.tail(n) }
