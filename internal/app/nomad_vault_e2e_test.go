package app_test

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/aegirhq/aegir/internal/testharness"
)

// TestServerOnNomadGivesBackEndsVault: with nomad { vault_policies =
// ["aegir-backend"] } in aegir's config, `aegir server` registers the
// aegir-task job with a vault block, and Nomad (its Vault integration on,
// as production runs it) gives each back end a Vault token of that policy
// (VAULT_TOKEN in its environment).
func TestServerOnNomadGivesBackEndsVault(t *testing.T) {
	t.Parallel()
	v := testharness.Vault(t)
	root, err := vaultapi.NewClient(&vaultapi.Config{Address: v.Addr})
	if err != nil {
		t.Fatal(err)
	}
	root.SetToken(v.RootToken)
	// Nomad 1.4's Vault integration: a token role the servers create
	// tasks' tokens from, and a periodic orphan token for the servers.
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(root.Sys().PutPolicy("aegir-backend", `path "secret/data/aegir/*" { capabilities = ["read"] }`))
	must(root.Sys().PutPolicy("nomad-server", `
path "auth/token/create/nomad-cluster" { capabilities = ["update"] }
path "auth/token/roles/nomad-cluster" { capabilities = ["read"] }
path "auth/token/lookup-self" { capabilities = ["read"] }
path "auth/token/lookup" { capabilities = ["update"] }
path "auth/token/revoke-accessor" { capabilities = ["update"] }
path "sys/capabilities-self" { capabilities = ["update"] }
path "auth/token/renew-self" { capabilities = ["update"] }
`))
	_, err = root.Logical().Write("auth/token/roles/nomad-cluster", map[string]any{
		"allowed_policies": "aegir-backend", "orphan": true, "token_period": "72h", "renewable": true})
	must(err)
	sec, err := root.Auth().Token().Create(&vaultapi.TokenCreateRequest{Policies: []string{"nomad-server"}, Period: "72h", NoParent: true})
	must(err)
	cluster := testharness.Nomad(t, testharness.NomadOptions{Vault: &testharness.NomadVault{
		Addr: v.Addr, Token: sec.Auth.ClientToken, Role: "nomad-cluster"}})
	consul := testharness.SharedConsul(t)
	rs := testharness.Redis(t)

	// The back end writes down the Vault token Nomad gave it, and waits
	// (at most 60s) for the test to have looked at it before it runs.
	dir := t.TempDir()
	seen, goOn := filepath.Join(dir, "vault-token"), filepath.Join(dir, "go")
	wrapper := filepath.Join(dir, "aegir-vault")
	script := "#!/bin/sh\nprintf '%s' \"$VAULT_TOKEN\" > " + seen + ".tmp && mv " + seen + ".tmp " + seen +
		"\ni=0\nwhile [ ! -e " + goOn + " ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\nexec " + aegirBin + " \"$@\"\n"
	must(os.WriteFile(wrapper, []byte(script), 0o755))
	s := startConfiguredServer(t, serverOptions{
		config: "nomad {\n  binary = " + strconv.Quote(wrapper) + "\n  vault_policies = [\"aegir-backend\"]\n}\n",
		args:   []string{"-store", "consul", "-consul-addr", consul.Addr, "-redis-addr", rs.Addr, "-executor", "nomad"},
		env:    []string{"NOMAD_ADDR=" + cluster.HTTPAddr, "AEGIR_CONSUL_PREFIX=" + testharness.UniquePrefix(t)},
	})
	var srv struct {
		Server struct{ ID string } `json:"server"`
		Task   task                `json:"task"`
	}
	if code := s.call("POST", "/servers", map[string]any{"name": "web-b", "address": "127.0.0.1", "nomad_node": "aegir-b",
		"services": []map[string]any{{"kind": "builtin", "port": s.sitesPort()}, {"kind": "sqlite"}}}, &srv); code != 201 {
		t.Fatalf("create server: %d", code)
	}
	var tok []byte
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if tok, err = os.ReadFile(seen); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the back end never started: %v", err)
		}
	}
	if len(tok) == 0 {
		t.Fatal("the back end got no VAULT_TOKEN from Nomad")
	}
	info, err := root.Auth().Token().Lookup(strings.TrimSpace(string(tok)))
	must(err)
	pols, _ := info.TokenPolicies()
	if !slices.Contains(pols, "aegir-backend") {
		t.Errorf("the back end's Vault token has policies %v, want aegir-backend", pols)
	}
	t.Logf("back end's Vault token: policies %v, ttl %v", pols, info.Data["ttl"])
	must(os.WriteFile(goOn, nil, 0o644))
	s.waitTask(srv.Task.ID)
	// Nomad revokes the token when the task ends.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if _, err := root.Auth().Token().Lookup(strings.TrimSpace(string(tok))); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the back end's Vault token outlived its task")
		}
	}
}
