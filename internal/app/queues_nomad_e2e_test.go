package app_test

import (
	"context"
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
	ac := nomadapi.DefaultConfig()
	ac.Address = cluster.HTTPAddr
	nomad, err := nomadapi.NewClient(ac)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// cronOf waits until the queue's job has the cron line want ("" for
	// no job, or a stopped one) and fails the test after a while.
	cronOf := func(queue, want string) {
		t.Helper()
		got := "(not read)"
		for ctx.Err() == nil {
			job, _, err := nomad.Jobs().Info("aegir-queue-"+queue, (&nomadapi.QueryOptions{}).WithContext(ctx))
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
		t.Fatalf("job aegir-queue-%s has cron %q, want %q", queue, got, want)
	}
	set := func(queue string, change func(map[string]any)) {
		t.Helper()
		var st struct {
			Settings map[string]any `json:"settings"`
		}
		if code := s.call("GET", "/queues/"+queue, nil, &st); code != 200 {
			t.Fatalf("GET /queues/%s: %d", queue, code)
		}
		change(st.Settings)
		if code := s.call("PUT", "/queues/"+queue, st.Settings, nil); code != 200 {
			t.Fatalf("PUT /queues/%s %v: %d", queue, st.Settings, code)
		}
	}

	// The defaults: backup every hour (each site daily), stats every 30m.
	hourly, _ := nomadexec.QueueSchedule("backup", time.Hour)
	cronOf("backup", hourly)
	cronOf("stats", "*/30 * * * *")
	cronOf("cron", "*/5 * * * *")

	set("backup", func(m map[string]any) { m["interval"] = "6h" })
	every6h, exact := nomadexec.QueueSchedule("backup", 6*time.Hour)
	if !exact {
		t.Fatalf("6h has no exact cron line: %q", every6h)
	}
	cronOf("backup", every6h)

	set("stats", func(m map[string]any) { m["enabled"] = false })
	cronOf("stats", "")
	set("stats", func(m map[string]any) { m["enabled"], m["interval"] = true, "15m" })
	cronOf("stats", "*/15 * * * *")
}
