package testharness

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// VaultServer is a running `vault server -dev` on 127.0.0.1: in-memory
// storage, unsealed, KV v2 mounted at secret/.
type VaultServer struct {
	// Addr is the API URL, e.g. "http://127.0.0.1:41234" (VAULT_ADDR).
	Addr string
	// RootToken is the dev root token (random per server).
	RootToken string

	dir  string
	proc *process
}

// Vault starts a dev-mode Vault server on a free 127.0.0.1 port with a random
// root token and waits until it is unsealed and active. It is stopped when
// the test ends. Dev mode listens on the API port and, for clustering, on
// the API port + 1; both are chosen free.
//
// Skips the test when the vault binary is missing, or fails it when CI=true;
// ops/build-agents.sh builds it.
func Vault(t testing.TB) *VaultServer {
	t.Helper()
	bin := requireBinary(t, "vault")
	v := &VaultServer{dir: shortTempDir(t, "vault"), RootToken: "root-" + randomHex(12)}
	logPath := filepath.Join(v.dir, "vault.log")
	err := retryPorts(func() error {
		v.proc.stop()
		port, err := freePortPair()
		if err != nil {
			return err
		}
		listen := "127.0.0.1:" + strconv.Itoa(port)
		v.Addr = "http://" + listen
		v.proc, err = startProcess("vault", logPath, []string{
			bin, "server", "-dev",
			"-dev-root-token-id=" + v.RootToken,
			"-dev-listen-address=" + listen,
			"-dev-no-store-token",
		}, procOptions{
			Dir: v.dir,
			// HOME: dev mode would otherwise write ~/.vault-token.
			// GODEBUG: Vault 1.13.2 links gosnowflake v1.6.3, whose init
			// parses a CA certificate with a negative serial number, which
			// Go 1.23+ refuses (the binary panics at start without it).
			// ops/agents/vault/go.mod now bakes this default into the
			// binary; the variable keeps older cached builds working.
			Env: []string{"HOME=" + v.dir, "VAULT_ADDR=" + v.Addr, "VAULT_DISABLE_MLOCK=true", "GODEBUG=x509negativeserial=1"},
		})
		if err != nil {
			return err
		}
		return v.proc.waitReady(startTimeout, v.ready)
	})
	if err != nil {
		failStart(t, v.proc, err)
	}
	t.Cleanup(func() { v.proc.stop() })
	dumpOnFailure(t, "vault", logPath)
	return v
}

// ready: sys/health answers 200 (initialised, unsealed, active) and the
// secret/ KV v2 mount exists.
func (v *VaultServer) ready() error {
	code, body, err := v.do(http.MethodGet, "/v1/sys/health", nil)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("sys/health: %d %s", code, body)
	}
	code, body, err = v.do(http.MethodGet, "/v1/sys/mounts/secret", nil)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("secret/ mount not ready: %d %s", code, body)
	}
	return nil
}

// Seal seals the server (PUT sys/seal), for tests of a sealed Vault: every
// secret request then fails with 503 until Unseal.
func (v *VaultServer) Seal(t testing.TB) {
	t.Helper()
	code, body, err := v.do(http.MethodPut, "/v1/sys/seal", nil)
	if err != nil || code != http.StatusNoContent && code != http.StatusOK {
		t.Fatalf("testharness: vault seal: %d %s %v", code, body, err)
	}
}

var unsealKeyRe = regexp.MustCompile(`Unseal Key: (\S+)`)

// Unseal unseals a server sealed with Seal, using the dev unseal key that
// the server printed at startup.
func (v *VaultServer) Unseal(t testing.TB) {
	t.Helper()
	b, err := os.ReadFile(v.proc.logPath)
	if err != nil {
		t.Fatalf("testharness: vault unseal: %v", err)
	}
	m := unsealKeyRe.FindSubmatch(b)
	if m == nil {
		t.Fatalf("testharness: vault unseal: no unseal key in %s", v.proc.logPath)
	}
	payload, _ := json.Marshal(map[string]string{"key": string(m[1])})
	code, body, err := v.do(http.MethodPut, "/v1/sys/unseal", payload)
	if err != nil || code != http.StatusOK {
		t.Fatalf("testharness: vault unseal: %d %s %v", code, body, err)
	}
	if err := v.proc.waitReady(startTimeout, v.ready); err != nil {
		t.Fatalf("testharness: vault unseal: %v", err)
	}
}

// do makes an API request with the root token.
func (v *VaultServer) do(method, path string, body []byte) (int, string, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, v.Addr+path, r)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("X-Vault-Token", v.RootToken)
	resp, err := harnessHTTP.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b)), err
}
