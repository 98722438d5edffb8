package jobspecs

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestRenderGolden pins what aegir sends Nomad for each jobspec.
func TestRenderGolden(t *testing.T) {
	t.Parallel()
	cases := map[string]map[string]any{
		Task: {
			"server_name": "web1", "node_name": "aegir-a", "datacenters": []string{"dc1", "dc2"},
			"aegir_binary": "/opt/aegir/bin/aegir", "redis_addr": "127.0.0.1:6380", "memory": 1024,
			"redis_password": true, "redis_username": "aegir", "redis_tls": true, "redis_tls_ca_file": "/etc/aegir/redis-ca.pem",
		},
		Queue:  {"queue": "backup", "schedule": "0 * * * *"},
		Server: {"count": 2},
	}
	for name, vars := range cases {
		got, err := Render(name, vars)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		golden := filepath.Join("testdata", name+".golden.hcl")
		if *update {
			if err := os.WriteFile(golden, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test ./jobspecs -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s rendered differently from %s; run go test ./jobspecs -update and review the diff", name, golden)
		}
	}
}

func TestRenderRefusesUnknownAndOddValues(t *testing.T) {
	t.Parallel()
	if _, err := Render(Task, map[string]any{"servr_name": "x"}); err == nil || !strings.Contains(err.Error(), "servr_name") {
		t.Errorf("typo accepted: %v", err)
	}
	if _, err := Render(Task, map[string]any{"server_name": struct{}{}}); err == nil {
		t.Error("struct value accepted")
	}
	if _, err := Render("nope", nil); err == nil {
		t.Error("unknown jobspec accepted")
	}
	// A value with HCL syntax in it stays a string literal: it cannot add
	// blocks or attributes to the job.
	got, err := Render(Task, map[string]any{"server_name": `x" } job "evil" { #`})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(got), "\njob ") != 1 {
		t.Errorf("a variable value injected HCL:\n%s", got)
	}
}

func TestNamesAndVariables(t *testing.T) {
	t.Parallel()
	if got := strings.Join(Names(), ","); got != "aegir-queue,aegir-server,aegir-task" {
		t.Fatalf("Names() = %s", got)
	}
	vars, err := Variables(Task)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"server_name", "node_name", "driver", "redis_addr"} {
		if !strings.Contains(strings.Join(vars, ","), want) {
			t.Errorf("aegir-task lacks variable %s", want)
		}
	}
}
