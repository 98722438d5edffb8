package jobspecs

import (
	"fmt"
	"strings"
	"testing"

	nomad "github.com/hashicorp/nomad/api"

	"github.com/aegirhq/aegir/internal/testharness"
)

// TestNomadParsesRenderedJobs sends every rendered jobspec to a real Nomad's
// /v1/jobs/parse, the way aegir registers them, and checks the fields aegir
// relies on.
func TestNomadParsesRenderedJobs(t *testing.T) {
	t.Parallel()
	cluster := testharness.Nomad(t, testharness.NomadOptions{Clients: 1})
	client, err := nomad.NewClient(&nomad.Config{Address: cluster.HTTPAddr})
	if err != nil {
		t.Fatal(err)
	}
	src, err := Render(Task, map[string]any{"server_name": "web1", "node_name": "aegir-a"})
	if err != nil {
		t.Fatal(err)
	}
	job, err := client.Jobs().ParseHCL(string(src), true)
	if err != nil {
		t.Fatalf("parse aegir-task: %v", err)
	}
	if *job.Name != "aegir-task-web1" || *job.Type != "batch" || job.ParameterizedJob == nil ||
		job.ParameterizedJob.Payload != "required" || len(job.Constraints) != 1 || job.Constraints[0].RTarget != "aegir-a" {
		t.Errorf("aegir-task parsed as name=%v type=%v param=%+v constraints=%+v", *job.Name, *job.Type, job.ParameterizedJob, job.Constraints)
	}
	task := job.TaskGroups[0].Tasks[0]
	if *job.TaskGroups[0].RestartPolicy.Attempts != 0 || task.DispatchPayload == nil || task.DispatchPayload.File != "context.json" {
		t.Errorf("aegir-task group = %+v, task payload %+v", job.TaskGroups[0].RestartPolicy, task.DispatchPayload)
	}

	if task.Vault != nil {
		t.Errorf("a vault block without vault_policies: %+v", task.Vault)
	}
	if len(task.Artifacts) != 0 || task.Config["command"] != "/usr/local/bin/aegir" {
		t.Errorf("aegir-task without aegir_artifact: artifacts %+v, command %v", task.Artifacts, task.Config["command"])
	}
	// The binary from the aegir servers: an artifact checked against its
	// checksum, run from the task's local dir.
	for _, spec := range []string{Task, Queue} {
		vars := map[string]any{"aegir_artifact": "http://10.0.0.1:8080/dl/aegir.tar.gz", "aegir_artifact_checksum": "sha256:" + strings.Repeat("ab", 32)}
		if spec == Task {
			vars["server_name"], vars["node_name"] = "web1", "aegir-a"
		} else {
			vars["queue"], vars["schedule"] = "stats", "*/10 * * * *"
		}
		src, err := Render(spec, vars)
		if err != nil {
			t.Fatal(err)
		}
		j, err := client.Jobs().ParseHCL(string(src), true)
		if err != nil {
			t.Fatalf("parse %s with an artifact: %v", spec, err)
		}
		tk := j.TaskGroups[0].Tasks[0]
		if len(tk.Artifacts) != 1 || *tk.Artifacts[0].GetterSource != "http://10.0.0.1:8080/dl/aegir.tar.gz" ||
			tk.Artifacts[0].GetterOptions["checksum"] != "sha256:"+strings.Repeat("ab", 32) || *tk.Artifacts[0].RelativeDest != "local/" ||
			tk.Config["command"] != "local/aegir" {
			t.Errorf("%s with an artifact: %+v, command %v", spec, tk.Artifacts, tk.Config["command"])
		}
	}
	src, err = Render(Task, map[string]any{"server_name": "web1", "node_name": "aegir-a", "vault_policies": []string{"aegir-backend"}})
	if err != nil {
		t.Fatal(err)
	}
	job, err = client.Jobs().ParseHCL(string(src), true)
	if err != nil {
		t.Fatalf("parse aegir-task with vault: %v", err)
	}
	if v := job.TaskGroups[0].Tasks[0].Vault; v == nil || len(v.Policies) != 1 || v.Policies[0] != "aegir-backend" {
		t.Errorf("aegir-task vault block = %+v", v)
	}

	// Without redis settings the back end gets no password file and no
	// template; with them, the settings as environment and the password
	// through a template from the job's Nomad Variable, never in the job.
	if len(task.Templates) != 0 || task.Env["AEGIR_REDIS_PASSWORD_FILE"] != "" || task.Env["AEGIR_REDIS_TLS"] != "false" {
		t.Errorf("aegir-task without redis settings: env %v, templates %+v", task.Env, task.Templates)
	}
	src, err = Render(Task, map[string]any{"server_name": "web1", "node_name": "aegir-a", "redis_password": true,
		"redis_username": "aegir", "redis_db": 2, "redis_tls": true, "redis_tls_ca_file": "/etc/aegir/redis-ca.pem"})
	if err != nil {
		t.Fatal(err)
	}
	job, err = client.Jobs().ParseHCL(string(src), true)
	if err != nil {
		t.Fatalf("parse aegir-task with redis settings: %v", err)
	}
	task = job.TaskGroups[0].Tasks[0]
	env := task.Env
	if env["AEGIR_REDIS_PASSWORD_FILE"] != "${NOMAD_SECRETS_DIR}/redis-password" || env["AEGIR_REDIS_USERNAME"] != "aegir" ||
		env["AEGIR_REDIS_DB"] != "2" || env["AEGIR_REDIS_TLS"] != "true" || env["AEGIR_REDIS_TLS_CA_FILE"] != "/etc/aegir/redis-ca.pem" {
		t.Errorf("aegir-task redis env = %v", env)
	}
	if len(task.Templates) != 1 || *task.Templates[0].DestPath != "secrets/redis-password" || *task.Templates[0].Envvars ||
		!strings.Contains(*task.Templates[0].EmbeddedTmpl, `index . "redis_password"`) {
		t.Errorf("aegir-task password template = %+v", task.Templates)
	}

	src, err = Render(Queue, map[string]any{"queue": "stats", "schedule": "*/10 * * * *"})
	if err != nil {
		t.Fatal(err)
	}
	job, err = client.Jobs().ParseHCL(string(src), true)
	if err != nil {
		t.Fatalf("parse aegir-queue: %v", err)
	}
	if *job.Name != "aegir-queue-stats" || job.Periodic == nil || *job.Periodic.Spec != "*/10 * * * *" || !*job.Periodic.ProhibitOverlap {
		t.Errorf("aegir-queue parsed as %v %+v", *job.Name, job.Periodic)
	}
	// The pass's API token comes from the job's Nomad Variable through a
	// template into the secrets dir, never from the job itself.
	pass := job.TaskGroups[0].Tasks[0]
	if _, ok := pass.Env["AEGIR_TOKEN"]; ok {
		t.Errorf("aegir-queue puts AEGIR_TOKEN in the job: %v", pass.Env)
	}
	if len(pass.Templates) != 1 || !*pass.Templates[0].Envvars || *pass.Templates[0].DestPath != "secrets/aegir.env" ||
		!strings.Contains(*pass.Templates[0].EmbeddedTmpl, `nomadVar $path`) || !strings.Contains(*pass.Templates[0].EmbeddedTmpl, "AEGIR_TOKEN={{ .aegir_token }}") {
		t.Errorf("aegir-queue token template = %+v", pass.Templates)
	}

	src, err = Render(Server, map[string]any{"count": 2, "data_dir": "${NOMAD_ALLOC_DIR}/data"})
	if err != nil {
		t.Fatal(err)
	}
	job, err = client.Jobs().ParseHCL(string(src), true)
	if err != nil {
		t.Fatalf("parse aegir-server: %v", err)
	}
	if *job.TaskGroups[0].Count != 2 || len(job.TaskGroups[0].Services) != 1 || job.TaskGroups[0].Services[0].Checks[0].Path != "/api/v1/health" {
		t.Errorf("aegir-server parsed as %+v", job.TaskGroups[0])
	}
	args := job.TaskGroups[0].Tasks[0].Config["args"]
	if fmt.Sprint(args) != "[server -config /etc/aegir/aegir.hcl -http-addr ${NOMAD_ADDR_http} -sites-addr ${NOMAD_ADDR_sites} -data-dir ${NOMAD_ALLOC_DIR}/data]" {
		t.Errorf("aegir-server args: %v", args)
	}
}
