package app_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	consulapi "github.com/hashicorp/consul/api"
	vaultapi "github.com/hashicorp/vault/api"
	"github.com/klauspost/compress/zstd"

	"github.com/aegirhq/aegir/internal/testharness"
)

// recordingTransport keeps a copy of every response body, to check that a
// secret never appears in any answer of the API.
type recordingTransport struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (r *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.bodies = append(r.bodies, b)
	r.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

func (r *recordingTransport) contains(secret string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, b := range r.bodies {
		if bytes.Contains(b, []byte(secret)) {
			n++
		}
	}
	return n
}

// setupVaultLikeOps runs ops/vault/setup-dev.sh against v and returns the
// directory with the AppRole credential files it wrote.
func setupVaultLikeOps(t *testing.T, v *testharness.VaultServer) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "ops", "vault", "setup-dev.sh")
	vaultBin, err := testharness.BinPath("vault")
	if err != nil {
		t.Fatalf("vault binary for ops/vault/setup-dev.sh: %v", err)
	}
	out := filepath.Join(t.TempDir(), "vault-creds")
	cmd := exec.Command("bash", script, out)
	cmd.Env = append(os.Environ(), "VAULT_ADDR="+v.Addr, "VAULT_TOKEN="+v.RootToken,
		"PATH="+filepath.Dir(vaultBin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ops/vault/setup-dev.sh: %v\n%s", err, b)
	}
	for _, f := range []string{"server.role_id", "server.secret_id", "backend.role_id", "backend.secret_id"} {
		if fi, err := os.Stat(filepath.Join(out, f)); err != nil || fi.Size() == 0 {
			t.Fatalf("setup-dev.sh did not write %s: %v\n%s", f, err, b)
		}
	}
	return out
}

// consulValues returns every value under prefix, with zstd-compressed
// values (archived task logs, chunk by chunk and whole) decompressed too.
func consulValues(t *testing.T, addr, prefix string) map[string][]byte {
	t.Helper()
	c, err := consulapi.NewClient(&consulapi.Config{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	pairs, _, err := c.KV().List(prefix, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(pairs) == 0 {
		t.Fatalf("no keys under %s", prefix)
	}
	dec, _ := zstd.NewReader(nil)
	defer dec.Close()
	out := map[string][]byte{}
	groups := map[string][]string{}
	for _, p := range pairs {
		out[p.Key] = p.Value
		if raw, err := dec.DecodeAll(p.Value, nil); err == nil {
			out[p.Key+" (zstd)"] = raw
		}
		if dir, last := filepath.Split(p.Key); len(last) == 4 && strings.Trim(last, "0123456789") == "" {
			groups[dir] = append(groups[dir], p.Key)
		}
	}
	for dir, keys := range groups {
		sort.Strings(keys)
		var all []byte
		for _, k := range keys {
			all = append(all, out[k]...)
		}
		if raw, err := dec.DecodeAll(all, nil); err == nil {
			out[dir+" (zstd, all chunks)"] = raw
		}
	}
	return out
}

// TestServerOnVault runs `aegir server` on the Consul store with the
// secrets in a Vault set up by ops/vault/setup-dev.sh (AppRoles for the
// server and its back ends) and a real MariaDB: a site installed, backed
// up and given a new password through the API has its database password in
// Vault and nowhere else: not in Consul, not in a task log, not in any API
// answer.
func TestServerOnVault(t *testing.T) {
	t.Parallel()
	consul := testharness.SharedConsul(t)
	prefix := testharness.UniquePrefix(t)
	redis := testharness.Redis(t)
	v := testharness.Vault(t)
	db := testharness.MariaDB(t)
	creds := setupVaultLikeOps(t, v)

	q := strconv.Quote
	s := startConfiguredServer(t, serverOptions{
		config: `secrets {
  backend = "vault"
  vault {
    address                = ` + q(v.Addr) + `
    role_id_file           = ` + q(filepath.Join(creds, "server.role_id")) + `
    secret_id_file         = ` + q(filepath.Join(creds, "server.secret_id")) + `
    backend_role_id_file   = ` + q(filepath.Join(creds, "backend.role_id")) + `
    backend_secret_id_file = ` + q(filepath.Join(creds, "backend.secret_id")) + `
  }
}
`,
		args: []string{"-store", "consul", "-consul-addr", consul.Addr, "-redis-addr", redis.Addr},
		env:  []string{"AEGIR_CONSUL_PREFIX=" + prefix},
	})
	rec := &recordingTransport{}
	s.http.Transport = rec
	var taskIDs []string
	track := func(id string) string { taskIDs = append(taskIDs, id); return id }

	_, dbPort, _ := strings.Cut(db.Addr, ":")
	port, _ := strconv.Atoi(dbPort)
	var srv struct {
		Server struct{ ID string } `json:"server"`
		Task   task                `json:"task"`
	}
	if code := s.call("POST", "/servers", map[string]any{"name": "web1", "address": "127.0.0.1",
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
	if dbSvc == "" {
		t.Fatalf("no mariadb service in %+v", services)
	}
	if code := s.call("PUT", "/services/"+dbSvc+"/credentials", map[string]string{"username": db.AdminUser, "password": db.AdminPassword}, nil); code != 204 {
		t.Fatalf("put credentials: %d", code)
	}
	s.waitTask(track(srv.Task.ID))
	// Verify again now that the admin credentials are in Vault.
	var verify task
	if code := s.call("POST", "/servers/"+srv.Server.ID+"/tasks", map[string]any{"type": "verify-server"}, &verify); code != 202 {
		t.Fatalf("queue verify-server: %d", code)
	}
	s.waitTask(track(verify.ID))

	if code := s.call("POST", "/clients", map[string]any{"name": "acme"}, nil); code != 201 {
		t.Fatalf("create client: %d", code)
	}
	var plat struct {
		Task task `json:"task"`
	}
	if code := s.call("POST", "/platforms", map[string]any{"name": "static1", "path": staticPlatform(t, "vault site"),
		"web_server": "web1", "type": "static"}, &plat); code != 201 {
		t.Fatalf("create platform: %d", code)
	}
	s.waitTask(track(plat.Task.ID))

	const domain = "vault.example.test"
	var site struct {
		Site struct{ ID string } `json:"site"`
		Task task                `json:"task"`
	}
	if code := s.call("POST", "/sites", map[string]any{"domain": domain, "platform": "static1", "db_server": "web1", "client": "acme"}, &site); code != 201 {
		t.Fatalf("create site: %d", code)
	}
	s.waitTask(track(site.Task.ID))
	if code, body := s.eventually(domain, 200); code != 200 || !strings.Contains(body, "vault site") {
		t.Fatalf("%s answers %d %q", domain, code, body)
	}

	// The backup dumps as a throwaway user named after its task: the
	// database server's log ties the dump to the task, and so does the
	// task's log.
	db.Query(t, "SET GLOBAL log_output = 'TABLE'; SET GLOBAL general_log = 1")
	backup := s.queueSiteTask(site.Site.ID, "backup", nil)
	track(backup.ID)
	db.Query(t, "SET GLOBAL general_log = 0")
	if n := strings.TrimSpace(db.Query(t, "SELECT COUNT(*) FROM mysql.general_log WHERE user_host LIKE 't-"+backup.ID+"-%'")); n == "0" || n == "" {
		t.Errorf("the database server's log has no statement of a t-%s- user: %s", backup.ID,
			db.Query(t, "SELECT DISTINCT user_host FROM mysql.general_log"))
	}
	logOf := func(id string) string {
		req, _ := http.NewRequest("GET", "http://"+s.api+"/api/v1/tasks/"+id+"/log", nil)
		req.Header.Set("Authorization", "Bearer "+s.token)
		resp, err := s.http.Do(req)
		if err != nil {
			t.Fatalf("log of %s: %v", id, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("log of %s: %d %s", id, resp.StatusCode, b)
		}
		return string(b)
	}
	if l := logOf(backup.ID); !strings.Contains(l, "t-"+backup.ID+"-") {
		t.Errorf("backup log does not name a t-%s- user:\n%s", backup.ID, l)
	}

	root, err := vaultapi.NewClient(&vaultapi.Config{Address: v.Addr})
	if err != nil {
		t.Fatal(err)
	}
	root.SetToken(v.RootToken)
	password := func() string {
		t.Helper()
		sec, err := root.KVv2("secret").Get(t.Context(), "aegir/sites/"+site.Site.ID+"/db")
		if err != nil {
			t.Fatalf("the site's password in Vault: %v", err)
		}
		pw, _ := sec.Data["password"].(string)
		if len(pw) < 16 {
			t.Fatalf("the site's password in Vault is %d characters", len(pw))
		}
		return pw
	}
	// nowhere fails the test if secret is in Consul under the prefix, in a
	// task log or in an answer of the API.
	nowhere := func(what, secret string) {
		t.Helper()
		archived := false // the scan reads the archived task logs
		for key, val := range consulValues(t, consul.Addr, prefix) {
			if bytes.Contains(val, []byte(secret)) {
				t.Errorf("%s is in Consul at %s", what, key)
			}
			archived = archived || bytes.Contains(val, []byte("throwaway database user leased"))
		}
		if !archived {
			t.Errorf("no archived task log found in Consul under %s: the scan for %s proves nothing", prefix, what)
		}
		var list struct {
			Items []struct{ ID string } `json:"items"`
			Total int                   `json:"total"`
		}
		s.call("GET", "/tasks?limit=1000", nil, &list)
		ids := map[string]bool{}
		for _, tk := range list.Items {
			ids[tk.ID] = true
		}
		for _, id := range taskIDs {
			if !ids[id] {
				t.Errorf("task %s missing from GET /tasks (%d listed of %d)", id, len(list.Items), list.Total)
			}
		}
		for id := range ids {
			if strings.Contains(logOf(id), secret) {
				t.Errorf("%s is in the log of task %s", what, id)
			}
		}
		if n := rec.contains(secret); n > 0 {
			t.Errorf("%s is in %d answers of the API", what, n)
		}
	}
	first := password()
	nowhere("the site's database password", first)
	nowhere("the database server's admin password", db.AdminPassword)

	// A new password: Vault has it, the site still answers, and neither the
	// old nor the new one leaked.
	rot := s.queueSiteTask(site.Site.ID, "rotate-credentials", nil)
	track(rot.ID)
	second := password()
	if second == first {
		t.Fatal("rotate-credentials left the password in Vault unchanged")
	}
	if code, _ := s.eventually(domain, 200); code != 200 {
		t.Fatalf("%s answers %d after rotate-credentials", domain, code)
	}
	nowhere("the site's database password", first)
	nowhere("the site's new database password", second)
}
