package nomadtest

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
	"github.com/redis/go-redis/v9"

	"github.com/aegirhq/aegir/dashboard"
	"github.com/aegirhq/aegir/internal/config"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/locks"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/testharness"
	"github.com/aegirhq/aegir/scheduler/nomadexec"
	"github.com/aegirhq/aegir/scheduler/queue"
)

// aclRedisPassword is the password of the ACL tests' Redis: back ends get
// it from their job's Nomad Variable, which aegir writes with its token.
const aclRedisPassword = "acl-back-end-Pa55word"

// TestNomadACL runs aegir against Nomad with ACLs on, as production runs
// it, on one cluster (a server and client aegir-a) and one Redis with a
// password.
func TestNomadACL(t *testing.T) {
	t.Parallel()
	srv := testharness.RedisWith(t, testharness.RedisOptions{Password: aclRedisPassword})
	rc := config.RedisConfig{Address: srv.Addr, Password: aclRedisPassword}
	opts, err := rc.ClientOptions()
	must(t, err)
	opts.ContextTimeoutEnabled = true
	c := &cluster{nomad: testharness.Nomad(t, testharness.NomadOptions{Clients: 1, ACL: true}), redis: srv, rdb: redis.NewClient(opts)}
	t.Cleanup(func() { _ = c.rdb.Close() })
	ac := api.DefaultConfig()
	ac.Address, ac.SecretID = c.nomad.HTTPAddr, c.nomad.ManagementToken // the test's own view
	c.api, err = api.NewClient(ac)
	must(t, err)
	token := setupNomadACL(t, c.nomad)

	// Denied first and alone: it checks that a refused registration leaves
	// no aegir-queue-cron job, which QueuesWithPolicy registers in the same
	// namespace.
	t.Run("Denied", func(t *testing.T) { testACLDenied(t, c) })
	t.Run("PolicyIsEnough", func(t *testing.T) { t.Parallel(); testACLPolicyIsEnough(t, c, rc, token) })
	t.Run("QueuesWithPolicy", func(t *testing.T) { t.Parallel(); testACLQueues(t, c, token) })
}

// setupNomadACL runs ops/nomad/setup-acl.sh with the management token, as
// an operator would, twice (a second run keeps the token), and returns
// the secret it wrote.
func setupNomadACL(t *testing.T, n *testharness.NomadCluster) string {
	t.Helper()
	bin, err := testharness.BinPath("nomad")
	must(t, err)
	out := filepath.Join(t.TempDir(), "tokens")
	run := func() string {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", filepath.Join("..", "..", "..", "ops", "nomad", "setup-acl.sh"), out)
		cmd.Env = append(os.Environ(), "NOMAD_ADDR="+n.HTTPAddr, "NOMAD_TOKEN="+n.ManagementToken, "NOMAD_NAMESPACE=",
			"PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"))
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("ops/nomad/setup-acl.sh: %v\n%s", err, b)
		}
		p := filepath.Join(out, "aegir.token")
		fi, err := os.Stat(p)
		must(t, err)
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("aegir.token has mode %v, want 0600", fi.Mode().Perm())
		}
		s, err := os.ReadFile(p)
		must(t, err)
		tok := strings.TrimSpace(string(s))
		if tok == "" || strings.Contains(string(b), tok) || strings.Contains(string(b), n.ManagementToken) {
			t.Fatalf("ops/nomad/setup-acl.sh wrote token %.8q and printed:\n%s", tok, b)
		}
		return tok
	}
	tok := run()
	if run() != tok {
		t.Fatal("a second run of ops/nomad/setup-acl.sh replaced the token")
	}
	return tok
}

// With only the token of ops/nomad/aegir-policy.hcl, aegir registers the
// server's job, puts the back ends' Redis password in its variable,
// dispatches tasks, follows them and reads their results, and purges the
// finished children.
func testACLPolicyIsEnough(t *testing.T, c *cluster, rc config.RedisConfig, token string) {
	// setup verifies a platform through Nomad and fails unless it succeeded.
	b := setup(t, c, options{nomad: func(nc *nomadexec.Config) {
		nc.Token, nc.Redis, nc.PurgeAfter = token, rc, time.Millisecond
	}})
	_, task := b.newSite(t, "aegir-a")
	done := b.succeed(t, task, nil)
	if a := c.allocOf(t, done.Runner); a.NodeName != "aegir-a" {
		t.Errorf("install ran on %s, want aegir-a", a.NodeName)
	}
	n, err := b.exec.Purge(context.Background())
	must(t, err)
	if n == 0 {
		t.Error("purge removed no finished dispatched job")
	}
}

// With the same token, the queue jobs are registered with their API token
// in their variables, a forced pass reads it (workload identity) and
// reaches the aegir API, and a disabled queue loses its job and variable.
func testACLQueues(t *testing.T, c *cluster, token string) {
	ctx := context.Background()
	b := setup(t, c, options{noVerify: true})
	queues, err := queue.New(queue.Config{Store: b.st, Locker: locks.NewMemory(), Logger: testLogger(t)})
	must(t, err)
	srv, err := dashboard.New(&dashboard.Config{Store: b.st, Queues: queues, Logger: testLogger(t)})
	must(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	apiAddr := "http://" + ln.Addr().String()
	apiToken, _, err := b.st.EnsureAdmin(ctx)
	must(t, err)
	e, err := nomadexec.New(nomadexec.Config{
		Address: c.nomad.HTTPAddr, Token: token, Binary: aegirBin, DataDir: b.dataDir, RedisAddr: c.redis.Addr,
		Results: nomadexec.NewRedisResults(c.rdb, ""), APIAddr: apiAddr, QueueToken: apiToken, Logger: testLogger(t),
	})
	must(t, err)
	cron := []nomadexec.QueueSettings{{Name: "cron", Schedule: "*/5 * * * *"}}
	must(t, e.RegisterQueueJobs(ctx, cron))
	forced := time.Now().UTC()
	child, err := e.PeriodicForce(ctx, "cron")
	must(t, err)
	if a := waitAllocDone(t, c, child); a.ClientStatus != api.AllocClientStatusComplete {
		t.Fatalf("queue pass: %s %s", a.ClientStatus, taskEvents(a.TaskStates["pass"]))
	}
	var st queue.Status
	if code := apiGet(t, apiAddr+"/api/v1/queues/cron", apiToken, &st); code != 200 {
		t.Fatalf("GET queue cron: %d", code)
	}
	if st.LastPass == nil || st.LastPass.Started.Before(forced.Add(-time.Second)) {
		t.Errorf("the forced pass was not recorded: %+v", st.LastPass)
	}
	cron[0].Disabled = true
	must(t, e.RegisterQueueJobs(ctx, cron))
	if v, _, err := c.api.Variables().Peek(nomadexec.QueueVarPath("cron"), nil); err != nil || v != nil {
		t.Errorf("disabled queue kept its token variable: %v %v", v != nil, err)
	}
}

// A token that is missing, unknown, or short of one rule of the policy
// gets an error wrapping ErrNomadPermissionDenied that names the request,
// the setting and the rule, and a task that cannot be dispatched fails
// with a fix hint saying so. Nothing is registered by a refused request.
func testACLDenied(t *testing.T, c *cluster) {
	ctx := context.Background()
	b := setup(t, c, options{noVerify: true})
	srv := b.servers["aegir-a"]
	info := provision.ServerInfo{ID: srv.ID, Name: srv.Name, Address: srv.Address, NomadNode: srv.NomadNode}
	jobID := nomadexec.TaskJobID(srv.Name)

	readOnly := c.nomad.ACLToken(t, "read-only", `namespace "default" { policy = "read" }`)
	noVars := c.nomad.ACLToken(t, "no-variables", `namespace "default" { capabilities = ["read-job", "parse-job", "submit-job", "dispatch-job", "list-jobs"] }`)
	const unknown = "7f3e2d1c-0b9a-4c8d-9e7f-6a5b4c3d2e1f"
	executor := func(token string) *nomadexec.Executor {
		e, err := nomadexec.New(nomadexec.Config{
			Address: c.nomad.HTTPAddr, Token: token, Binary: aegirBin, DataDir: b.dataDir,
			RedisAddr: c.redis.Addr, Results: nomadexec.NewRedisResults(c.rdb, ""), Logger: testLogger(t),
		})
		must(t, err)
		return e
	}
	check := func(t *testing.T, err error, token string, want ...string) {
		t.Helper()
		if !errors.Is(err, nomadexec.ErrNomadPermissionDenied) {
			t.Fatalf("err = %v, want one wrapping ErrNomadPermissionDenied", err)
		}
		var ae *nomadexec.NomadACLError
		if !errors.As(err, &ae) {
			t.Fatalf("err = %#v, want a *NomadACLError", err)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error lacks %q:\n%v", w, err)
			}
		}
		if token != "" && strings.Contains(err.Error(), token) {
			t.Errorf("error holds the token: %v", err)
		}
		t.Log(err)
	}

	t.Run("NoToken", func(t *testing.T) {
		_, err := executor("").EnsureServerJob(ctx, info)
		check(t, err, "", "Nomad refused to read Nomad job "+jobID, "no Nomad token is set",
			"nomad.token (or NOMAD_TOKEN)", "ops/nomad/aegir-policy.hcl", "Nomad said: Permission denied")
	})
	t.Run("UnknownToken", func(t *testing.T) {
		_, err := executor(unknown).EnsureServerJob(ctx, info)
		check(t, err, unknown, "Nomad refused to read Nomad job "+jobID,
			"it does not know the token in nomad.token (NOMAD_TOKEN)", "ACL token not found")
	})
	t.Run("ReadOnly", func(t *testing.T) {
		_, err := executor(readOnly).EnsureServerJob(ctx, info)
		check(t, err, readOnly, "Nomad ACL token lacks permission to register Nomad job "+jobID,
			`the token in nomad.token (NOMAD_TOKEN) needs capability "submit-job" in namespace "default"`, "ops/nomad/aegir-policy.hcl")
		if _, _, err := c.api.Jobs().Info(jobID, nil); err == nil || !strings.Contains(err.Error(), "404") {
			t.Errorf("a refused registration left job %s (%v)", jobID, err)
		}
	})
	t.Run("NoVariables", func(t *testing.T) {
		e := executor(noVars)
		e.SetQueueToken("aegir_not-a-real-token")
		err := e.RegisterQueueJobs(ctx, []nomadexec.QueueSettings{{Name: "cron", Schedule: "*/5 * * * *"}})
		check(t, err, noVars, "Nomad ACL token lacks permission to read Nomad variable nomad/jobs/aegir-queue-cron",
			`needs variables capability "read" on nomad/jobs/aegir-queue-cron in namespace "default"`)
		if _, _, err := c.api.Jobs().Info(nomadexec.QueueJobID("cron"), nil); err == nil {
			t.Error("a queue job was registered without its token variable")
		}
	})
	// A task that cannot be dispatched (the job registers, the dispatch is
	// refused) fails at once, and its fix hint is about the token.
	t.Run("TaskFails", func(t *testing.T) {
		noDispatch := c.nomad.ACLToken(t, "no-dispatch", `namespace "default" { capabilities = ["read-job", "parse-job", "submit-job", "list-jobs"] }`)
		b := setup(t, c, options{noVerify: true, nomad: func(nc *nomadexec.Config) { nc.Token = noDispatch }})
		active, _, err := b.st.ActiveTasks(ctx)
		must(t, err)
		if len(active) == 0 {
			t.Fatal("no seed tasks queued")
		}
		b.start(t)
		for _, task := range active {
			done := b.waitDone(t, task.ID)
			if done.Status != domain.TaskFailed || done.ErrorCode != "nomad_permission" ||
				!strings.Contains(done.Explanation, `needs capability "dispatch-job" in namespace "default"`) ||
				!strings.Contains(done.FixHint, "ops/nomad/aegir-policy.hcl") {
				t.Errorf("task %s: %s %q %q (hint %q)", done.Type, done.Status, done.ErrorCode, done.Explanation, done.FixHint)
			}
			if strings.Contains(done.Explanation, noDispatch) {
				t.Errorf("the explanation holds the token: %s", done.Explanation)
			}
		}
	})
}
