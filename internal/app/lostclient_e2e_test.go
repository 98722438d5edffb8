package app_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"
	"github.com/redis/go-redis/v9"

	"github.com/aegirhq/aegir/internal/testharness"
)

// TestServerOnNomadLostClient stops the Nomad client of the node a backup
// runs on, and starts it again once the back end has run on: Nomad marks
// the node down and the allocation lost, aegir fails the task (the back
// end left no result), marks it abandoned and purges the dispatched job.
// The back end, still running on the stopped client's node, then does
// nothing; when the client rejoins, Nomad runs nothing again. No archive
// is left that no backup record owns.
func TestServerOnNomadLostClient(t *testing.T) {
	t.Parallel()
	lostClient(t, false)
}

// TestServerOnNomadLostClientAfterTheWork: the back end has done the
// backup and left its result when its node is lost (the allocation had
// not ended yet): the task ends with that result, the archive recorded,
// and the purged job does not run again when the client rejoins.
func TestServerOnNomadLostClientAfterTheWork(t *testing.T) {
	t.Parallel()
	lostClient(t, true)
}

// lostClient runs a backup on node aegir-b and stops that node's Nomad
// client while the backup's allocation runs: with finished, the back end
// has done its work and lingers; else it starts only a minute later.
func lostClient(t *testing.T, finished bool) {
	cluster := testharness.Nomad(t, testharness.NomadOptions{})
	consul := testharness.SharedConsul(t)
	rs := testharness.Redis(t)
	prefix := testharness.UniquePrefix(t)

	// Once the marker exists the back end starts a minute late: after
	// Nomad has marked its node down (its heartbeat TTL and grace, about
	// 20s) and aegir has given its task up.
	dir := t.TempDir()
	marker := filepath.Join(dir, "slow")
	slow := filepath.Join(dir, "slow-aegir")
	script := "#!/bin/sh\nif [ -e " + marker + " ]; then sleep 60; fi\nexec " + aegirBin + " \"$@\"\n"
	if finished { // the work done, the allocation still running
		script = "#!/bin/sh\n" + aegirBin + " \"$@\"\nrc=$?\nif [ -e " + marker + " ]; then sleep 60; fi\nexit $rc\n"
	}
	if err := os.WriteFile(slow, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(dir, "data")
	s := startConfiguredServer(t, serverOptions{
		config:  "nomad {\n  binary = " + strconv.Quote(slow) + "\n}\n",
		args:    []string{"-store", "consul", "-consul-addr", consul.Addr, "-redis-addr", rs.Addr, "-executor", "nomad"},
		env:     []string{"NOMAD_ADDR=" + cluster.HTTPAddr, "AEGIR_CONSUL_PREFIX=" + prefix},
		dataDir: dataDir,
	})
	siteID := staticSiteOnNodeB(t, s, "lost.example.test", "on aegir-b")

	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var backup task
	if code := s.call("POST", "/sites/"+siteID+"/tasks", map[string]any{"type": "backup"}, &backup); code != 202 {
		t.Fatalf("queue backup: %d", code)
	}
	deadline := time.Now().Add(time.Minute)
	var running runnerTask
	for running = s.taskState(backup.ID); running.Status != "running" || running.Runner == ""; running = s.taskState(backup.ID) {
		if time.Now().After(deadline) {
			t.Fatalf("the backup never ran with a runner recorded: %+v", running)
		}
		time.Sleep(50 * time.Millisecond)
	}
	jobID := strings.TrimPrefix(running.Runner, "nomad:")
	ac := nomadapi.DefaultConfig()
	ac.Address = cluster.HTTPAddr
	nomad, err := nomadapi.NewClient(ac)
	if err != nil {
		t.Fatal(err)
	}
	// Placed and running on aegir-b before its client goes.
	var original string
	for {
		allocs, _, err := nomad.Jobs().Allocations(jobID, true, nil)
		if err == nil && len(allocs) == 1 && allocs[0].ClientStatus == "running" {
			original = allocs[0].ID
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s not running: %v %v", jobID, allocs, err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer rdb.Close()
	if finished { // the back end has left its result
		for rdb.Exists(context.Background(), "aegir:result:"+backup.ID).Val() == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the back end left no result")
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	stopped := time.Now()
	cluster.StopClient(t, "aegir-b")
	if finished {
		done := s.waitDoneWithin(backup.ID, 90*time.Second)
		t.Logf("client stopped → task %s after %s: %s%s", done.Status, time.Since(stopped).Round(100*time.Millisecond), done.Summary, done.Explanation)
		if done.Status != "succeeded" {
			t.Fatalf("backup whose back end had finished: %s %s: %s", done.Status, done.ErrorCode, done.Explanation)
		}
		rejoinAndCheck(t, cluster, nomad, jobID, original)
		checkArchives(t, s, siteID, dataDir, 1)
		return
	}
	failed := s.waitDoneWithin(backup.ID, 90*time.Second)
	t.Logf("client stopped → task %s after %s: %s", failed.Status, time.Since(stopped).Round(100*time.Millisecond), failed.Explanation)
	if failed.Status != "failed" || !strings.Contains(failed.Explanation, "Nomad lost the back end") ||
		!strings.Contains(failed.Explanation, "purged the dispatched job") {
		t.Fatalf("backup on the lost node: %s %s: %s", failed.Status, failed.ErrorCode, failed.Explanation)
	}
	if _, _, err := nomad.Jobs().Info(jobID, nil); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("job %s is still in Nomad after its task was given up: %v", jobID, err)
	}

	// The back end, still running on the stopped client's node, starts
	// after the task was given up: it does nothing and says so.
	var res struct {
		Status    string `json:"status"`
		ErrorCode string `json:"error_code"`
	}
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		b, err := rdb.Get(context.Background(), "aegir:result:"+backup.ID).Bytes()
		if err == nil {
			if err := json.Unmarshal(b, &res); err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the back end on the lost node left no result: %v", err)
		}
	}
	if res.ErrorCode != "task_abandoned" {
		t.Errorf("the late back end's result: %+v, want task_abandoned", res)
	}

	rejoinAndCheck(t, cluster, nomad, jobID, original)
	if after := s.taskState(backup.ID); after.Status != "failed" {
		t.Errorf("task after the rejoin: %s", after.Status)
	}
	checkArchives(t, s, siteID, dataDir, 0)
}

// rejoinAndCheck starts aegir-b's client again: Nomad must place nothing
// new for the purged job, and the old allocation, which the client finds
// again, must end.
func rejoinAndCheck(t *testing.T, cluster *testharness.NomadCluster, nomad *nomadapi.Client, jobID, original string) {
	t.Helper()
	cluster.StartClient(t, "aegir-b")
	var states []string
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		allocs, _, err := nomad.Allocations().List(nil)
		if err != nil {
			t.Fatal(err)
		}
		states = states[:0]
		live := false
		for _, a := range allocs {
			if a.JobID != jobID {
				continue
			}
			if a.ID != original {
				t.Fatalf("Nomad placed allocation %s (%s) of the given-up job after the client rejoined", a.ID, a.ClientStatus)
			}
			states = append(states, a.ClientStatus)
			live = live || a.ClientStatus == "running" || a.ClientStatus == "pending"
		}
		if !live {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("the job's allocation still runs 30s after the client rejoined: %v", states)
		}
	}
	t.Logf("after the rejoin, the job's allocations: %v", states)
}

// checkArchives fails unless the site has want backup records and every
// archive under the data dir's backups is one of them.
func checkArchives(t *testing.T, s *serverProcess, siteID, dataDir string, want int) {
	t.Helper()
	var backups struct {
		Items []struct{ Path string } `json:"items"`
	}
	s.call("GET", "/sites/"+siteID+"/backups", nil, &backups)
	archives, _ := filepath.Glob(filepath.Join(dataDir, "backups", "*", "*"))
	more, _ := filepath.Glob(filepath.Join(dataDir, "backups", "*"))
	t.Logf("backup records %d, files under backups/: %v %v", len(backups.Items), more, archives)
	if len(backups.Items) != want {
		t.Errorf("%d backup records, want %d", len(backups.Items), want)
	}
	recorded := map[string]bool{}
	for _, b := range backups.Items {
		recorded[b.Path] = true
	}
	n := 0
	for _, f := range append(archives, more...) {
		if fi, err := os.Stat(f); err == nil && fi.Mode().IsRegular() {
			n++
			if !recorded[f] {
				t.Errorf("archive %s has no backup record", f)
			}
		}
	}
	if n > want {
		t.Errorf("%d archives on disk, want at most %d", n, want)
	}
}

// waitDoneWithin waits up to limit for a task to end, whatever its outcome.
func (d *devProcess) waitDoneWithin(id string, limit time.Duration) runnerTask {
	d.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		tk := d.taskState(id)
		if tk.Status == "succeeded" || tk.Status == "failed" || tk.Status == "cancelled" {
			return tk
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("task %s still %s after %s", id, tk.Status, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestServerOnNomadLostClientMidInstall stops the Nomad client while an
// install's hook runs: aegir fails the task when Nomad marks the node
// down and marks it abandoned; the back end, still running on the node,
// sees the mark, stops and rolls back (the site's directory is removed),
// and says so in its result; the purged job does not run again when the
// client rejoins.
func TestServerOnNomadLostClientMidInstall(t *testing.T) {
	t.Parallel()
	cluster := testharness.Nomad(t, testharness.NomadOptions{})
	consul := testharness.SharedConsul(t)
	rs := testharness.Redis(t)
	s := startConfiguredServer(t, serverOptions{
		config: "nomad {\n  binary = " + strconv.Quote(aegirBin) + "\n}\n",
		args:   []string{"-store", "consul", "-consul-addr", consul.Addr, "-redis-addr", rs.Addr, "-executor", "nomad"},
		env:    []string{"NOMAD_ADDR=" + cluster.HTTPAddr, "AEGIR_CONSUL_PREFIX=" + testharness.UniquePrefix(t)},
	})
	var srv struct {
		Task task `json:"task"`
	}
	if code := s.call("POST", "/servers", map[string]any{"name": "web-b", "address": "127.0.0.1", "nomad_node": "aegir-b",
		"services": []map[string]any{{"kind": "builtin", "port": s.sitesPort()}, {"kind": "sqlite"}}}, &srv); code != 201 {
		t.Fatalf("create server: %d", code)
	}
	s.waitTask(srv.Task.ID)
	if code := s.call("POST", "/clients", map[string]any{"name": "acme"}, nil); code != 201 {
		t.Fatalf("create client: %d", code)
	}
	slow := slowPlatform(t, t.TempDir(), 90)
	var plat struct {
		Task task `json:"task"`
	}
	if code := s.call("POST", "/platforms", map[string]any{"name": "slow", "path": slow, "web_server": "web-b", "type": "php"}, &plat); code != 201 {
		t.Fatalf("create platform: %d", code)
	}
	s.waitTask(plat.Task.ID)
	const domain = "midinstall.example.test"
	var site struct {
		Task task `json:"task"`
	}
	if code := s.call("POST", "/sites", map[string]any{"domain": domain, "platform": "slow", "db_server": "web-b", "client": "acme"}, &site); code != 201 {
		t.Fatalf("create site: %d", code)
	}
	siteDir := filepath.Join(slow, "sites", domain)
	deadline := time.Now().Add(time.Minute)
	var running runnerTask
	for running = s.taskState(site.Task.ID); running.Status != "running" || running.Runner == "" || !exists(siteDir); running = s.taskState(site.Task.ID) {
		if time.Now().After(deadline) {
			t.Fatalf("the install never got to its hook: %+v", running)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second) // into the hook
	jobID := strings.TrimPrefix(running.Runner, "nomad:")
	ac := nomadapi.DefaultConfig()
	ac.Address = cluster.HTTPAddr
	nomad, err := nomadapi.NewClient(ac)
	if err != nil {
		t.Fatal(err)
	}
	allocs, _, err := nomad.Jobs().Allocations(jobID, true, nil)
	if err != nil || len(allocs) != 1 {
		t.Fatalf("allocations of %s: %v %v", jobID, allocs, err)
	}
	original := allocs[0].ID

	stopped := time.Now()
	cluster.StopClient(t, "aegir-b")
	failed := s.waitDoneWithin(site.Task.ID, 90*time.Second)
	t.Logf("client stopped → install %s after %s: %s", failed.Status, time.Since(stopped).Round(100*time.Millisecond), failed.Explanation)
	if failed.Status != "failed" || !strings.Contains(failed.Explanation, "purged the dispatched job") {
		t.Fatalf("install on the lost node: %s %s: %s", failed.Status, failed.ErrorCode, failed.Explanation)
	}
	// The back end, its hook still running on the node, stops and rolls
	// back within the abandon check.
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer rdb.Close()
	var res struct {
		Status      string `json:"status"`
		ErrorCode   string `json:"error_code"`
		Explanation string `json:"explanation"`
	}
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if b, err := rdb.Get(context.Background(), "aegir:result:"+site.Task.ID).Bytes(); err == nil {
			if err := json.Unmarshal(b, &res); err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(end) {
			t.Fatal("the back end on the lost node did not stop within 30s of its task being given up")
		}
	}
	t.Logf("the back end's own result: %+v", res)
	if res.ErrorCode != "task_abandoned" {
		t.Errorf("the back end's result: %+v, want task_abandoned", res)
	}
	if exists(siteDir) {
		t.Errorf("the abandoned install left %s", siteDir)
	}
	rejoinAndCheck(t, cluster, nomad, jobID, original)
}
