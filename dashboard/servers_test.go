package dashboard

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/aegirhq/aegir/dashboard/api"
	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/domain"
)

func TestServersAndServices(t *testing.T) {
	t.Parallel()
	runScenarios(t, []scenario{
		{
			name: "list servers", method: "GET", url: "/api/v1/servers", token: "admin",
			wantStatus: 200, wantContains: []string{`"total":1`, `"name":"web1"`},
		},
		{
			name: "create a server queues verify-server", method: "POST", url: "/api/v1/servers", token: "admin",
			body:       `{"name":"db2","address":"10.0.0.2","nomad_node":"node-2","services":[{"kind":"postgresql","port":5432,"settings":{"sslmode":"require"}}]}`,
			wantStatus: 201, wantContains: []string{`"server":{`, `"name":"db2"`, `"sslmode":"require"`, `"type":"verify-server"`, `"status":"queued"`, `"kind":"postgresql"`, `"type":"db"`},
			after: func(t *testing.T, b *bundle, body []byte) {
				var out apiv1.ServerCreated
				decodeJSON(t, body, &out)
				_, list := b.do("GET", "/api/v1/tasks?status=queued&target_id="+out.Server.ID, "admin", "", nil)
				if !strings.Contains(string(list), out.Task.ID) {
					t.Fatalf("verify-server not queued: %s", list)
				}
			},
		},
		{
			name: "create a server with a duplicate name", method: "POST", url: "/api/v1/servers", token: "admin",
			body: `{"name":"web1","address":"10.0.0.3"}`, wantStatus: 409, wantCode: api.CodeDuplicate, unchanged: true,
		},
		{
			name: "create a server with a bad address", method: "POST", url: "/api/v1/servers", token: "admin",
			body: `{"name":"x","address":"1.2.3.4; rm -rf /"}`, wantStatus: 400, wantCode: api.CodeInvalid, unchanged: true,
		},
		{
			name: "create a server with a homograph address", method: "POST", url: "/api/v1/servers", token: "admin",
			body: `{"name":"x","address":"аpple.com"}`, wantStatus: 400, wantCode: api.CodeInvalid, wantField: "address", unchanged: true,
		},
		{
			name: "create a server normalises its address", method: "POST", url: "/api/v1/servers", token: "admin",
			body: `{"name":"x","address":"DB2.Bücher.Example."}`, wantStatus: 201, wantContains: []string{`"address":"db2.xn--bcher-kva.example"`},
		},
		{
			name: "create a server with an IPv6 address", method: "POST", url: "/api/v1/servers", token: "admin",
			body: `{"name":"x","address":"2001:DB8:0::1"}`, wantStatus: 201, wantContains: []string{`"address":"2001:db8::1"`},
		},
		{
			name: "create a server whose nginx binary is a shell", method: "POST", url: "/api/v1/servers", token: "admin",
			body:       `{"name":"x","address":"10.0.0.4","services":[{"kind":"nginx","settings":{"binary":"/bin/sh"}}]}`,
			wantStatus: 400, wantCode: api.CodeInvalid, wantField: "services[0].settings.binary", unchanged: true,
		},
		{
			name: "create a server with an unknown service kind", method: "POST", url: "/api/v1/servers", token: "admin",
			body: `{"name":"x","address":"10.0.0.4","services":[{"kind":"oracle"}]}`, wantStatus: 400, wantCode: api.CodeInvalid, unchanged: true,
		},
		{
			name: "create a server with two db services", method: "POST", url: "/api/v1/servers", token: "admin",
			body: `{"name":"x","address":"10.0.0.4","services":[{"kind":"mariadb"},{"kind":"postgresql"}]}`, wantStatus: 409, wantCode: api.CodeDuplicate, unchanged: true,
		},
		{
			name: "get a server", method: "GET", url: "/api/v1/servers/{server}", token: "admin",
			wantStatus: 200, wantContains: []string{`"name":"web1"`},
		},
		{
			name: "update a server queues verify-server", method: "PUT", url: "/api/v1/servers/{server}", token: "admin",
			before:     func(b *bundle) { b.ids["v"] = b.version("servers", b.ids["server"]) },
			body:       `{"name":"web1","address":"127.0.0.2","version":{v}}`,
			wantStatus: 200, wantContains: []string{`"address":"127.0.0.2"`, `"type":"verify-server"`},
		},
		{
			name: "delete a server in use", method: "DELETE", url: "/api/v1/servers/{server}?version={v}", token: "admin",
			before:     func(b *bundle) { b.ids["v"] = b.version("servers", b.ids["server"]) },
			wantStatus: 409, wantCode: api.CodeConflict, unchanged: true,
		},
		{
			name: "server task", method: "POST", url: "/api/v1/servers/{server}/tasks", token: "admin", body: `{"type":"verify-server"}`,
			wantStatus: 202, wantContains: []string{`"type":"verify-server"`},
		},
		{
			name: "server task of a site type", method: "POST", url: "/api/v1/servers/{server}/tasks", token: "admin", body: `{"type":"backup"}`,
			wantStatus: 400, wantCode: api.CodeInvalid, unchanged: true,
		},
		{
			name: "list services of a server", method: "GET", url: "/api/v1/services?server_id={server}", token: "admin",
			wantStatus: 200, wantContains: []string{`"total":2`, "nginx", "mariadb"},
		},
		{
			name: "add a service by server name", method: "POST", url: "/api/v1/services", token: "admin",
			before: func(b *bundle) {
				_, body := b.do("POST", "/api/v1/servers", "admin", `{"name":"bare","address":"10.0.0.9"}`, nil)
				var out apiv1.ServerCreated
				decodeJSON(b.t, body, &out)
			},
			body: `{"server":"bare","kind":"builtin","port":8080}`, wantStatus: 201, wantContains: []string{`"kind":"builtin"`, `"type":"http"`},
		},
		{
			// apache has no driver, so the API refuses it and names the kinds
			// that exist (internal/servicekind).
			name: "add a service of a kind without a driver", method: "POST", url: "/api/v1/services", token: "admin",
			before: func(b *bundle) {
				_, body := b.do("POST", "/api/v1/servers", "admin", `{"name":"bare","address":"10.0.0.9"}`, nil)
				var out apiv1.ServerCreated
				decodeJSON(b.t, body, &out)
			},
			body: `{"server":"bare","kind":"apache","port":8080}`, wantStatus: 400, wantCode: api.CodeInvalid, unchanged: true,
			wantContains: []string{`no driver for service kind \"apache\"; use one of builtin, mariadb, nginx, postgresql, sqlite`},
		},
		{
			name: "update a service", method: "PUT", url: "/api/v1/services/{svc}", token: "admin",
			before: func(b *bundle) {
				svcs, err := b.st.ServicesOf(context.Background(), b.ids["server"])
				if err != nil {
					b.t.Fatal(err)
				}
				b.ids["svc"], b.ids["v"] = svcs[0].ID, itoa(svcs[0].Version)
			},
			body: `{"port":8081,"version":{v}}`, wantStatus: 200, wantContains: []string{`"port":8081`},
		},
		{
			name: "update nginx's settings", method: "PUT", url: "/api/v1/services/{svc}", token: "admin",
			before:     func(b *bundle) { b.ids["svc"], b.ids["v"] = b.service("http") },
			body:       `{"settings":{"binary":"/usr/sbin/nginx","pid_file":"/run/nginx.pid"},"version":{v}}`,
			wantStatus: 200, wantContains: []string{`"binary":"/usr/sbin/nginx"`, `"pid_file":"/run/nginx.pid"`},
		},
		{
			name: "update nginx's binary to a shell", method: "PUT", url: "/api/v1/services/{svc}", token: "admin",
			before: func(b *bundle) { b.ids["svc"], b.ids["v"] = b.service("http") },
			body:   `{"settings":{"binary":"/bin/sh"},"version":{v}}`, wantStatus: 400, wantCode: api.CodeInvalid, wantField: "settings.binary", unchanged: true,
		},
		{
			name: "update a service with a relative path", method: "PUT", url: "/api/v1/services/{svc}", token: "admin",
			before: func(b *bundle) { b.ids["svc"], b.ids["v"] = b.service("http") },
			body:   `{"settings":{"config_dir":"etc/nginx"},"version":{v}}`, wantStatus: 400, wantCode: api.CodeInvalid, wantField: "settings.config_dir", unchanged: true,
		},
		{
			name: "update a service with a setting its driver does not read", method: "PUT", url: "/api/v1/services/{svc}", token: "admin",
			before: func(b *bundle) { b.ids["svc"], b.ids["v"] = b.service("db") },
			body:   `{"settings":{"workers":"4"},"version":{v}}`, wantStatus: 400, wantCode: api.CodeInvalid, wantField: "settings.workers", unchanged: true,
		},
		{
			name: "add a service with a setting key that is not a name", method: "POST", url: "/api/v1/services", token: "admin",
			body:       `{"server_id":"{server}","kind":"builtin","port":8080,"settings":{"` + strings.Repeat("x", 200) + `; rm":"1"}}`,
			wantStatus: 400, wantCode: api.CodeInvalid, wantField: "settings", unchanged: true, notContains: []string{strings.Repeat("x", 100)},
		},
		{
			name: "add a service with a bad setting", method: "POST", url: "/api/v1/services", token: "admin",
			body:       `{"server_id":"{server}","kind":"builtin","port":8080,"settings":{"php_fastcgi":"127.0.0.1;9000"}}`,
			wantStatus: 400, wantCode: api.CodeInvalid, wantField: "settings.php_fastcgi", unchanged: true,
		},
		{
			name: "credentials go to the secrets backend and are not echoed", method: "PUT", url: "/api/v1/services/{db}/credentials", token: "admin",
			mod: func(c *Config) { c.Secrets = &FakeCredentialWriter{} },
			before: func(b *bundle) {
				svc, err := b.st.ServiceOf(context.Background(), b.ids["server"], "db")
				if err != nil {
					b.t.Fatal(err)
				}
				b.ids["db"] = svc.ID
			},
			body: `{"username":"root","password":"s3cret-P@ss"}`, wantStatus: 204, unchanged: true, audited: true, notContains: []string{"s3cret"},
			after: func(t *testing.T, b *bundle, _ []byte) {
				fw := b.cfg.Secrets.(*FakeCredentialWriter)
				if fw.got != b.ids["db"]+" root s3cret-P@ss" {
					t.Fatalf("secrets backend got %q", fw.got)
				}
			},
		},
		{
			name: "credentials with a bad password are refused without echoing it", method: "PUT", url: "/api/v1/services/{db}/credentials", token: "admin",
			mod: func(c *Config) { c.Secrets = &FakeCredentialWriter{} },
			before: func(b *bundle) {
				svc, _ := b.st.ServiceOf(context.Background(), b.ids["server"], "db")
				b.ids["db"] = svc.ID
			},
			body: `{"username":"root","password":"s3cret\u0000"}`, wantStatus: 400, wantCode: api.CodeInvalid, unchanged: true, notContains: []string{"s3cret"},
		},
		{
			name: "credentials without a secrets backend", method: "PUT", url: "/api/v1/services/{db}/credentials", token: "admin",
			before: func(b *bundle) {
				svc, _ := b.st.ServiceOf(context.Background(), b.ids["server"], "db")
				b.ids["db"] = svc.ID
			},
			body: `{"username":"root","password":"x"}`, wantStatus: 503, wantCode: api.CodeUnavailable, unchanged: true,
		},
	})
}

// FakeCredentialWriter records what the credentials endpoint hands over: a
// feed injection standing in for the secrets backend in that endpoint's test.
type FakeCredentialWriter struct {
	mu  sync.Mutex
	got string
}

func (f *FakeCredentialWriter) PutServiceCredentials(_ context.Context, serviceID, username, password string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = serviceID + " " + username + " " + password
	return nil
}

func TestPlatforms(t *testing.T) {
	t.Parallel()
	runScenarios(t, []scenario{
		{
			name: "create queues verify-platform", method: "POST", url: "/api/v1/platforms", token: "admin",
			body:       `{"name":"d10","path":"/srv/platforms/d10","web_server":"web1","type":"drupal"}`,
			wantStatus: 201, wantContains: []string{`"platform":{`, `"name":"d10"`, `"type":"verify-platform"`, `"status":"queued"`},
		},
		{
			name: "path outside the allowed roots", method: "POST", url: "/api/v1/platforms", token: "admin",
			body:       `{"name":"d10","path":"/etc/nginx","web_server":"web1","type":"drupal"}`,
			wantStatus: 400, wantCode: api.CodeInvalid, wantContains: []string{`"field":"path"`, "outside the allowed roots"}, unchanged: true,
		},
		{
			name: "path with a traversal", method: "POST", url: "/api/v1/platforms", token: "admin",
			body:       `{"name":"d10","path":"/srv/platforms/../../etc","web_server":"web1","type":"drupal"}`,
			wantStatus: 400, wantCode: api.CodeInvalid, wantContains: []string{`"field":"path"`}, unchanged: true,
		},
		{
			name: "unknown web server", method: "POST", url: "/api/v1/platforms", token: "admin",
			body:       `{"name":"d10","path":"/srv/platforms/d10","web_server":"nope","type":"drupal"}`,
			wantStatus: 400, wantCode: api.CodeInvalid, wantContains: []string{`"field":"web_server"`}, unchanged: true,
		},
		{
			name: "duplicate name", method: "POST", url: "/api/v1/platforms", token: "admin",
			body:       `{"name":"p1","path":"/srv/platforms/p1b","web_server":"web1","type":"php"}`,
			wantStatus: 409, wantCode: api.CodeDuplicate, unchanged: true,
		},
		{
			name: "get", method: "GET", url: "/api/v1/platforms/{platform}", token: "admin",
			wantStatus: 200, wantContains: []string{`"name":"p1"`},
		},
		{
			name: "lock", method: "POST", url: "/api/v1/platforms/{platform}/tasks", token: "admin", body: `{"type":"lock"}`,
			wantStatus: 202, wantContains: []string{`"type":"lock"`},
		},
		{
			name: "delete with sites on it", method: "POST", url: "/api/v1/platforms/{platform}/tasks", token: "admin", body: `{"type":"delete"}`,
			wantStatus: 409, wantCode: api.CodeConflict, unchanged: true,
		},
		{
			name: "unlock an unlocked platform", method: "POST", url: "/api/v1/platforms/{platform}/tasks", token: "admin", body: `{"type":"unlock"}`,
			wantStatus: 409, wantCode: api.CodeIllegalTransition, unchanged: true,
		},
		{
			name: "client user cannot run platform tasks", method: "POST", url: "/api/v1/platforms/{platform}/tasks", token: "alice", body: `{"type":"lock"}`,
			wantStatus: 403, wantCode: api.CodeForbidden, unchanged: true,
		},
	})
}

// service returns the id and version of the web server's service of type
// typ ("http" or "db").
func (b *bundle) service(typ string) (string, string) {
	b.t.Helper()
	svc, err := b.st.ServiceOf(context.Background(), b.ids["server"], domain.ServiceType(typ))
	if err != nil {
		b.t.Fatal(err)
	}
	return svc.ID, itoa(svc.Version)
}
