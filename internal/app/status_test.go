package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	vault "github.com/hashicorp/vault/api"

	"github.com/aegirhq/aegir/internal/testharness"
)

// systemStatus is GET /api/v1/status as the tests read it.
type systemStatus struct {
	Components []struct {
		Name      string    `json:"name"`
		Status    string    `json:"status"`
		Message   string    `json:"message"`
		CheckedAt time.Time `json:"checked_at"`
	} `json:"components"`
	Leader  bool   `json:"leader"`
	Version string `json:"version"`
}

// of returns the state and message of the component name ("" if absent).
func (s systemStatus) of(name string) (string, string) {
	for _, c := range s.Components {
		if c.Name == name {
			return c.Status, c.Message
		}
	}
	return "", ""
}

func (s systemStatus) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "leader %v, version %s", s.Leader, s.Version)
	for _, c := range s.Components {
		fmt.Fprintf(&b, "\n  %-10s %-8s %s", c.Name, c.Status, c.Message)
	}
	return b.String()
}

// status GETs /api/v1/status; the raw JSON goes to out when not nil.
func (d *devProcess) status(out *[]byte) systemStatus {
	d.t.Helper()
	var raw json.RawMessage
	if code := d.call("GET", "/status", nil, &raw); code != 200 {
		d.t.Fatalf("GET /status: %d %s", code, raw)
	}
	var st systemStatus
	if err := json.Unmarshal(raw, &st); err != nil {
		d.t.Fatal(err)
	}
	if out != nil {
		*out = append(*out, raw...)
	}
	return st
}

// waitStatus polls /status until ok accepts it, and returns it.
func (d *devProcess) waitStatus(what string, limit time.Duration, ok func(systemStatus) bool) systemStatus {
	d.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		st := d.status(nil)
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("status: %s not within %s; last:\n%s", what, limit, st)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// allOK: every component is ok.
func allOK(st systemStatus) bool {
	for _, c := range st.Components {
		if c.Status != "ok" {
			return false
		}
	}
	return len(st.Components) > 0
}

// aegirStatus runs `aegir status [args]` against the server and returns
// its exit code and output.
func (d *devProcess) aegirStatus(args ...string) (int, string, string) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, aegirBin, append([]string{"status"}, args...)...)
	cmd.Env = []string{"AEGIR_ADDR=" + d.api, "AEGIR_TOKEN=" + d.token, "PATH=" + os.Getenv("PATH")}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		d.t.Fatalf("aegir status: %v", err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// TestServerStatus runs `aegir server` on Consul and Nomad with ACLs and
// a Redis with a password, and follows its status view, API and CLI,
// through what an operator could otherwise only find in the log:
//   - its Consul token lacks the aegir-site service rule: routing is
//     degraded with Consul's refusal, everything else ok, `aegir status`
//     exits 0 (nothing is down);
//   - the policy is fixed: routing publishes on its next retry, all ok;
//   - Redis stops: redis down, the API still answers, `aegir status`
//     exits 1; Redis back: all ok again.
//
// No answer holds the Redis password, the Consul or the Nomad token.
func TestServerStatus(t *testing.T) {
	t.Parallel()
	// placeSite puts the web server on the Nomad node aclNode.
	cluster := testharness.Nomad(t, testharness.NomadOptions{NodeNames: []string{aclNode}, ACL: true})
	nomadToken := cluster.ACLToken(t, "status", nomadPolicy(t, "default", ""))
	consul := testharness.ConsulACL(t)
	policy, err := os.ReadFile(filepath.Join("..", "..", "ops", "consul", "aegir-policy.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	rules, _, ok := strings.Cut(string(policy), `service "aegir-site" {`)
	if !ok {
		t.Fatal(`ops/consul/aegir-policy.hcl has no service "aegir-site" rule`)
	}
	consulToken := consul.ACLToken(t, "status-noservice", rules)
	const password = "status-Pa55word"
	redis := testharness.RedisWith(t, testharness.RedisOptions{Password: password})
	pwFile := filepath.Join(t.TempDir(), "redis-password")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	q := strconv.Quote
	s := startConfiguredServer(t, serverOptions{config: `store {
  backend = "consul"
  consul {
    address = ` + q(consul.Addr) + `
    token   = ` + q(consulToken) + `
  }
}
executor {
  kind = "nomad"
}
nomad {
  address = ` + q(cluster.HTTPAddr) + `
  token   = ` + q(nomadToken) + `
  binary  = ` + q(aegirBin) + `
}
redis {
  address       = ` + q(redis.Addr) + `
  password_file = ` + q(pwFile) + `
}
`})
	var answers []byte // every answer, searched for secrets at the end
	defer func() {
		for name, secret := range map[string]string{"Redis password": password, "Consul token": consulToken, "Nomad token": nomadToken} {
			if bytes.Contains(answers, []byte(secret)) {
				t.Errorf("the %s is in a status answer", name)
			}
		}
	}()

	const domain = "status.example.test"
	_, tasks := placeSite(s, "web-status", domain)
	for _, id := range tasks {
		s.waitTask(id)
	}
	st := s.waitStatus("routing degraded", 30*time.Second, func(st systemStatus) bool {
		state, _ := st.of("routing")
		return state == "degraded"
	})
	_, msg := st.of("routing")
	for _, want := range []string{"Consul ACL token lacks permission to register " + domain, "'service:write'", "store.consul.token", "ops/consul/aegir-policy.hcl"} {
		if !strings.Contains(msg, want) {
			t.Errorf("routing's message lacks %q: %s", want, msg)
		}
	}
	var names []string
	for _, c := range st.Components {
		names = append(names, c.Name)
		if c.Name != "routing" && c.Status != "ok" {
			t.Errorf("%s is %s: %s", c.Name, c.Status, c.Message)
		}
	}
	if strings.Join(names, " ") != "store dispatcher janitor notify nomad redis servers secrets routing" || !st.Leader || st.Version != "dev" {
		t.Errorf("status with routing refused:\n%s", st)
	}
	t.Logf("routing refused:\n%s", st)
	code, out, errOut := s.aegirStatus()
	answers = append(answers, out+errOut...)
	if code != 0 || !strings.Contains(out, "routing     degraded") || !strings.Contains(out, "leads") {
		t.Errorf("aegir status with routing degraded: exit %d\n%s%s", code, out, errOut)
	}

	// The operator gives the token the service rule: the reconciler's next
	// retry publishes the site, without a restart.
	cc := consulClient(t, consul)
	policies, _, err := cc.ACL().PolicyList(nil)
	if err != nil {
		t.Fatal(err)
	}
	fixed := false
	for _, p := range policies {
		if strings.HasPrefix(p.Name, "status-noservice-") {
			if _, _, err := cc.ACL().PolicyUpdate(&consulapi.ACLPolicy{ID: p.ID, Name: p.Name, Rules: string(policy)}, nil); err != nil {
				t.Fatal(err)
			}
			fixed = true
		}
	}
	if !fixed {
		t.Fatal("the test's Consul policy is not there")
	}
	st = s.waitStatus("all ok", 45*time.Second, allOK)
	if _, msg := st.of("routing"); !strings.Contains(msg, "1 site instance in Consul's catalog") {
		t.Errorf("routing ok: %s", msg)
	}
	t.Logf("all ok:\n%s", st)
	s.status(&answers)

	// Redis stops: the API answers, says so, and `aegir status` exits 1.
	redis.Stop(t)
	st = s.waitStatus("redis down", 30*time.Second, func(st systemStatus) bool {
		state, _ := st.of("redis")
		return state == "down"
	})
	if _, msg := st.of("redis"); !strings.Contains(msg, "redis at "+redis.Addr) || !strings.Contains(msg, "live log lines wait in memory") {
		t.Errorf("redis down: %s", msg)
	}
	if state, msg := st.of("store"); state != "ok" {
		t.Errorf("store with redis down: %s %s", state, msg)
	}
	t.Logf("redis down:\n%s", st)
	s.status(&answers)
	code, out, errOut = s.aegirStatus()
	answers = append(answers, out+errOut...)
	if code != 1 || !strings.Contains(out, "redis       down") || !strings.Contains(errOut, "Error: redis is down") {
		t.Errorf("aegir status with redis down: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = s.aegirStatus("-json")
	answers = append(answers, out+errOut...)
	var js systemStatus
	if err := json.Unmarshal([]byte(out), &js); code != 1 || err != nil {
		t.Errorf("aegir status -json with redis down: exit %d, %v\n%s%s", code, err, out, errOut)
	} else if state, _ := js.of("redis"); state != "down" {
		t.Errorf("aegir status -json: redis %s", state)
	}

	redis.Restart(t)
	st = s.waitStatus("all ok again", 60*time.Second, func(st systemStatus) bool { return allOK(st) && st.Leader })
	s.status(&answers)
	if code, out, errOut := s.aegirStatus(); code != 0 {
		t.Errorf("aegir status once redis is back: exit %d\n%s%s", code, out, errOut)
	}
}

// TestServerStatusVault: with Vault as the secrets backend, the status
// view says how long aegir's token lives and that it is renewed, and
// reports a sealed Vault as down until it is unsealed; never the token.
func TestServerStatusVault(t *testing.T) {
	t.Parallel()
	v := testharness.Vault(t)
	cfg := vault.DefaultConfig()
	cfg.Address = v.Addr
	root, err := vault.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	root.SetToken(v.RootToken)
	tok, err := root.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"root"}, TTL: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	token := tok.Auth.ClientToken
	s := startConfiguredServer(t, serverOptions{
		config: "secrets {\n  backend = \"vault\"\n  vault {\n    address = " + strconv.Quote(v.Addr) + "\n  }\n}\n",
		args:   []string{"-store", "bolt"},
		env:    []string{"VAULT_TOKEN=" + token},
	})
	var answers []byte
	st := s.waitStatus("all ok", 30*time.Second, allOK)
	s.status(&answers)
	if _, msg := st.of("secrets"); !strings.Contains(msg, "Vault at "+v.Addr+" answers; its token expires in ") || !strings.Contains(msg, "and is renewed") {
		t.Errorf("secrets: %s", msg)
	}
	t.Logf("on Vault:\n%s", st)

	v.Seal(t)
	st = s.waitStatus("secrets down", 30*time.Second, func(st systemStatus) bool {
		state, _ := st.of("secrets")
		return state == "down"
	})
	s.status(&answers)
	if _, msg := st.of("secrets"); !strings.Contains(msg, "is sealed; unseal it") {
		t.Errorf("secrets with Vault sealed: %s", msg)
	}
	if code, out, errOut := s.aegirStatus(); code != 1 || !strings.Contains(errOut, "secrets is down") {
		t.Errorf("aegir status with Vault sealed: exit %d\n%s%s", code, out, errOut)
	} else {
		answers = append(answers, out+errOut...)
	}
	v.Unseal(t)
	s.waitStatus("all ok after unseal", 30*time.Second, allOK)
	if bytes.Contains(answers, []byte(token)) || bytes.Contains(answers, []byte(v.RootToken)) {
		t.Error("a Vault token is in a status answer")
	}
}
