package dashboard

import (
	"strings"
	"testing"
	"time"

	"github.com/aegirhq/aegir/dashboard/api"
	"github.com/aegirhq/aegir/internal/apiv1"
)

func TestUsersAndTokens(t *testing.T) {
	t.Parallel()
	runScenarios(t, []scenario{
		{
			name: "list users without secrets", method: "GET", url: "/api/v1/users", token: "admin",
			wantStatus: 200, wantContains: []string{`"total":3`, "alice", "bob", "admin"}, notContains: []string{"password_hash"},
		},
		{
			name: "create a client user", method: "POST", url: "/api/v1/users", token: "admin",
			body:       `{"name":"carol","email":"carol@example.com","role":"client","client_ids":["{clientA}"]}`,
			wantStatus: 201, wantContains: []string{`"name":"carol"`, `"client_ids":["{clientA}"]`},
		},
		{
			name: "create a user with an unknown role", method: "POST", url: "/api/v1/users", token: "admin",
			body: `{"name":"carol","role":"root"}`, wantStatus: 400, wantCode: api.CodeInvalid, unchanged: true,
		},
		{
			name: "create a user with a password hash", method: "POST", url: "/api/v1/users", token: "admin",
			body: `{"name":"carol","role":"admin","password_hash":"x"}`, wantStatus: 400, wantCode: api.CodeUnknownField, unchanged: true,
		},
		{
			name: "update a user's clients", method: "PUT", url: "/api/v1/users/{alice}", token: "admin",
			before:     func(b *bundle) { b.ids["v"] = b.version("users", b.ids["alice"]) },
			body:       `{"name":"alice","role":"client","client_ids":["{clientA}","{clientB}"],"version":{v}}`,
			wantStatus: 200, wantContains: []string{`"{clientB}"`},
			after: func(t *testing.T, b *bundle, _ []byte) {
				_, body := b.do("GET", "/api/v1/sites", "alice", "", nil)
				if !strings.Contains(string(body), `"total":2`) {
					t.Fatalf("alice should now see both sites: %s", body)
				}
			},
		},
		{
			name: "delete a user", method: "DELETE", url: "/api/v1/users/{bob}?version={v}", token: "admin",
			before:     func(b *bundle) { b.ids["v"] = b.version("users", b.ids["bob"]) },
			wantStatus: 204,
			after: func(t *testing.T, b *bundle, _ []byte) {
				if res, _ := b.do("GET", "/api/v1/whoami", "bob", "", nil); res.StatusCode != 401 {
					t.Fatalf("bob's token still works: %d", res.StatusCode)
				}
			},
		},
		{
			name: "a token's ttl is bounded by the server's maximum", method: "POST", url: "/api/v1/tokens", token: "alice",
			body: `{"name":"ci","ttl":"1000000h"}`, wantStatus: 400, wantCode: api.CodeInvalid, wantField: "ttl", unchanged: true,
			wantContains: []string{"at most 8760h"},
		},
		{
			name: "a token's ttl is bounded by the configured maximum", method: "POST", url: "/api/v1/tokens", token: "alice",
			mod:  func(c *Config) { c.MaxTokenTTL = 48 * time.Hour },
			body: `{"name":"ci","ttl":"49h"}`, wantStatus: 400, wantCode: api.CodeInvalid, wantField: "ttl", unchanged: true,
			wantContains: []string{"at most 48h"},
		},
		{
			name: "a token asked for without a ttl lasts the maximum", method: "POST", url: "/api/v1/tokens", token: "alice",
			mod:  func(c *Config) { c.MaxTokenTTL = 48 * time.Hour },
			body: `{"name":"ci"}`, wantStatus: 201, wantContains: []string{`"expires_at"`},
			after: func(t *testing.T, b *bundle, body []byte) {
				var out apiv1.TokenCreated
				decodeJSON(t, body, &out)
				if out.Token.ExpiresAt == nil || time.Until(*out.Token.ExpiresAt) > 48*time.Hour || time.Until(*out.Token.ExpiresAt) < 47*time.Hour {
					t.Fatalf("expires_at = %v, want in 48h", out.Token.ExpiresAt)
				}
			},
		},
		{
			name: "create a token shows the secret once", method: "POST", url: "/api/v1/tokens", token: "alice",
			body: `{"name":"ci","ttl":"24h"}`, wantStatus: 201, wantContains: []string{`"secret":"aegir_`, `"name":"ci"`, `"expires_at"`}, notContains: []string{`"hash"`},
			after: func(t *testing.T, b *bundle, body []byte) {
				var out apiv1.TokenCreated
				decodeJSON(t, body, &out)
				res, who := b.do("GET", "/api/v1/whoami", out.Secret, "", nil)
				if res.StatusCode != 200 || !strings.Contains(string(who), "alice") {
					t.Fatalf("new token: %d %s", res.StatusCode, who)
				}
				_, list := b.do("GET", "/api/v1/tokens", "alice", "", nil)
				if strings.Contains(string(list), out.Secret) || strings.Contains(string(list), `"hash"`) || !strings.Contains(string(list), `"total":2`) {
					t.Fatalf("token list: %s", list)
				}
				if res, _ := b.do("DELETE", "/api/v1/tokens/"+out.Token.ID, "alice", "", nil); res.StatusCode != 204 {
					t.Fatalf("revoke: %d", res.StatusCode)
				}
				if res, _ := b.do("GET", "/api/v1/whoami", out.Secret, "", nil); res.StatusCode != 401 {
					t.Fatalf("revoked token still works: %d", res.StatusCode)
				}
			},
		},
		{
			name: "client user cannot create tokens for others", method: "POST", url: "/api/v1/tokens", token: "alice",
			body: `{"user_id":"{bob}"}`, wantStatus: 403, wantCode: api.CodeForbidden, unchanged: true,
		},
		{
			name: "admin creates a token for a user", method: "POST", url: "/api/v1/tokens", token: "admin",
			body: `{"user_id":"{bob}","name":"for-bob"}`, wantStatus: 201, wantContains: []string{`"user_id":"{bob}"`},
		},
		{
			name: "client user sees only their tokens", method: "GET", url: "/api/v1/tokens", token: "alice",
			wantStatus: 200, wantContains: []string{`"total":1`, `"user_id":"{alice}"`}, notContains: []string{"{bob}"},
		},
		{
			name: "bad ttl", method: "POST", url: "/api/v1/tokens", token: "alice", body: `{"ttl":"forever"}`,
			wantStatus: 400, wantCode: api.CodeInvalid, unchanged: true,
		},
	})
}

func TestReadOnlyLists(t *testing.T) {
	t.Parallel()
	runScenarios(t, []scenario{
		{name: "packages", method: "GET", url: "/api/v1/packages", token: "admin", wantStatus: 200, wantContains: []string{`"items":[]`, `"total":0`}},
		{name: "releases", method: "GET", url: "/api/v1/releases", token: "alice", wantStatus: 200, wantContains: []string{`"total":0`}},
		{name: "instances", method: "GET", url: "/api/v1/instances", token: "alice", wantStatus: 200, wantContains: []string{`"total":0`}},
		{name: "backups", method: "GET", url: "/api/v1/backups", token: "admin", wantStatus: 200, wantContains: []string{`"total":0`}},
	})
}
