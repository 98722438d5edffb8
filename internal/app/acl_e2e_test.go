package app_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/aegirhq/aegir/internal/testharness"
)

// The one Nomad client of TestServerWithACLs, and the namespaces of its
// negative subtests (named so that none starts with "aegir", see below).
const (
	aclNode           = "aegir-acl"
	nsWithoutDispatch = "nodispatch"
	nsWithoutService  = "noservice"
)

// TestServerWithACLs runs the production entry point, `aegir server`, on
// a Consul and a Nomad with their ACLs on (default deny), as production
// runs them, holding only the tokens an operator makes with
// ops/consul/setup-acl.sh and ops/nomad/setup-acl.sh, and with the
// settings the README names. One Nomad cluster (a server and client
// aegir-acl); each subtest is its own installation: its own Consul, Redis
// (with a password) and Nomad namespace, since two aegirs on one Consul
// would each take the other's published sites for stale ones.
func TestServerWithACLs(t *testing.T) {
	t.Parallel()
	cluster := testharness.Nomad(t, testharness.NomadOptions{NodeNames: []string{aclNode}, ACL: true})
	ac := nomadapi.DefaultConfig()
	ac.Address, ac.SecretID = cluster.HTTPAddr, cluster.ManagementToken // the test's own view
	nomad, err := nomadapi.NewClient(ac)
	if err != nil {
		t.Fatal(err)
	}
	// The namespaces, made first: the negative tests', and one whose name
	// starts with "aegir", which must not stop ops/nomad/setup-acl.sh from
	// creating "aegir" (`nomad namespace status` matches by prefix: with
	// one match it succeeds).
	for _, ns := range []string{nsWithoutDispatch, nsWithoutService, "aegir-staging"} {
		if _, err := nomad.Namespaces().Register(&nomadapi.Namespace{Name: ns}, nil); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("LeastPrivilege", func(t *testing.T) { t.Parallel(); testACLLeastPrivilege(t, cluster, nomad) })
	t.Run("NomadWithoutDispatch", func(t *testing.T) { t.Parallel(); testACLNomadWithoutDispatch(t, cluster) })
	t.Run("ConsulWithoutServiceWrite", func(t *testing.T) { t.Parallel(); testACLConsulWithoutServiceWrite(t, cluster) })
}

// With the two setup scripts' tokens only (Consul's through
// CONSUL_HTTP_TOKEN_FILE, Nomad's as token in the nomad block, in the
// namespace the script made), a site goes through install, backup,
// disable, enable and delete, every task dispatched in that namespace and
// succeeding; routing publishes and removes it in Consul's catalog; a
// queue pass forced through its Nomad periodic job runs; and the server's
// log has no refusal in it, nor either token.
func testACLLeastPrivilege(t *testing.T, cluster *testharness.NomadCluster, nomad *nomadapi.Client) {
	const ns = "aegir"
	consul := testharness.ConsulACL(t)
	consulTokens := runSetupACL(t, "consul", "CONSUL_HTTP_ADDR="+consul.Addr, "CONSUL_HTTP_TOKEN="+consul.ManagementToken)
	nomadTokens := runSetupACL(t, "nomad", "NOMAD_ADDR="+cluster.HTTPAddr, "NOMAD_TOKEN="+cluster.ManagementToken, "NOMAD_NAMESPACE="+ns)
	nomadToken := readToken(t, filepath.Join(nomadTokens, "aegir.token"))
	consulToken := readToken(t, filepath.Join(consulTokens, "aegir.token"))

	s := startACLServer(t, aclServer{consul: consul, nomad: cluster, namespace: ns, nomadTokenInConfig: nomadToken,
		env: []string{"CONSUL_HTTP_TOKEN_FILE=" + filepath.Join(consulTokens, "aegir.token")}})
	inNamespace := func(tk runnerTask) {
		t.Helper()
		jobID, ok := strings.CutPrefix(tk.Runner, "nomad:")
		if !ok || jobID == "" {
			t.Fatalf("task %s (%s) runner %q, want nomad:<job id>", tk.ID, tk.Type, tk.Runner)
		}
		allocs, _, err := nomad.Jobs().Allocations(jobID, true, &nomadapi.QueryOptions{Namespace: ns})
		if err != nil || len(allocs) != 1 {
			t.Fatalf("task %s (%s): job %s in namespace %s: %d allocations, %v", tk.ID, tk.Type, jobID, ns, len(allocs), err)
		}
		if a := allocs[0]; a.NodeName != aclNode || a.ClientStatus != nomadapi.AllocClientStatusComplete {
			t.Errorf("task %s (%s) ran on %q (%s), want %s (complete)", tk.ID, tk.Type, a.NodeName, a.ClientStatus, aclNode)
		}
	}

	const domain = "acl.example.test"
	siteID, setupTasks := placeSite(s, "web-acl", domain)
	for _, id := range setupTasks {
		s.waitTask(id)
		inNamespace(s.taskState(id))
	}
	if code, body := s.eventually(domain, 200); code != 200 || !strings.Contains(body, "served under ACLs") {
		t.Fatalf("%s answers %d %q", domain, code, body)
	}
	cc := consulClient(t, consul)
	waitRouted(t, cc, domain, consulapi.HealthPassing)

	inNamespace(s.queueSiteTask(siteID, "backup", nil))
	inNamespace(s.queueSiteTask(siteID, "disable", nil))
	waitRouted(t, cc, domain, "")
	inNamespace(s.queueSiteTask(siteID, "enable", nil))
	waitRouted(t, cc, domain, consulapi.HealthPassing)

	// A pass of the stats queue, forced through its periodic job as Nomad
	// would start it on schedule: the job reads its API token with its
	// workload identity and drives the pass through the API.
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	const queueJob = "aegir-queue-stats"
	nsq := (&nomadapi.QueryOptions{Namespace: ns}).WithContext(ctx)
	for {
		if _, _, err := nomad.Jobs().Info(queueJob, nsq); err == nil {
			break
		} else if ctx.Err() != nil {
			t.Fatalf("queue job %s not registered in namespace %s: %v", queueJob, ns, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	forced := time.Now()
	evalID, _, err := nomad.Jobs().PeriodicForce(queueJob, (&nomadapi.WriteOptions{Namespace: ns}).WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	ev, _, err := nomad.Evaluations().Info(evalID, nsq)
	if err != nil {
		t.Fatal(err)
	}
	if a := waitAllocEnded(ctx, t, nomad, ns, ev.JobID); a.ClientStatus != nomadapi.AllocClientStatusComplete {
		t.Fatalf("forced pass %s: %s", ev.JobID, a.ClientStatus)
	}
	var st struct {
		LastPass *struct {
			State   string    `json:"state"`
			Error   string    `json:"error"`
			Started time.Time `json:"started"`
			Failed  int       `json:"failed"`
		} `json:"last_pass"`
	}
	if code := s.call("GET", "/queues/stats", nil, &st); code != 200 {
		t.Fatalf("GET /queues/stats: %d", code)
	}
	if p := st.LastPass; p == nil || p.State != "done" || p.Failed != 0 || p.Started.Before(forced.Add(-time.Second)) {
		t.Errorf("the forced stats pass: %+v", p)
	}

	inNamespace(s.queueSiteTask(siteID, "delete", nil))
	waitRouted(t, cc, domain, "")
	if code, _ := s.eventually(domain, 404); code != 404 {
		t.Errorf("deleted %s answers %d", domain, code)
	}

	logs, _ := os.ReadFile(s.logsPath)
	if bad := refusals(string(logs)); len(bad) > 0 {
		t.Errorf("aegir server logged refusals with the setup scripts' tokens:\n%s", strings.Join(bad, "\n"))
	}
	for name, secret := range map[string]string{"Consul": consulToken, "Nomad": nomadToken} {
		if strings.Contains(string(logs), secret) {
			t.Errorf("the %s token is in aegir server's log", name)
		}
	}
}

// With the policy of ops/nomad/aegir-policy.hcl short of "dispatch-job"
// (in NOMAD_TOKEN), the first task fails at once, not after a timeout,
// with error code nomad_permission, an explanation naming the capability
// and the setting, and a fix hint naming the policy.
func testACLNomadWithoutDispatch(t *testing.T, cluster *testharness.NomadCluster) {
	const ns = nsWithoutDispatch
	consul := testharness.ConsulACL(t)
	consulTokens := runSetupACL(t, "consul", "CONSUL_HTTP_ADDR="+consul.Addr, "CONSUL_HTTP_TOKEN="+consul.ManagementToken)
	nomadToken := cluster.ACLToken(t, "no-dispatch", nomadPolicy(t, ns, `"dispatch-job",`))
	s := startACLServer(t, aclServer{consul: consul, nomad: cluster, namespace: ns,
		env: []string{"CONSUL_HTTP_TOKEN=" + readToken(t, filepath.Join(consulTokens, "aegir.token")), "NOMAD_TOKEN=" + nomadToken}})

	var srv struct {
		Task task `json:"task"`
	}
	if code := s.call("POST", "/servers", map[string]any{"name": "web-nd", "address": "127.0.0.1", "nomad_node": aclNode,
		"services": []map[string]any{{"kind": "builtin", "port": s.sitesPort()}, {"kind": "sqlite"}}}, &srv); code != 201 {
		t.Fatalf("create server: %d", code)
	}
	start := time.Now()
	tk := s.waitDone(srv.Task.ID)
	t.Logf("the refused task ended %s after it was queued: %s (hint: %s)", time.Since(start).Round(time.Millisecond), tk.Explanation, tk.FixHint)
	if tk.Status != "failed" || tk.ErrorCode != "nomad_permission" {
		t.Fatalf("task %s: %s %s, want failed nomad_permission: %s", tk.ID, tk.Status, tk.ErrorCode, tk.Explanation)
	}
	for _, want := range []string{`capability "dispatch-job" in namespace "` + ns + `"`, "nomad.token (NOMAD_TOKEN)", "ops/nomad/aegir-policy.hcl"} {
		if !strings.Contains(tk.Explanation, want) {
			t.Errorf("explanation lacks %q: %s", want, tk.Explanation)
		}
	}
	if !strings.Contains(tk.FixHint, "ops/nomad/aegir-policy.hcl") || !strings.Contains(tk.FixHint, "nomad.token") {
		t.Errorf("fix hint: %s", tk.FixHint)
	}
	if strings.Contains(tk.Explanation+tk.FixHint, nomadToken) {
		t.Error("the task's explanation holds the Nomad token")
	}
}

// With the policy of ops/consul/aegir-policy.hcl short of its service
// rule (in store.consul.token), the store works and the site is installed,
// but publishing it is refused: aegir's log says so as an error naming
// the permission, the setting and the policy, and it is not published.
func testACLConsulWithoutServiceWrite(t *testing.T, cluster *testharness.NomadCluster) {
	const ns = nsWithoutService
	consul := testharness.ConsulACL(t)
	policy, err := os.ReadFile(filepath.Join("..", "..", "ops", "consul", "aegir-policy.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	rules, _, ok := strings.Cut(string(policy), `service "aegir-site" {`)
	if !ok {
		t.Fatal(`ops/consul/aegir-policy.hcl has no service "aegir-site" rule`)
	}
	consulToken := consul.ACLToken(t, "no-service", rules)
	nomadToken := cluster.ACLToken(t, "full", nomadPolicy(t, ns, ""))
	s := startACLServer(t, aclServer{consul: consul, consulTokenInConfig: consulToken, nomad: cluster, namespace: ns,
		nomadTokenInConfig: nomadToken})

	const domain = "noservice.example.test"
	_, tasks := placeSite(s, "web-ns", domain)
	for _, id := range tasks {
		s.waitTask(id)
	}
	want := []string{"level=ERROR", "Consul ACL token lacks permission to register " + domain,
		"store.consul.token", "ops/consul/aegir-policy.hcl", `'service:write' on \"aegir-site\"`}
	deadline := time.Now().Add(20 * time.Second)
	var line string
	for line == "" {
		logs, _ := os.ReadFile(s.logsPath)
		for l := range strings.SplitSeq(string(logs), "\n") {
			if strings.Contains(l, "lacks permission to register") {
				line = l
				break
			}
		}
		if line == "" && time.Now().After(deadline) {
			t.Fatal("aegir server logged no refused registration of the site")
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Log(line)
	for _, w := range want {
		if !strings.Contains(line, w) {
			t.Errorf("the logged refusal lacks %q", w)
		}
	}
	if strings.Contains(line, consulToken) {
		t.Error("the logged refusal holds the Consul token")
	}
	entries, _, err := consulClient(t, consul).Health().Service("aegir-site", "", false, nil)
	if err != nil || len(entries) != 0 {
		t.Errorf("aegir-site instances: %d, %v; want none", len(entries), err)
	}
}

// aclServer is how startACLServer configures one `aegir server`.
type aclServer struct {
	consul *testharness.ConsulAgent
	// consulTokenInConfig is store.consul.token; "" leaves it to env.
	consulTokenInConfig string
	nomad               *testharness.NomadCluster
	// namespace is nomad.namespace.
	namespace string
	// nomadTokenInConfig is nomad.token; "" leaves it to env.
	nomadTokenInConfig string
	// env is the process's CONSUL_* and NOMAD_* variables.
	env []string
}

// startACLServer starts `aegir server` with the Consul store, the Nomad
// executor and a Redis of its own with a password (whose back ends get it
// through their job's Nomad variable), configured by o.
func startACLServer(t *testing.T, o aclServer) *serverProcess {
	t.Helper()
	const password = "acl-e2e-Pa55word"
	redis := testharness.RedisWith(t, testharness.RedisOptions{Password: password})
	pwFile := filepath.Join(t.TempDir(), "redis-password")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	q := strconv.Quote
	cfg := "store {\n  backend = \"consul\"\n  consul {\n    address = " + q(o.consul.Addr) + "\n"
	if o.consulTokenInConfig != "" {
		cfg += "    token = " + q(o.consulTokenInConfig) + "\n"
	}
	cfg += "  }\n}\nexecutor {\n  kind = \"nomad\"\n}\n" +
		"nomad {\n  address = " + q(o.nomad.HTTPAddr) + "\n  namespace = " + q(o.namespace) + "\n  binary = " + q(aegirBin) + "\n"
	if o.nomadTokenInConfig != "" {
		cfg += "  token = " + q(o.nomadTokenInConfig) + "\n"
	}
	cfg += "}\nredis {\n  address = " + q(redis.Addr) + "\n  password_file = " + q(pwFile) + "\n}\n"
	return startConfiguredServer(t, serverOptions{config: cfg, env: o.env})
}

// placeSite creates, through the API, a web server on the Nomad node
// aclNode serving with the process's builtin web server, a client, a static
// platform and a site on them, and returns the site's id and the tasks
// queued on the way (the server's and platform's verification, the
// site's install), each waited for before the next is created.
func placeSite(s *serverProcess, server, domain string) (string, []string) {
	t := s.t
	t.Helper()
	var srv struct {
		Task task `json:"task"`
	}
	if code := s.call("POST", "/servers", map[string]any{"name": server, "address": "127.0.0.1", "nomad_node": aclNode,
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
	if code := s.call("POST", "/platforms", map[string]any{"name": "static-" + server, "path": staticPlatform(t, "served under ACLs"),
		"web_server": server, "type": "static"}, &plat); code != 201 {
		t.Fatalf("create platform: %d", code)
	}
	s.waitTask(plat.Task.ID)
	var site struct {
		Site struct{ ID string } `json:"site"`
		Task task                `json:"task"`
	}
	if code := s.call("POST", "/sites", map[string]any{"domain": domain, "platform": "static-" + server, "db_server": server, "client": "acme"}, &site); code != 201 {
		t.Fatalf("create site: %d", code)
	}
	return site.Site.ID, []string{srv.Task.ID, plat.Task.ID, site.Task.ID}
}

// runSetupACL runs ops/<agent>/setup-acl.sh as an operator would, with env
// (the agent's address and management token), and returns the directory
// it wrote the tokens to. The agent's binary comes from the harness's
// cache, as the script would find it.
func runSetupACL(t *testing.T, agent string, env ...string) string {
	t.Helper()
	bin, err := testharness.BinPath(agent)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), agent+"-tokens")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join("..", "..", "ops", agent, "setup-acl.sh"), out)
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); !strings.HasPrefix(name, "CONSUL_") && !strings.HasPrefix(name, "NOMAD_") &&
			!strings.HasPrefix(name, "AEGIR_CONSUL_") && name != "PATH" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Env = append(cmd.Env, "PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ops/%s/setup-acl.sh: %v\n%s", agent, err, b)
	}
	return out
}

func readToken(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		t.Fatalf("%s is empty", path)
	}
	return tok
}

// nomadPolicy is ops/nomad/aegir-policy.hcl for namespace ns, without the
// line drop (e.g. `"dispatch-job",`) unless drop is "".
func nomadPolicy(t *testing.T, ns, drop string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "ops", "nomad", "aegir-policy.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	p, n := string(b), 0
	p = strings.Replace(p, "\nnamespace \"default\" {", "\nnamespace "+strconv.Quote(ns)+" {", 1)
	if drop != "" {
		var kept []string
		for l := range strings.SplitSeq(p, "\n") {
			if strings.TrimSpace(l) == drop {
				n++
				continue
			}
			kept = append(kept, l)
		}
		if n != 1 {
			t.Fatalf("ops/nomad/aegir-policy.hcl has %d lines %s, want 1", n, drop)
		}
		p = strings.Join(kept, "\n")
	}
	if !strings.Contains(p, "namespace "+strconv.Quote(ns)+" {") {
		t.Fatal(`ops/nomad/aegir-policy.hcl has no namespace "default" rule`)
	}
	return p
}

// consulClient is the test's own view of a ConsulACL agent.
func consulClient(t *testing.T, a *testharness.ConsulAgent) *consulapi.Client {
	t.Helper()
	c, err := consulapi.NewClient(&consulapi.Config{Address: a.Addr, Token: a.ManagementToken})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitRouted waits until the aegir-site instance of domain has the
// aggregated health status, or, with status "", until there is none.
func waitRouted(t *testing.T, c *consulapi.Client, domain, status string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		entries, _, err := c.Health().Service("aegir-site", "", false, nil)
		var got []string
		for _, e := range entries {
			if e.Service.Meta["domain"] == domain {
				got = append(got, e.Checks.AggregatedStatus())
			}
		}
		if err == nil && (status == "" && len(got) == 0 || len(got) == 1 && got[0] == status) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("routing of %s: instances %v (err %v), want %q", domain, got, err, status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitAllocEnded waits for the allocation of job to end.
func waitAllocEnded(ctx context.Context, t *testing.T, nomad *nomadapi.Client, ns, jobID string) *nomadapi.AllocationListStub {
	t.Helper()
	var index uint64
	for ctx.Err() == nil {
		allocs, meta, err := nomad.Jobs().Allocations(jobID, true, (&nomadapi.QueryOptions{Namespace: ns, WaitIndex: index, WaitTime: 5 * time.Second}).WithContext(ctx))
		if err != nil {
			t.Fatalf("allocations of %s: %v", jobID, err)
		}
		index = meta.LastIndex
		for _, a := range allocs {
			switch a.ClientStatus {
			case nomadapi.AllocClientStatusComplete, nomadapi.AllocClientStatusFailed, nomadapi.AllocClientStatusLost:
				return a
			}
		}
	}
	t.Fatalf("job %s never ended", jobID)
	return nil
}

// refusals are the lines of an aegir log that report an ACL refusal, in
// aegir's words or Consul's and Nomad's.
func refusals(log string) []string {
	var out []string
	for l := range strings.SplitSeq(log, "\n") {
		for _, mark := range []string{"Permission denied", "lacks permission", "ACL token", "ACL not found", "nomad_permission", "refused"} {
			if strings.Contains(l, mark) {
				out = append(out, l)
				break
			}
		}
	}
	return out
}
