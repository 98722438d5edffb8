package app_test

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/aegirhq/aegir/internal/testharness"
	"github.com/aegirhq/aegir/scheduler/nomadexec"
)

// TestQueueScheduleOnNomad: under Nomad each queue's periodic job runs a
// pass every interval of the queue's settings, and `PUT /queues/<name>`
// (aegir queue set) re-registers it: a new interval changes the job's
// cron line, disabling the queue removes its job, enabling it brings it
// back.
func TestQueueScheduleOnNomad(t *testing.T) {
	t.Parallel()
	cluster := testharness.Nomad(t, testharness.NomadOptions{})
	consul := testharness.SharedConsul(t)
	redis := testharness.Redis(t)
	prefix := testharness.UniquePrefix(t)
	s := startConfiguredServer(t, serverOptions{
		config: "nomad {\n  binary = " + strconv.Quote(aegirBin) + "\n}\n",
		args:   []string{"-store", "consul", "-consul-addr", consul.Addr, "-redis-addr", redis.Addr, "-executor", "nomad"},
		env:    []string{"NOMAD_ADDR=" + cluster.HTTPAddr, "AEGIR_CONSUL_PREFIX=" + prefix},
	})
	q := newQueueJobs(t, cluster.HTTPAddr, time.Minute)

	// The defaults: backup every hour (each site daily), stats every 30m.
	hourly, _ := nomadexec.QueueSchedule("backup", time.Hour)
	q.cronOf("backup", hourly)
	q.cronOf("stats", "*/30 * * * *")
	q.cronOf("cron", "*/5 * * * *")

	q.set(s.devProcess, "backup", func(m map[string]any) { m["interval"] = "6h" })
	every6h, exact := nomadexec.QueueSchedule("backup", 6*time.Hour)
	if !exact {
		t.Fatalf("6h has no exact cron line: %q", every6h)
	}
	q.cronOf("backup", every6h)

	// Nomad takes a cron line with seconds (7 fields) for short intervals.
	q.set(s.devProcess, "verify-backup", func(m map[string]any) { m["interval"] = "30s" })
	q.cronOf("verify-backup", "*/30 * * * * * *")
	q.set(s.devProcess, "verify-backup", func(m map[string]any) { m["interval"] = "24h" })
	daily, _ := nomadexec.QueueSchedule("verify-backup", 24*time.Hour)
	q.cronOf("verify-backup", daily)

	q.set(s.devProcess, "stats", func(m map[string]any) { m["enabled"] = false })
	q.cronOf("stats", "")
	q.set(s.devProcess, "stats", func(m map[string]any) { m["enabled"], m["interval"] = true, "15m" })
	q.cronOf("stats", "*/15 * * * *")
}

// TestQueueScheduleOnNomadTwoServers: a queue's settings changed through
// the aegir server that does not lead still reach its Nomad job: the
// leader polls the settings.
func TestQueueScheduleOnNomadTwoServers(t *testing.T) {
	t.Parallel()
	cluster := testharness.Nomad(t, testharness.NomadOptions{})
	consul := testharness.SharedConsul(t)
	redis := testharness.Redis(t)
	prefix := testharness.UniquePrefix(t)
	o := serverOptions{
		config:  "nomad {\n  binary = " + strconv.Quote(aegirBin) + "\n}\n",
		args:    []string{"-store", "consul", "-consul-addr", consul.Addr, "-redis-addr", redis.Addr, "-executor", "nomad"},
		env:     []string{"NOMAD_ADDR=" + cluster.HTTPAddr, "AEGIR_CONSUL_PREFIX=" + prefix},
		dataDir: filepath.Join(t.TempDir(), "data"), // shared: one admin token, one session key
	}
	a := startConfiguredServer(t, o)
	b := startConfiguredServer(t, o)
	q := newQueueJobs(t, cluster.HTTPAddr, 2*time.Minute)
	q.cronOf("stats", "*/30 * * * *")
	follower := a
	if !b.leading() {
		follower = b
	}
	if follower.leading() {
		t.Fatal("both servers lead")
	}
	q.set(follower.devProcess, "stats", func(m map[string]any) { m["interval"] = "20m" })
	start := time.Now()
	q.cronOf("stats", "*/20 * * * *")
	t.Logf("a change through the follower reached Nomad after %s", time.Since(start).Round(time.Second))
}

// queueJobs reads the queues' periodic jobs back from Nomad.
type queueJobs struct {
	t     *testing.T
	nomad *nomadapi.Client
	ctx   context.Context
}

func newQueueJobs(t *testing.T, nomadAddr string, limit time.Duration) *queueJobs {
	ac := nomadapi.DefaultConfig()
	ac.Address = nomadAddr
	nomad, err := nomadapi.NewClient(ac)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	t.Cleanup(cancel)
	return &queueJobs{t: t, nomad: nomad, ctx: ctx}
}

// cronOf waits until the queue's job has the cron line want ("" for no
// job, or a stopped one) and fails the test when the time is up.
func (q *queueJobs) cronOf(queue, want string) {
	q.t.Helper()
	got := "(not read)"
	for q.ctx.Err() == nil {
		job, _, err := q.nomad.Jobs().Info("aegir-queue-"+queue, (&nomadapi.QueryOptions{}).WithContext(q.ctx))
		switch {
		case err != nil:
			got = "(" + err.Error() + ")"
		case job.Stop != nil && *job.Stop:
			got = "(stopped)"
		case job.Periodic == nil || job.Periodic.Spec == nil:
			got = "(not periodic)"
		default:
			got = *job.Periodic.Spec
		}
		if got == want || (want == "" && got[0] == '(' && got != "(not read)") {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	q.t.Fatalf("job aegir-queue-%s has cron %q, want %q", queue, got, want)
}

// set changes a queue's settings through the API of d.
func (q *queueJobs) set(d *devProcess, queue string, change func(map[string]any)) {
	q.t.Helper()
	var st struct {
		Settings map[string]any `json:"settings"`
	}
	if code := d.call("GET", "/queues/"+queue, nil, &st); code != 200 {
		q.t.Fatalf("GET /queues/%s: %d", queue, code)
	}
	change(st.Settings)
	if code := d.call("PUT", "/queues/"+queue, st.Settings, nil); code != 200 {
		q.t.Fatalf("PUT /queues/%s %v: %d", queue, st.Settings, code)
	}
}
