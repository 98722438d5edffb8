package dashboard

import (
	"testing"

	"github.com/aegirhq/aegir/dashboard/api"
)

func TestAuth(t *testing.T) {
	t.Parallel()
	runScenarios(t, []scenario{
		{
			name: "health needs no token", method: "GET", url: "/api/v1/health",
			wantStatus: 200, wantContains: []string{`{"status":"ok"}`},
		},
		{
			name: "the login page says where the API is", method: "GET", url: "/login",
			wantStatus: 200, wantContains: []string{"/api/v1/openapi.json"},
		},
		{
			name: "missing token", method: "GET", url: "/api/v1/sites",
			wantStatus: 401, wantCode: api.CodeUnauthorized, unchanged: true,
		},
		{
			name: "missing token on a write", method: "POST", url: "/api/v1/sites", body: newSite,
			wantStatus: 401, wantCode: api.CodeUnauthorized, unchanged: true,
		},
		{
			name: "unknown token", method: "GET", url: "/api/v1/sites", token: "aegir_00000000000000000000_0011223344",
			wantStatus: 401, wantCode: api.CodeUnauthorized, notContains: []string{"0011223344"}, unchanged: true,
		},
		{
			name: "unknown token on a write", method: "POST", url: "/api/v1/sites", token: "not-a-token", body: newSite,
			wantStatus: 401, wantCode: api.CodeUnauthorized, notContains: []string{"not-a-token"}, unchanged: true,
		},
		{
			name: "wrong scheme", method: "GET", url: "/api/v1/sites", header: map[string]string{"Authorization": "Basic YWRtaW46YWRtaW4="},
			wantStatus: 401, wantCode: api.CodeUnauthorized,
		},
		{
			name: "whoami", method: "GET", url: "/api/v1/whoami", token: "alice",
			wantStatus: 200, wantContains: []string{`"name":"alice"`, `"role":"client"`}, notContains: []string{"password_hash"},
		},
		{
			name: "unknown route", method: "GET", url: "/api/v1/nope", token: "admin",
			wantStatus: 404, wantCode: api.CodeNotFound,
		},
		{
			name: "method not allowed", method: "PATCH", url: "/api/v1/sites", token: "admin",
			wantStatus: 405, wantCode: api.CodeMethodNotAllowed,
		},
		{name: "client user: servers list is admin-only", method: "GET", url: "/api/v1/servers", token: "alice", wantStatus: 403, wantCode: api.CodeForbidden},
		{name: "client user: services list is admin-only", method: "GET", url: "/api/v1/services", token: "alice", wantStatus: 403, wantCode: api.CodeForbidden},
		{name: "client user: users list is admin-only", method: "GET", url: "/api/v1/users", token: "alice", wantStatus: 403, wantCode: api.CodeForbidden},
		{name: "client user: a server is 404", method: "GET", url: "/api/v1/servers/{server}", token: "alice", wantStatus: 404, wantCode: api.CodeNotFound},
		{name: "client user: a user is 404", method: "GET", url: "/api/v1/users/{bob}", token: "alice", wantStatus: 404, wantCode: api.CodeNotFound},
		{name: "client user: another client is 404", method: "GET", url: "/api/v1/clients/{clientB}", token: "alice", wantStatus: 404, wantCode: api.CodeNotFound},
		{name: "client user: own client", method: "GET", url: "/api/v1/clients/{clientA}", token: "alice", wantStatus: 200, wantContains: []string{`"name":"acme"`}},
		{
			name: "client user: client list holds only their own", method: "GET", url: "/api/v1/clients", token: "alice",
			wantStatus: 200, wantContains: []string{`"total":1`, "acme"}, notContains: []string{"globex"},
		},
		{
			name: "client user: cannot create clients", method: "POST", url: "/api/v1/clients", token: "alice", body: `{"name":"mine"}`,
			wantStatus: 403, wantCode: api.CodeForbidden, unchanged: true,
		},
		{
			name: "client user: cannot create platforms", method: "POST", url: "/api/v1/platforms", token: "alice",
			body: `{"name":"p2","path":"/srv/platforms/p2","web_server":"web1","type":"php"}`, wantStatus: 403, wantCode: api.CodeForbidden, unchanged: true,
		},
		{
			name: "client user: can read platforms", method: "GET", url: "/api/v1/platforms", token: "alice",
			wantStatus: 200, wantContains: []string{`"name":"p1"`},
		},
		{
			name: "client user: backups only of their sites", method: "GET", url: "/api/v1/backups", token: "alice",
			wantStatus: 200, wantContains: []string{`"total":0`},
		},
	})
}
