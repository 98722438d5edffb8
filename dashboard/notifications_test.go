package dashboard

import (
	"context"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/dashboard/api"
	"github.com/aegirhq/aegir/secrets"
)

// fileSecrets is the server's secrets writer on a real file backend, as
// aegir's own wiring makes it: service credentials, the webhooks' signing
// secrets and (certificates_test.go) uploaded certificates.
type fileSecrets struct{ fs *secrets.FileStore }

func (f fileSecrets) PutServiceCredentials(ctx context.Context, id, user, pass string) error {
	return f.fs.Put(ctx, secrets.ServiceAdminRef(id), map[string]string{"username": user, "password": pass})
}

func (f fileSecrets) PutWebhookSecret(ctx context.Context, id, secret string) error {
	return f.fs.Put(ctx, secrets.WebhookSecretRef(id), map[string]string{"secret": secret})
}

func (f fileSecrets) DeleteWebhookSecret(ctx context.Context, id string) error {
	return f.fs.Delete(ctx, secrets.WebhookSecretRef(id))
}

// subscribe creates a subscription as user and records its id as
// placeholder name.
func (b *bundle) subscribe(user, name, body string) {
	b.t.Helper()
	res, out := b.do("POST", "/api/v1/notifications", user, body, nil)
	if res.StatusCode != 201 {
		b.t.Fatalf("subscribe: %d %s", res.StatusCode, out)
	}
	var c struct {
		Subscription struct {
			ID string `json:"id"`
		} `json:"subscription"`
	}
	decodeJSON(b.t, out, &c)
	b.ids[name] = c.Subscription.ID
}

func TestNotifications(t *testing.T) {
	t.Parallel()
	secretsMod := func(c *Config) {
		fs, err := secrets.OpenFile(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		c.Secrets = fileSecrets{fs}
	}
	aliceHook := func(b *bundle) {
		b.subscribe("alice", "sub", `{"webhook":"https://hooks.example.com/aegir","events":["task_failed"]}`)
	}
	runScenarios(t, []scenario{
		{
			name: "a webhook's secret is shown once", method: "POST", url: "/api/v1/notifications", token: "alice", mod: secretsMod,
			body:       `{"webhook":"https://hooks.example.com/aegir","events":["task_failed","queue_site_failing"],"client_id":"{clientA}"}`,
			wantStatus: 201, wantContains: []string{`"secret":"`, `"channel":"webhook"`, `"client_id":"{clientA}"`, `"events":["task_failed","queue_site_failing"]`},
			after: func(t *testing.T, b *bundle, body []byte) {
				var c struct {
					Secret string `json:"secret"`
				}
				decodeJSON(t, body, &c)
				if len(c.Secret) != 64 {
					t.Fatalf("secret %q", c.Secret)
				}
				for _, url := range []string{"/api/v1/notifications", "/api/v1/audit"} {
					_, out := b.do("GET", url, "alice", "", nil)
					if strings.Contains(string(out), c.Secret) {
						t.Errorf("%s shows the secret: %s", url, out)
					}
				}
				if dump := b.dump(); strings.Contains(strings.Join(mapValues(dump), "\n"), c.Secret) {
					t.Error("the store holds the secret")
				}
			},
		},
		{
			name: "email with every event by default", method: "POST", url: "/api/v1/notifications", token: "admin",
			body:       `{"email":"ops@example.com"}`,
			wantStatus: 201, wantContains: []string{`"channel":"email"`, `"target":"ops@example.com"`, `"certificate_expiring"`, `"disk_low"`},
			notContains: []string{`"secret"`},
		},
		{
			name: "a webhook without a secrets backend", method: "POST", url: "/api/v1/notifications", token: "alice",
			body: `{"webhook":"https://hooks.example.com/aegir"}`, wantStatus: 503, unchanged: true,
		},
		{
			name: "a client user cannot subscribe to another client's events", method: "POST", url: "/api/v1/notifications", token: "alice",
			body: `{"email":"alice@example.com","client_id":"{clientB}"}`, wantStatus: 400, wantCode: api.CodeInvalid, wantField: "client_id", unchanged: true,
		},
		{
			name: "a non-http URL is refused", method: "POST", url: "/api/v1/notifications", token: "admin", mod: secretsMod,
			body: `{"webhook":"ftp://example.com/hook"}`, wantStatus: 400, wantCode: api.CodeInvalid, wantField: "target", unchanged: true,
			wantContains: []string{"https://"},
		},
		{
			name: "a URL without a host is refused", method: "POST", url: "/api/v1/notifications", token: "admin", mod: secretsMod,
			body: `{"webhook":"https:///hook"}`, wantStatus: 400, wantCode: api.CodeInvalid, wantField: "target", unchanged: true,
			wantContains: []string{"no host"},
		},
		{
			name: "an unknown event is refused", method: "POST", url: "/api/v1/notifications", token: "admin",
			body: `{"email":"ops@example.com","events":["site_sad"]}`, wantStatus: 400, wantCode: api.CodeInvalid, wantField: "events", unchanged: true,
		},
		{
			name: "both a webhook and an email", method: "POST", url: "/api/v1/notifications", token: "admin",
			body: `{"email":"ops@example.com","webhook":"https://h.example.com/"}`, wantStatus: 400, wantCode: api.CodeInvalid, unchanged: true,
		},
		{
			name: "a header in an address", method: "POST", url: "/api/v1/notifications", token: "admin",
			body: `{"email":"ops@example.com\r\nBcc: all@example.com"}`, wantStatus: 400, wantCode: api.CodeInvalid, unchanged: true,
		},
		{
			name: "list shows only one's own", method: "GET", url: "/api/v1/notifications", token: "bob", mod: secretsMod, before: aliceHook,
			wantStatus: 200, wantContains: []string{`"total":0`},
		},
		{
			name: "someone else's is not found", method: "GET", url: "/api/v1/notifications/{sub}", token: "bob", mod: secretsMod, before: aliceHook,
			wantStatus: 404,
		},
		{
			name: "someone else's cannot be removed", method: "DELETE", url: "/api/v1/notifications/{sub}", token: "bob", mod: secretsMod, before: aliceHook,
			wantStatus: 404, unchanged: true,
		},
		{
			name: "someone else's cannot be tested", method: "POST", url: "/api/v1/notifications/{sub}/test", token: "bob", mod: secretsMod, before: aliceHook,
			wantStatus: 404, unchanged: true,
		},
		{
			name: "test queues an event", method: "POST", url: "/api/v1/notifications/{sub}/test", token: "alice", mod: secretsMod, before: aliceHook,
			wantStatus: 202, wantContains: []string{`"event_id":"`},
		},
		{
			name: "an empty delivery log", method: "GET", url: "/api/v1/notifications/{sub}/deliveries", token: "alice", mod: secretsMod, before: aliceHook,
			wantStatus: 200, wantContains: []string{`"total":0`},
		},
		{
			name: "remove", method: "DELETE", url: "/api/v1/notifications/{sub}", token: "alice", mod: secretsMod, before: aliceHook,
			wantStatus: 204,
			after: func(t *testing.T, b *bundle, _ []byte) {
				if res, _ := b.do("GET", "/api/v1/notifications/{sub}", "alice", "", nil); res.StatusCode != 404 {
					t.Fatalf("still there: %d", res.StatusCode)
				}
			},
		},
	})
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
