package dashboard

import (
	"testing"

	"github.com/aegirhq/aegir/dashboard/api"
)

func TestClients(t *testing.T) {
	t.Parallel()
	runScenarios(t, []scenario{
		{
			name: "list", method: "GET", url: "/api/v1/clients", token: "admin",
			wantStatus: 200, wantContains: []string{`"total":2`, "acme", "globex"},
		},
		{
			name: "create", method: "POST", url: "/api/v1/clients", token: "admin", body: `{"name":"initech","title":"Initech"}`,
			wantStatus: 201, wantContains: []string{`"name":"initech"`, `"version":`},
		},
		{
			name: "create a duplicate", method: "POST", url: "/api/v1/clients", token: "admin", body: `{"name":"acme"}`,
			wantStatus: 409, wantCode: api.CodeDuplicate, unchanged: true,
		},
		{
			name: "create with a bad name", method: "POST", url: "/api/v1/clients", token: "admin", body: `{"name":"Acme Inc; drop table"}`,
			wantStatus: 400, wantCode: api.CodeInvalid, wantContains: []string{`"field":"name"`}, unchanged: true,
		},
		{
			name: "get", method: "GET", url: "/api/v1/clients/{clientA}", token: "admin",
			wantStatus: 200, wantContains: []string{`"id":"{clientA}"`},
		},
		{
			name: "update", method: "PUT", url: "/api/v1/clients/{clientB}", token: "admin",
			before:     func(b *bundle) { b.ids["v"] = b.version("clients", b.ids["clientB"]) },
			body:       `{"name":"globex","title":"Globex Corp","version":{v}}`,
			wantStatus: 200, wantContains: []string{`"title":"Globex Corp"`},
		},
		{
			name: "update with a stale version", method: "PUT", url: "/api/v1/clients/{clientB}", token: "admin",
			body: `{"name":"globex","title":"x","version":1}`, wantStatus: 409, wantCode: api.CodeConflict, unchanged: true,
		},
		{
			name: "delete a client with sites", method: "DELETE", url: "/api/v1/clients/{clientB}?version={v}", token: "admin",
			before:     func(b *bundle) { b.ids["v"] = b.version("clients", b.ids["clientB"]) },
			wantStatus: 409, wantCode: api.CodeConflict, unchanged: true,
		},
		{
			name: "delete without a version", method: "DELETE", url: "/api/v1/clients/{clientB}", token: "admin",
			wantStatus: 400, wantCode: api.CodeInvalid, unchanged: true,
		},
		{
			name: "delete an unused client", method: "DELETE", url: "/api/v1/clients/{c}?version={v}", token: "admin",
			before: func(b *bundle) {
				_, body := b.do("POST", "/api/v1/clients", "admin", `{"name":"gone"}`, nil)
				var c struct {
					ID      string `json:"id"`
					Version uint64 `json:"version"`
				}
				decodeJSON(b.t, body, &c)
				b.ids["c"], b.ids["v"] = c.ID, itoa(c.Version)
			},
			wantStatus: 204,
			after: func(t *testing.T, b *bundle, _ []byte) {
				if res, _ := b.do("GET", "/api/v1/clients/{c}", "admin", "", nil); res.StatusCode != 404 {
					t.Fatalf("client still there: %d", res.StatusCode)
				}
			},
		},
	})
}
