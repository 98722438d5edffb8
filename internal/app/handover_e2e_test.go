package app_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/aegirhq/aegir/internal/testharness"
)

// TestServerOnNomadHandsOverOnStop restarts `aegir server` on Nomad while
// a task runs: the stopping process leaves the task's job running and the
// task running, and the restarted one follows the job to its real result.
// The job is dispatched once. (Before, the queues' wrapper around the
// executor hid that Nomad jobs outlive aegir: the stopping server stopped
// the job and failed the task.)
func TestServerOnNomadHandsOverOnStop(t *testing.T) {
	t.Parallel()
	cluster := testharness.Nomad(t, testharness.NomadOptions{})
	consul := testharness.SharedConsul(t)
	redis := testharness.Redis(t)
	prefix := testharness.UniquePrefix(t)

	// The back end starts late once the marker exists, so a task is still
	// running when the server stops.
	dir := t.TempDir()
	marker := filepath.Join(dir, "slow")
	slow := filepath.Join(dir, "slow-aegir")
	script := "#!/bin/sh\nif [ -e " + marker + " ]; then sleep 15; fi\nexec " + aegirBin + " \"$@\"\n"
	if err := os.WriteFile(slow, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	opts := serverOptions{
		config:  "nomad {\n  binary = " + strconv.Quote(slow) + "\n}\n",
		args:    []string{"-store", "consul", "-consul-addr", consul.Addr, "-redis-addr", redis.Addr, "-executor", "nomad"},
		env:     []string{"NOMAD_ADDR=" + cluster.HTTPAddr, "AEGIR_CONSUL_PREFIX=" + prefix, "AEGIR_LEADER_TTL=2s"},
		dataDir: filepath.Join(dir, "data"),
	}
	first := startConfiguredServer(t, opts)

	var srv struct {
		Server struct{ ID string } `json:"server"`
		Task   task                `json:"task"`
	}
	if code := first.call("POST", "/servers", map[string]any{"name": "web-a", "address": "127.0.0.1", "nomad_node": "aegir-a",
		"services": []map[string]any{{"kind": "builtin", "port": first.sitesPort()}, {"kind": "sqlite"}}}, &srv); code != 201 {
		t.Fatalf("create server: %d", code)
	}
	first.waitTask(srv.Task.ID)
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var verify task
	if code := first.call("POST", "/servers/"+srv.Server.ID+"/tasks", map[string]any{"type": "verify-server"}, &verify); code != 202 {
		t.Fatalf("queue verify-server: %d", code)
	}
	deadline := time.Now().Add(time.Minute)
	var running runnerTask
	for running = first.taskState(verify.ID); running.Status != "running" || running.Runner == ""; running = first.taskState(verify.ID) {
		if time.Now().After(deadline) {
			t.Fatalf("the task never ran with a runner recorded: %+v", running)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A clean stop, as for an upgrade.
	pid := first.cmd.Process.Pid
	if err := syscall.Kill(-pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); syscall.Kill(pid, 0) == nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first server did not stop")
		}
	}
	ac := nomadapi.DefaultConfig()
	ac.Address = cluster.HTTPAddr
	nomad, err := nomadapi.NewClient(ac)
	if err != nil {
		t.Fatal(err)
	}
	jobID := strings.TrimPrefix(running.Runner, "nomad:")
	job, _, err := nomad.Jobs().Info(jobID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if job.Stop != nil && *job.Stop {
		t.Fatalf("the stopping server stopped job %s instead of handing it over", jobID)
	}

	second := startConfiguredServer(t, opts)
	done := second.waitDone(verify.ID)
	if done.Status != "succeeded" || done.Runner != running.Runner {
		t.Fatalf("task %s with runner %q (first %q): %s", done.Status, done.Runner, running.Runner, done.Explanation)
	}
	var log struct {
		Lines []struct{ Msg string } `json:"lines"`
	}
	second.call("GET", "/tasks/"+verify.ID+"/log", nil, &log)
	var starts, followed, handed int
	for _, l := range log.Lines {
		switch {
		case strings.HasPrefix(l.Msg, "aegir: running"):
			starts++
		case strings.HasPrefix(l.Msg, "aegir: following the back end an earlier aegir process started"):
			followed++
		case strings.HasPrefix(l.Msg, "aegir: this aegir process is stopping; the back end keeps running"):
			handed++
		}
	}
	if starts != 1 || followed != 1 || handed != 1 {
		t.Errorf("log: started %d, handed over %d, followed again %d times; want once each", starts, handed, followed)
	}
	children, _, err := nomad.Jobs().List(&nomadapi.QueryOptions{Prefix: "aegir-task-web-a/"})
	if err != nil {
		t.Fatal(err)
	}
	if len(children) != 2 { // the first verify-server, and this one
		t.Errorf("%d jobs dispatched for the server's two tasks", len(children))
	}
}
