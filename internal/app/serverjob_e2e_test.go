package app_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/aegirhq/aegir/internal/lifecycle"
	"github.com/aegirhq/aegir/internal/testharness"
)

// TestServerJobOnNomad deploys aegir with docs/nomad.md's deploy block
// (`aegir jobspec aegir-server -var count=2 … | nomad job run -`) on the test
// Nomad cluster (raw_exec), both allocations on one Consul store and one
// Redis, with nomad.binary_from_servers: the back ends' jobs fetch the
// binary from the servers (an artifact checked against its sha256)
// instead of finding it on the node. A site's life (create, backup,
// delete) runs through the two servers' APIs.
func TestServerJobOnNomad(t *testing.T) {
	t.Parallel()
	cluster := testharness.Nomad(t, testharness.NomadOptions{})
	nomadBin, err := testharness.BinPath("nomad") // the cluster's own
	if err != nil {
		t.Fatal(err)
	}
	// A Consul of its own: the servers here make many blocking queries, which
	// would count against the shared agent's per-address connection limit.
	consul := testharness.Consul(t)
	redis := testharness.Redis(t)
	prefix := testharness.UniquePrefix(t)
	dir := t.TempDir()

	cfgPath := filepath.Join(dir, "aegir.hcl")
	cfg := fmt.Sprintf(`store {
  backend = "consul"
  consul {
    address = %q
    prefix  = %q
  }
}
redis {
  address = %q
}
executor {
  kind       = "nomad"
  leader_ttl = "2s"
}
nomad {
  address             = %q
  binary_from_servers = true
}
`, consul.Addr, prefix, redis.Addr, cluster.HTTPAddr)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	// The walkthrough of docs/nomad.md: its deploy block.
	blocks, err := lifecycle.Runbook("../../docs/nomad.md")
	if err != nil {
		t.Fatal(err)
	}
	deploy, ok := blocks["deploy"]
	if !ok {
		t.Fatal("docs/nomad.md has no runnable block deploy")
	}
	cmd := deploy.Command(context.Background())
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NOMAD_ADDR="+cluster.HTTPAddr, "AEGIR_BINARY="+aegirBin, "AEGIR_CONFIG="+cfgPath,
		"AEGIR_JOB_VARS=-var data_dir=${NOMAD_ALLOC_DIR}/data -var service_provider=nomad",
		"PATH="+filepath.Dir(aegirBin)+":"+filepath.Dir(nomadBin)+":"+os.Getenv("PATH"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docs/nomad.md block deploy (line %d): %v\n%s", deploy.Line, err, out)
	}
	ac := nomadapi.DefaultConfig()
	ac.Address = cluster.HTTPAddr
	nomad, err := nomadapi.NewClient(ac)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _, _ = nomad.Jobs().Deregister("aegir-server", true, nil) })

	// Both allocations running and answering; their addresses from Nomad.
	type alloc struct{ id, api, sites string }
	var allocs []alloc
	deadline := time.Now().Add(90 * time.Second)
	for len(allocs) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("two aegir-server allocations did not start: %+v", allocs)
		}
		time.Sleep(500 * time.Millisecond)
		stubs, _, err := nomad.Jobs().Allocations("aegir-server", false, nil)
		if err != nil {
			continue
		}
		allocs = allocs[:0]
		for _, s := range stubs {
			if s.ClientStatus != "running" {
				continue
			}
			a, _, err := nomad.Allocations().Info(s.ID, nil)
			if err != nil || a.AllocatedResources == nil {
				continue
			}
			al := alloc{id: a.ID}
			for _, p := range a.AllocatedResources.Shared.Ports {
				addr := p.HostIP + ":" + strconv.Itoa(p.Value)
				switch p.Label {
				case "http":
					al.api = addr
				case "sites":
					al.sites = addr
				}
			}
			resp, err := http.Get("http://" + al.api + "/api/v1/health")
			if err != nil {
				continue
			}
			resp.Body.Close()
			if resp.StatusCode == 200 {
				allocs = append(allocs, al)
			}
		}
	}
	// The admin token is in the data dir of the allocation that
	// bootstrapped the store, and only there; both APIs take it. Neither
	// allocation restarted: the one that lost the bootstrap starts too.
	var token string
	var holders []string
	for _, al := range allocs {
		a, _, err := nomad.Allocations().Info(al.id, nil)
		if err != nil {
			t.Fatal(err)
		}
		if ts := a.TaskStates["server"]; ts == nil || ts.Restarts != 0 {
			t.Errorf("allocation %s restarted: %+v", al.id, ts)
		}
		// Stat first: Nomad's cat of a missing file answers its error as
		// the file's content.
		if _, _, err := nomad.AllocFS().Stat(a, "alloc/data/admin-token", nil); err != nil {
			t.Logf("allocation %s has no admin-token: %v", al.id, err)
			continue
		}
		r, err := nomad.AllocFS().Cat(a, "alloc/data/admin-token", nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		r.Close()
		token = strings.TrimSpace(string(b))
		holders = append(holders, al.id)
	}
	if len(holders) != 1 {
		t.Fatalf("allocations %v wrote an admin-token file; want exactly the one that bootstrapped the store", holders)
	}
	for _, al := range allocs {
		req, _ := http.NewRequest("GET", "http://"+al.api+"/api/v1/status", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("allocation %s answers the admin token of %s with %d", al.id, holders[0], resp.StatusCode)
		}
	}
	client := func(al alloc) *devProcess {
		return &devProcess{t: t, api: al.api, sites: al.sites, token: token, http: &http.Client{Timeout: 30 * time.Second}}
	}
	a, b := client(allocs[0]), client(allocs[1])
	// a is the leader: its back ends get its data dir (each allocation
	// has its own here, as each host would), so its builtin web server
	// serves the sites they install.
	a.waitStatus("a leader", 30*time.Second, func(s systemStatus) bool { return true })
	deadline = time.Now().Add(30 * time.Second)
	for !a.status(nil).Leader {
		if b.status(nil).Leader {
			a, b = b, a
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("neither allocation leads")
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Both serve the same binary archive, with its checksum.
	var sums []string
	for _, al := range allocs {
		resp, err := http.Get("http://" + al.api + "/dl/aegir.tar.gz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		h := sha256.Sum256(body)
		if resp.StatusCode != 200 || resp.Header.Get("X-Checksum-Sha256") != hex.EncodeToString(h[:]) {
			t.Fatalf("GET /dl/aegir.tar.gz from %s: %d, checksum header %q", al.api, resp.StatusCode, resp.Header.Get("X-Checksum-Sha256"))
		}
		sums = append(sums, hex.EncodeToString(h[:]))
	}
	if sums[0] != sums[1] {
		t.Errorf("the two servers serve different archives of one binary: %v", sums)
	}

	// A site's life, through both servers.
	var srv struct {
		Server struct{ ID string } `json:"server"`
		Task   task                `json:"task"`
	}
	if code := a.call("POST", "/servers", map[string]any{"name": "web-a", "address": "127.0.0.1", "nomad_node": "aegir-a",
		"services": []map[string]any{{"kind": "builtin", "port": a.sitesPort()}, {"kind": "sqlite"}}}, &srv); code != 201 {
		t.Fatalf("create server: %d", code)
	}
	b.waitTask(srv.Task.ID)
	if code := b.call("POST", "/clients", map[string]any{"name": "acme"}, nil); code != 201 {
		t.Fatalf("create client: %d", code)
	}
	var plat struct {
		Task task `json:"task"`
	}
	if code := b.call("POST", "/platforms", map[string]any{"name": "static-a", "path": staticPlatform(t, "served on aegir-a"),
		"web_server": "web-a", "type": "static"}, &plat); code != 201 {
		t.Fatalf("create platform: %d", code)
	}
	a.waitTask(plat.Task.ID)
	var site struct {
		Site struct{ ID string } `json:"site"`
		Task task                `json:"task"`
	}
	if code := a.call("POST", "/sites", map[string]any{"domain": "job.example.test", "platform": "static-a", "db_server": "web-a", "client": "acme"}, &site); code != 201 {
		t.Fatalf("create site: %d", code)
	}
	b.waitTask(site.Task.ID)
	backup := b.queueSiteTask(site.Site.ID, "backup", nil)
	var backups struct {
		Items []struct{ ID string } `json:"items"`
	}
	a.call("GET", "/sites/"+site.Site.ID+"/backups", nil, &backups)
	if len(backups.Items) != 1 {
		t.Fatalf("backups = %+v", backups)
	}
	del := a.queueSiteTask(site.Site.ID, "delete", nil)

	// Every back end ran the binary it fetched from a server: its job
	// has the artifact with the archive's checksum, and no host binary.
	for _, tk := range []runnerTask{a.taskState(srv.Task.ID), a.taskState(site.Task.ID), backup, del} {
		jobID, ok := strings.CutPrefix(tk.Runner, "nomad:")
		if !ok {
			t.Fatalf("task %s (%s) runner %q", tk.ID, tk.Type, tk.Runner)
		}
		job, _, err := nomad.Jobs().Info(jobID, nil)
		if err != nil {
			t.Fatal(err)
		}
		task := job.TaskGroups[0].Tasks[0]
		if len(task.Artifacts) != 1 || !strings.HasSuffix(*task.Artifacts[0].GetterSource, "/dl/aegir.tar.gz") ||
			task.Artifacts[0].GetterOptions["checksum"] != "sha256:"+sums[0] || task.Config["command"] != "local/aegir" {
			t.Errorf("task %s (%s): job %s artifacts %+v command %v", tk.ID, tk.Type, jobID, task.Artifacts, task.Config["command"])
		}
	}
}
