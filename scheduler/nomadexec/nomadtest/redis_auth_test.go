package nomadtest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hashicorp/nomad/api"
	"github.com/redis/go-redis/v9"

	"github.com/aegirhq/aegir/internal/config"
	"github.com/aegirhq/aegir/internal/testharness"
	"github.com/aegirhq/aegir/scheduler/nomadexec"
)

// TestNomadRedisPasswordAndTLS runs back ends on Nomad against a Redis
// that wants a password and TLS: they log in with the password from the
// job's Nomad Variable and the CA file named in the job, and the password
// is nowhere in the job, its dispatched children's payloads or the logs.
func TestNomadRedisPasswordAndTLS(t *testing.T) {
	t.Parallel()
	const password = "nomad-back-end-Pa55word"
	srv := testharness.RedisWith(t, testharness.RedisOptions{Password: password, TLS: true})
	rc := config.RedisConfig{Address: srv.Addr, Password: password, TLS: config.RedisTLSConfig{Enabled: true, CAFile: srv.TLS.CAFile}}
	opts, err := rc.ClientOptions()
	must(t, err)
	opts.ContextTimeoutEnabled = true
	c := &cluster{nomad: testharness.Nomad(t, testharness.NomadOptions{Clients: 1}), redis: srv, rdb: redis.NewClient(opts)}
	t.Cleanup(func() { _ = c.rdb.Close() })
	ac := api.DefaultConfig()
	ac.Address = c.nomad.HTTPAddr
	c.api, err = api.NewClient(ac)
	must(t, err)

	// setup verifies a platform through Nomad and fails unless that task
	// succeeded, which needs the back end's result from Redis.
	b := setup(t, c, options{nomad: func(nc *nomadexec.Config) { nc.Redis = rc }})
	_, task := b.newSite(t, "aegir-a")
	done := b.succeed(t, task, nil)

	server := b.servers["aegir-a"]
	v, _, err := c.api.Variables().Read(nomadexec.TaskVarPath(server.Name), nil)
	must(t, err)
	if v.Items[nomadexec.RedisPasswordItem] != password {
		t.Errorf("the job's variable has items %v, not the password", keys(v.Items))
	}

	job, _, err := c.api.Jobs().Info(nomadexec.TaskJobID(server.Name), nil)
	must(t, err)
	var dumps []string
	js, _ := json.Marshal(job)
	dumps = append(dumps, string(js))
	children, _, err := c.api.Jobs().PrefixList(nomadexec.TaskJobID(server.Name) + "/")
	must(t, err)
	if len(children) == 0 {
		t.Fatal("no dispatched children")
	}
	for _, ch := range children {
		child, _, err := c.api.Jobs().Info(ch.ID, nil)
		must(t, err)
		js, _ := json.Marshal(child)
		dumps = append(dumps, string(js), string(child.Payload))
	}
	lines, _, err := b.d.TaskLogs().Read(context.Background(), done.ID, "", 1000, 0)
	must(t, err)
	for _, l := range lines {
		dumps = append(dumps, l.Msg)
	}
	for _, d := range dumps {
		if strings.Contains(d, password) {
			t.Fatalf("the password is in %.300s", d)
		}
	}
	if !strings.Contains(dumps[0], "redis-password") || !strings.Contains(dumps[0], srv.TLS.CAFile) {
		t.Errorf("the job does not point the back end at its password file and CA: %.2000s", dumps[0])
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
