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
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(root.Sys().PutPolicy("aegir-backend", `path "secret/data/aegir/*" { capabilities = ["read"] }`))
	cluster := nomadWithVault(t, v, root, testharness.NomadOptions{})
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

// nomadWithVault starts a Nomad cluster of opts with its Vault
// integration on v, as Nomad 1.4's docs set it up: a token role
// nomad-cluster that may give tasks the policy aegir-backend, and a
// periodic orphan token of a nomad-server policy for the servers.
func nomadWithVault(t *testing.T, v *testharness.VaultServer, root *vaultapi.Client, opts testharness.NomadOptions) *testharness.NomadCluster {
	t.Helper()
	if err := root.Sys().PutPolicy("nomad-server", `
path "auth/token/create/nomad-cluster" { capabilities = ["update"] }
path "auth/token/roles/nomad-cluster" { capabilities = ["read"] }
path "auth/token/lookup-self" { capabilities = ["read"] }
path "auth/token/lookup" { capabilities = ["update"] }
path "auth/token/revoke-accessor" { capabilities = ["update"] }
path "sys/capabilities-self" { capabilities = ["update"] }
path "auth/token/renew-self" { capabilities = ["update"] }
`); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Logical().Write("auth/token/roles/nomad-cluster", map[string]any{
		"allowed_policies": "aegir-backend", "orphan": true, "token_period": "72h", "renewable": true}); err != nil {
		t.Fatal(err)
	}
	sec, err := root.Auth().Token().Create(&vaultapi.TokenCreateRequest{Policies: []string{"nomad-server"}, Period: "72h", NoParent: true})
	if err != nil {
		t.Fatal(err)
	}
	opts.Vault = &testharness.NomadVault{Addr: v.Addr, Token: sec.Auth.ClientToken, Role: "nomad-cluster"}
	return testharness.Nomad(t, opts)
}

// TestServerOnNomadBackupLeasesFromVault: a backup of a MariaDB site on
// Nomad, the back end's Vault token given by Nomad (nomad.vault_policies),
// dumps as a throwaway database user leased for the task inside the
// allocation, and the user is gone once the task has ended.
func TestServerOnNomadBackupLeasesFromVault(t *testing.T) {
	t.Parallel()
	v := testharness.Vault(t)
	db := testharness.MariaDB(t)
	creds := setupVaultLikeOps(t, v)
	root, err := vaultapi.NewClient(&vaultapi.Config{Address: v.Addr})
	if err != nil {
		t.Fatal(err)
	}
	root.SetToken(v.RootToken)
	cluster := nomadWithVault(t, v, root, testharness.NomadOptions{})
	consul := testharness.SharedConsul(t)
	rs := testharness.Redis(t)
	q := strconv.Quote
	s := startConfiguredServer(t, serverOptions{
		config: `nomad {
  binary         = ` + q(aegirBin) + `
  vault_policies = ["aegir-backend"]
}
secrets {
  backend = "vault"
  vault {
    address        = ` + q(v.Addr) + `
    role_id_file   = ` + q(filepath.Join(creds, "server.role_id")) + `
    secret_id_file = ` + q(filepath.Join(creds, "server.secret_id")) + `
  }
}
`,
		args: []string{"-store", "consul", "-consul-addr", consul.Addr, "-redis-addr", rs.Addr, "-executor", "nomad"},
		env:  []string{"NOMAD_ADDR=" + cluster.HTTPAddr, "AEGIR_CONSUL_PREFIX=" + testharness.UniquePrefix(t)},
	})
	_, dbPort, _ := strings.Cut(db.Addr, ":")
	port, _ := strconv.Atoi(dbPort)
	var srv struct {
		Server struct{ ID string } `json:"server"`
		Task   task                `json:"task"`
	}
	if code := s.call("POST", "/servers", map[string]any{"name": "web-b", "address": "127.0.0.1", "nomad_node": "aegir-b",
		"services": []map[string]any{{"kind": "builtin", "port": s.sitesPort()},
			{"kind": "mariadb", "port": port, "settings": map[string]string{"host": "127.0.0.1"}}}}, &srv); code != 201 {
		t.Fatalf("create server: %d", code)
	}
	var services struct {
		Items []struct {
			ID   string `json:"id"`
			Kind string `json:"kind"`
		} `json:"items"`
	}
	s.call("GET", "/services?server_id="+srv.Server.ID, nil, &services)
	var dbSvc string
	for _, sv := range services.Items {
		if sv.Kind == "mariadb" {
			dbSvc = sv.ID
		}
	}
	if code := s.call("PUT", "/services/"+dbSvc+"/credentials", map[string]string{"username": db.AdminUser, "password": db.AdminPassword}, nil); code != 204 {
		t.Fatalf("put credentials: %d", code)
	}
	s.waitDone(srv.Task.ID) // before the credentials: may fail
	if code := s.call("POST", "/clients", map[string]any{"name": "acme"}, nil); code != 201 {
		t.Fatalf("create client: %d", code)
	}
	var plat struct {
		Task task `json:"task"`
	}
	if code := s.call("POST", "/platforms", map[string]any{"name": "static-b", "path": staticPlatform(t, "vault on nomad"),
		"web_server": "web-b", "type": "static"}, &plat); code != 201 {
		t.Fatalf("create platform: %d", code)
	}
	s.waitTask(plat.Task.ID)
	var site struct {
		Site struct{ ID string } `json:"site"`
		Task task                `json:"task"`
	}
	if code := s.call("POST", "/sites", map[string]any{"domain": "vaultnomad.example.test", "platform": "static-b", "db_server": "web-b", "client": "acme"}, &site); code != 201 {
		t.Fatalf("create site: %d", code)
	}
	s.waitTask(site.Task.ID)

	db.Query(t, "SET GLOBAL log_output = 'TABLE'; SET GLOBAL general_log = 1")
	backup := s.queueSiteTask(site.Site.ID, "backup", nil)
	db.Query(t, "SET GLOBAL general_log = 0")
	if !strings.HasPrefix(backup.Runner, "nomad:") {
		t.Fatalf("the backup ran as %q, not through Nomad", backup.Runner)
	}
	if n := strings.TrimSpace(db.Query(t, "SELECT COUNT(*) FROM mysql.general_log WHERE user_host LIKE 't-"+backup.ID+"-%'")); n == "0" || n == "" {
		t.Errorf("the database server's log has no statement of a t-%s- user: %s", backup.ID,
			db.Query(t, "SELECT DISTINCT user_host FROM mysql.general_log"))
	}
	// The lease was revoked with the task: the user is gone.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		n := strings.TrimSpace(db.Query(t, "SELECT COUNT(*) FROM mysql.user WHERE user LIKE 't-"+backup.ID+"-%'"))
		if n == "0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the throwaway user of backup %s is still in mysql.user (%s)", backup.ID, n)
		}
	}
}
