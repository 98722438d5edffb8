package cli

import (
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
)

func TestPlatformCommands(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.api.withFixtures()
	r := b.run("platform", "list").want(t, ExitOK)
	contains(t, "stdout", r.stdout, "NAME", "drupal10", "drupal", "ready", "web1", "/var/aegir/platforms/drupal10")

	r = b.run("platform", "show", "drupal10").want(t, ExitOK)
	contains(t, "stdout", r.stdout, "Web server", "web1 ("+webID+")")
	r = b.run("platform", "show", "drupal10", "-json").want(t, ExitOK)
	jsonEqual(t, r.stdout, mustJSON(fixturePlatform()))

	task := fixtureTask(domain.TaskVerifyPlatform, domain.TaskQueued)
	task.TargetKind, task.TargetID, task.TargetName = domain.TargetPlatform, platformID, "drupal10"
	b.api.on("POST", "/platforms", 201, map[string]any{"platform": fixturePlatform(), "task": task})
	r = b.run("platform", "create", "drupal10", "-path", "/var/aegir/platforms/drupal10", "-server", "web1", "-type", "drupal").want(t, ExitOK)
	jsonEqual(t, b.api.only("POST", "/platforms").Body, `{"name":"drupal10","path":"/var/aegir/platforms/drupal10","web_server":"web1","type":"drupal"}`)
	contains(t, "stdout", r.stdout, "Platform drupal10 created (id "+platformID+")", "(verify-platform on platform drupal10) queued")

	b.api.on("POST", "/platforms/"+platformID+"/tasks", 202, task)
	for verb, typ := range map[string]string{"verify": "verify-platform", "import": "import", "lock": "lock", "unlock": "unlock"} {
		args := []string{"platform", verb, "drupal10"}
		if verb == "import" {
			b.run(args...).want(t, ExitUsage) // import names the owner and db server of what it finds
			args = append(args, "-client", "acme", "-db-server", "db1")
		}
		b.run(args...).want(t, ExitOK)
		reqs := b.api.requests("POST", "/platforms/"+platformID+"/tasks")
		body := jsonBody(t, reqs[len(reqs)-1])
		if got := body["type"]; got != typ {
			t.Errorf("platform %s sent type %v, want %s", verb, got, typ)
		}
		if verb == "import" {
			a, _ := body["args"].(map[string]any)
			if a["client_id"] != clientID || a["db_server_id"] != dbID {
				t.Errorf("platform import sent args %v", body["args"])
			}
		}
	}
	n := len(b.api.requests("POST", "/platforms/"+platformID+"/tasks"))
	r = b.run("platform", "delete", "drupal10").want(t, ExitUsage)
	contains(t, "stderr", r.stderr, "refusing to delete the platform drupal10")
	b.run("platform", "delete", "drupal10", "-yes").want(t, ExitOK)
	reqs := b.api.requests("POST", "/platforms/"+platformID+"/tasks")
	if len(reqs) != n+1 || jsonBody(t, reqs[n])["type"] != "delete" {
		t.Errorf("platform delete: %d requests, last %s", len(reqs), reqs[len(reqs)-1].Body)
	}
}

func TestServerCommands(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.api.withFixtures()
	r := b.run("server", "list").want(t, ExitOK)
	contains(t, "stdout", r.stdout, "web1", "10.0.0.5", "http/nginx:80", "db1", "db/mariadb:3306")

	r = b.run("server", "show", "db1").want(t, ExitOK)
	contains(t, "stdout", r.stdout, "Services", dbSvcID, "mariadb", "3306")
	if strings.Contains(r.stdout, httpSvcID) {
		t.Error("server show lists another server's service")
	}

	srv := fixtureServers()[0]
	task := fixtureTask(domain.TaskVerifyServer, domain.TaskQueued)
	task.TargetKind, task.TargetID, task.TargetName = domain.TargetServer, webID, "web1"
	b.api.on("POST", "/servers", 201, map[string]any{"server": srv, "task": task})
	r = b.run("server", "create", "web1", "-address", "10.0.0.5", "-nomad-node", "node-1", "-http", "nginx", "-http-port", "8080", "-db", "postgresql").want(t, ExitOK)
	jsonEqual(t, b.api.only("POST", "/servers").Body,
		`{"name":"web1","address":"10.0.0.5","nomad_node":"node-1","services":[{"kind":"nginx","port":8080},{"kind":"postgresql"}]}`)
	contains(t, "stdout", r.stdout, "Server web1 created", "(verify-server on server web1) queued")

	b.api.on("POST", "/servers/"+webID+"/tasks", 202, task)
	b.run("server", "verify", "web1").want(t, ExitOK)
	jsonEqual(t, b.api.only("POST", "/servers/"+webID+"/tasks").Body, `{"type":"verify-server"}`)

	b.api.on("DELETE", "/servers/"+dbID, 204, nil)
	b.run("server", "delete", "db1").want(t, ExitUsage)
	if len(b.api.requests("DELETE", "/servers/"+dbID)) != 0 {
		t.Fatal("deleted without -yes")
	}
	b.run("server", "delete", "db1", "-yes").want(t, ExitOK)
	if v := b.api.only("DELETE", "/servers/"+dbID).Query.Get("version"); v != "7" {
		t.Errorf("DELETE version=%q, want the version read, 7", v)
	}
}

func TestServerCredentials(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		tty   bool
		stdin string
		pass  string
		want  string
		code  int
	}{
		{"from stdin", false, "s3cret pass\n", "", "s3cret pass", ExitOK},
		{"from stdin without newline", false, "s3cret", "", "s3cret", ExitOK},
		{"prompted", true, "", "typed-secret", "typed-secret", ExitOK},
		{"empty", false, "", "", "", ExitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.api.withFixtures()
			b.api.on("PUT", "/services/"+dbSvcID+"/credentials", 204, nil)
			b.tty, b.in, b.pass = tt.tty, tt.stdin, tt.pass
			r := b.run("server", "credentials", "db1", "-db-user", "aegir_root").want(t, tt.code)
			if tt.code != ExitOK {
				if len(b.api.writes()) != 0 {
					t.Errorf("writes %v", b.api.writes())
				}
				return
			}
			jsonEqual(t, b.api.only("PUT", "/services/"+dbSvcID+"/credentials").Body, mustJSON(map[string]string{"username": "aegir_root", "password": tt.want}))
			if strings.Contains(r.stdout+r.stderr, tt.want) {
				t.Error("the password was printed")
			}
			contains(t, "stdout", r.stdout, "Credentials of aegir_root on db1 stored.")
		})
	}

	b := setup(t)
	b.api.withFixtures()
	b.in = "pw\n"
	r := b.run("server", "credentials", "web1", "-db-user", "root").want(t, ExitFailed)
	contains(t, "stderr", r.stderr, "server web1 has no database service")
}

func TestClientCommands(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.api.withFixtures()
	r := b.run("client", "list").want(t, ExitOK)
	contains(t, "stdout", r.stdout, "acme", "Acme Inc.", "ops@acme.example")

	b.api.on("POST", "/clients", 201, fixtureClient())
	r = b.run("client", "create", "acme", "-title", "Acme Inc.", "-email", "ops@acme.example").want(t, ExitOK)
	jsonEqual(t, b.api.only("POST", "/clients").Body, `{"name":"acme","title":"Acme Inc.","email":"ops@acme.example"}`)
	contains(t, "stdout", r.stdout, "Client acme created (id "+clientID+")")

	r = b.run("client", "show", "acme").want(t, ExitOK)
	contains(t, "stdout", r.stdout, "Title", "Acme Inc.")

	b.api.on("DELETE", "/clients/"+clientID, 409, apiErr("conflict", "client acme still owns 3 sites; delete or move them first"))
	r = b.run("client", "delete", "acme", "-yes").want(t, ExitFailed)
	contains(t, "stderr", r.stderr, "still owns 3 sites", "(conflict)")
	if v := b.api.only("DELETE", "/clients/"+clientID).Query.Get("version"); v != "4" {
		t.Errorf("version=%q", v)
	}
}

func TestUserAndTokenCommands(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.api.withFixtures()
	u := domain.User{ID: userID, Name: "bob", Role: domain.RoleClient, ClientIDs: []string{clientID}, CreatedAt: t0, Version: 2}
	b.api.on("GET", "/users", 200, list(u))
	b.api.on("POST", "/users", 201, u)
	r := b.run("user", "list").want(t, ExitOK)
	contains(t, "stdout", r.stdout, "bob", "client", "acme")

	b.run("user", "create", "bob", "-role", "client", "-client", "acme", "-email", "bob@acme.example").want(t, ExitOK)
	jsonEqual(t, b.api.only("POST", "/users").Body, `{"name":"bob","role":"client","client_ids":["`+clientID+`"],"email":"bob@acme.example"}`)

	b.api.on("DELETE", "/users/"+userID, 204, nil)
	b.run("user", "delete", "bob", "-yes").want(t, ExitOK)
	if v := b.api.only("DELETE", "/users/"+userID).Query.Get("version"); v != "2" {
		t.Errorf("version=%q", v)
	}

	tok := domain.Token{ID: "0000000000000000k001", UserID: userID, Name: "ci", CreatedAt: t0}
	secret := "aegir_0000000000000000k001_feedface"
	b.api.on("POST", "/tokens", 201, map[string]any{"token": tok, "secret": secret})
	r = b.run("token", "create", "-name", "ci", "-user", "bob", "-ttl", "720h").want(t, ExitOK)
	jsonEqual(t, b.api.only("POST", "/tokens").Body, `{"name":"ci","user_id":"`+userID+`","ttl":"720h"}`)
	contains(t, "stdout", r.stdout, "shown only this once", secret)
	r = b.run("token", "create", "-q").want(t, ExitOK)
	if r.stdout != secret+"\n" {
		t.Errorf("-q printed %q", r.stdout)
	}
	b.run("token", "create", "-ttl", "forever").want(t, ExitUsage)

	b.api.on("GET", "/tokens", 200, list(tok))
	r = b.run("token", "list").want(t, ExitOK)
	contains(t, "stdout", r.stdout, "0000000000000000k001", "ci")
	if strings.Contains(r.stdout, secret) {
		t.Error("token list shows a secret")
	}
	b.api.on("DELETE", "/tokens/0000000000000000k001", 204, nil)
	r = b.run("token", "delete", "0000000000000000k001").want(t, ExitOK)
	contains(t, "stdout", r.stdout, "revoked")
}
