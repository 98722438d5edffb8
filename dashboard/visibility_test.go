package dashboard

import (
	"testing"

	"github.com/aegirhq/aegir/dashboard/api"
)

// TestClientUsersSeeOnlyWhatTheyNeed (issue 14 item 7): a client user's
// answers leave out where platforms live, servers' addresses and
// services' settings; an admin's include them. The fixture's platform is
// at /srv/platforms/p1 on web1 (127.0.0.1), whose services are nginx and
// mariadb.
func TestClientUsersSeeOnlyWhatTheyNeed(t *testing.T) {
	t.Parallel()
	hidden := []string{"/srv/platforms", `"path"`, "127.0.0.1", `"address"`, `"settings"`}
	runScenarios(t, []scenario{
		{
			name: "client user: platform list without paths", method: "GET", url: "/api/v1/platforms", token: "alice",
			wantStatus: 200, wantContains: []string{`"name":"p1"`, `"type":"php"`, `"web_server_id":"{server}"`}, notContains: hidden,
		},
		{
			name: "client user: platform without its path", method: "GET", url: "/api/v1/platforms/{platform}", token: "alice",
			wantStatus: 200, wantContains: []string{`"name":"p1"`}, notContains: hidden,
		},
		{
			name: "client user: sites without paths or addresses", method: "GET", url: "/api/v1/sites", token: "alice",
			wantStatus: 200, wantContains: []string{`"domain":"a.example.com"`}, notContains: hidden,
		},
		{
			name: "client user: site without paths or addresses", method: "GET", url: "/api/v1/sites/{siteA}", token: "alice",
			wantStatus: 200, wantContains: []string{`"domain":"a.example.com"`}, notContains: hidden,
		},
		{
			name: "client user: no server list", method: "GET", url: "/api/v1/servers", token: "alice",
			wantStatus: 403, wantCode: api.CodeForbidden, notContains: hidden,
		},
		{
			name: "client user: no server", method: "GET", url: "/api/v1/servers/{server}", token: "alice",
			wantStatus: 404, wantCode: api.CodeNotFound, notContains: hidden,
		},
		{
			name: "client user: no services", method: "GET", url: "/api/v1/services?server_id={server}", token: "alice",
			wantStatus: 403, wantCode: api.CodeForbidden, notContains: hidden,
		},
		{
			name: "admin: platform list with paths", method: "GET", url: "/api/v1/platforms", token: "admin",
			wantStatus: 200, wantContains: []string{`"path":"/srv/platforms/p1"`},
		},
		{
			name: "admin: platform with its path", method: "GET", url: "/api/v1/platforms/{platform}", token: "admin",
			wantStatus: 200, wantContains: []string{`"path":"/srv/platforms/p1"`},
		},
		{
			name: "admin: server with its address", method: "GET", url: "/api/v1/servers/{server}", token: "admin",
			wantStatus: 200, wantContains: []string{`"address":"127.0.0.1"`},
		},
		{
			name: "admin: services with their settings", method: "GET", url: "/api/v1/services?server_id={server}", token: "admin",
			before: func(b *bundle) {
				id, v := b.service("http")
				if res, body := b.do("PUT", "/api/v1/services/"+id, "admin", `{"settings":{"pid_file":"/run/nginx.pid"},"version":`+v+`}`, nil); res.StatusCode != 200 {
					b.t.Fatalf("set nginx's settings: %d %s", res.StatusCode, body)
				}
			},
			wantStatus: 200, wantContains: []string{`"settings":{"pid_file":"/run/nginx.pid"}`},
		},
	})
}
