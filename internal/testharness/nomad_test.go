package testharness

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestNomad(t *testing.T) {
	t.Parallel()
	c := Nomad(t, NomadOptions{})

	if len(c.Nodes) != 2 || c.Nodes[0].Name != "aegir-a" || c.Nodes[1].Name != "aegir-b" {
		t.Fatalf("nodes = %+v, want aegir-a and aegir-b", c.Nodes)
	}
	var nodes []nomadNodeStub
	if err := getJSON(c.HTTPAddr+"/v1/nodes", &nodes); err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, n := range nodes {
		names[n.Name] = n.ID
	}
	for _, n := range c.Nodes {
		if n.ID == "" || names[n.Name] != n.ID {
			t.Fatalf("node %s: harness ID %q, server says %q", n.Name, n.ID, names[n.Name])
		}
	}

	job := map[string]any{
		"Job": map[string]any{
			"ID":          "true-on-b",
			"Name":        "true-on-b",
			"Type":        "batch",
			"Datacenters": []string{"dc1"},
			"Constraints": []map[string]string{{
				"LTarget": "${node.unique.name}", "RTarget": "aegir-b", "Operand": "=",
			}},
			"TaskGroups": []map[string]any{{
				"Name":             "g",
				"Count":            1,
				"RestartPolicy":    map[string]any{"Attempts": 0, "Mode": "fail"},
				"ReschedulePolicy": map[string]any{"Attempts": 0, "Unlimited": false},
				"EphemeralDisk":    map[string]any{"SizeMB": 10},
				"Tasks": []map[string]any{{
					"Name":      "true",
					"Driver":    "raw_exec",
					"Config":    map[string]any{"command": "/bin/true"},
					"LogConfig": map[string]any{"MaxFiles": 1, "MaxFileSizeMB": 1},
					"Resources": map[string]any{"CPU": 20, "MemoryMB": 16},
				}},
			}},
		},
	}
	nomadPost(t, c.HTTPAddr+"/v1/jobs", job)

	b := c.Node(t, "aegir-b")
	deadline := time.Now().Add(60 * time.Second)
	for {
		var allocs []struct {
			NodeID, ClientStatus, ClientDescription string
		}
		if err := getJSON(c.HTTPAddr+"/v1/job/true-on-b/allocations", &allocs); err != nil {
			t.Fatal(err)
		}
		if len(allocs) == 1 && allocs[0].ClientStatus == "complete" {
			if allocs[0].NodeID != b.ID {
				t.Fatalf("alloc ran on node %s, want aegir-b (%s)", allocs[0].NodeID, b.ID)
			}
			break
		}
		if len(allocs) > 0 && allocs[0].ClientStatus == "failed" {
			t.Fatalf("alloc failed: %+v", allocs)
		}
		if time.Now().After(deadline) {
			t.Fatalf("job did not complete in 60s: allocs %+v", allocs)
		}
		time.Sleep(250 * time.Millisecond)
	}

	c.StopClient(t, "aegir-a")
	if err := getJSON(c.Node(t, "aegir-a").HTTPAddr+"/v1/agent/self", new(map[string]any)); err == nil {
		t.Fatalf("stopped client aegir-a still answers")
	}
}

func nomadPost(t *testing.T, url string, v any) {
	t.Helper()
	body, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatal(fmt.Errorf("POST %s: %s %s", url, resp.Status, out))
	}
}

// TestNomadACL: the cluster comes up with ACLs on, anonymous requests are
// refused, and a token from ACLToken may do what its policy says only.
func TestNomadACL(t *testing.T) {
	t.Parallel()
	c := Nomad(t, NomadOptions{NodeNames: []string{"aegir-acl"}, ACL: true})
	if c.ManagementToken == "" || c.Nodes[0].ID == "" {
		t.Fatalf("cluster %+v: want a management token and a ready node", c)
	}
	reader := c.ACLToken(t, t.Name(), `namespace "default" { policy = "read" }`)
	for _, x := range []struct {
		path, token string
		ok          bool
	}{
		{"/v1/jobs", "", false},
		{"/v1/jobs", reader, true},
		{"/v1/nodes", reader, false}, // no node rule
		{"/v1/nodes", c.ManagementToken, true},
	} {
		var v any
		err := getJSONAuth(c.HTTPAddr+x.path, "X-Nomad-Token", x.token, &v)
		if (err == nil) != x.ok || (err != nil && !strings.Contains(err.Error(), "403")) {
			t.Errorf("GET %s with token %.8q: %v, want allowed=%v (or a 403)", x.path, x.token, err, x.ok)
		}
	}
}
