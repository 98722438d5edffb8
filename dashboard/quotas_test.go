package dashboard

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/aegirhq/aegir/dashboard/api"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
)

// setQuotas gives acme quotas q through the API, as the admin.
func (b *bundle) setQuotas(q string) {
	b.t.Helper()
	b.ids["v"] = b.version("clients", b.ids["clientA"])
	res, body := b.do("PUT", "/api/v1/clients/{clientA}", "admin", `{"name":"acme","quotas":`+q+`,"version":{v}}`, nil)
	if res.StatusCode != 200 {
		b.t.Fatalf("setting quotas: %d %s", res.StatusCode, body)
	}
}

func TestClientQuotaAPI(t *testing.T) {
	t.Parallel()
	runScenarios(t, []scenario{
		{
			name: "admin sets quotas", method: "PUT", url: "/api/v1/clients/{clientA}", token: "admin",
			before:     func(b *bundle) { b.ids["v"] = b.version("clients", b.ids["clientA"]) },
			body:       `{"name":"acme","quotas":{"tasks":3,"disk":1073741824},"version":{v}}`,
			wantStatus: 200, wantContains: []string{`"quotas":{"disk":1073741824,"tasks":3}`},
			audited: true,
		},
		{
			name: "an unknown quota", method: "PUT", url: "/api/v1/clients/{clientA}", token: "admin",
			before:     func(b *bundle) { b.ids["v"] = b.version("clients", b.ids["clientA"]) },
			body:       `{"name":"acme","quotas":{"bananas":3},"version":{v}}`,
			wantStatus: 400, wantCode: api.CodeInvalid, wantField: "quotas.bananas", unchanged: true,
		},
		{
			name: "a negative quota", method: "PUT", url: "/api/v1/clients/{clientA}", token: "admin",
			before:     func(b *bundle) { b.ids["v"] = b.version("clients", b.ids["clientA"]) },
			body:       `{"name":"acme","quotas":{"sites":-1},"version":{v}}`,
			wantStatus: 400, wantCode: api.CodeInvalid, wantField: "quotas.sites", unchanged: true,
		},
		{
			name: "a client user cannot raise their own quota", method: "PUT", url: "/api/v1/clients/{clientA}", token: "alice",
			before:     func(b *bundle) { b.ids["v"] = b.version("clients", b.ids["clientA"]) },
			body:       `{"name":"acme","quotas":{"tasks":1000},"version":{v}}`,
			wantStatus: 403, wantCode: api.CodeForbidden, unchanged: true,
		},
		{
			name: "a client user cannot create a client with quotas", method: "POST", url: "/api/v1/clients", token: "alice",
			body:       `{"name":"mine","quotas":{"tasks":1000}}`,
			wantStatus: 403, wantCode: api.CodeForbidden, unchanged: true,
		},
		{
			name: "a client user reads their quota", method: "GET", url: "/api/v1/clients/{clientA}/quota", token: "alice",
			before:     func(b *bundle) { b.setQuotas(`{"sites":5}`) },
			wantStatus: 200, wantContains: []string{`"limits":{"backups":0,"disk":0,"sites":5,"tasks":0}`, `"overrides":{"sites":5}`, `"usage":{`, `"sites":1`},
		},
		{
			name: "another client's quota is not found", method: "GET", url: "/api/v1/clients/{clientB}/quota", token: "alice",
			wantStatus: 404, wantCode: api.CodeNotFound,
		},
		{
			name: "over the sites quota", method: "POST", url: "/api/v1/sites", token: "alice",
			before:     func(b *bundle) { b.setQuotas(`{"sites":1}`) },
			body:       `{"domain":"a2.example.com","platform_id":"{platform}","db_server_id":"{server}","client_id":"{clientA}"}`,
			wantStatus: 409, wantCode: api.CodeQuotaExceeded, wantField: "quotas.sites",
			wantContains: []string{"client acme is at its sites quota: 1 of 1 sites"}, unchanged: true,
		},
		{
			name: "the quota defaults", method: "GET", url: "/api/v1/quota-defaults", token: "admin",
			wantStatus: 200, wantContains: []string{`"config":{"backups":0,"disk":0,"sites":0,"tasks":0}`, `"version":0`},
		},
		{
			name: "set the quota defaults", method: "PUT", url: "/api/v1/quota-defaults", token: "admin",
			body:       `{"overrides":{"tasks":5},"version":0}`,
			wantStatus: 200, wantContains: []string{`"overrides":{"tasks":5}`, `"defaults":{"backups":0,"disk":0,"sites":0,"tasks":5}`},
			audited: true,
		},
		{
			name: "set the quota defaults at a stale version", method: "PUT", url: "/api/v1/quota-defaults", token: "admin",
			before: func(b *bundle) {
				b.do("PUT", "/api/v1/quota-defaults", "admin", `{"overrides":{"tasks":5},"version":0}`, nil)
			},
			body:       `{"overrides":{"tasks":6},"version":0}`,
			wantStatus: 409, wantCode: api.CodeConflict, unchanged: true,
		},
		{
			name: "a client user cannot read the quota defaults", method: "GET", url: "/api/v1/quota-defaults", token: "alice",
			wantStatus: 403, wantCode: api.CodeForbidden,
		},
		{
			name: "a client user cannot set the quota defaults", method: "PUT", url: "/api/v1/quota-defaults", token: "alice",
			body:       `{"overrides":{"tasks":500},"version":0}`,
			wantStatus: 403, wantCode: api.CodeForbidden, unchanged: true,
		},
		{
			name: "an admin is not held to the client's quota", method: "POST", url: "/api/v1/sites", token: "admin",
			before:     func(b *bundle) { b.setQuotas(`{"sites":1}`) },
			body:       `{"domain":"a2.example.com","platform_id":"{platform}","db_server_id":"{server}","client_id":"{clientA}"}`,
			wantStatus: 201,
		},
	})
}

// TestQuotaParallelBackupsAPI: a client user sends 20 backup requests at
// once with a quota of 3 tasks queued: three 202s, seventeen 409
// quota_exceeded naming the tasks quota, three tasks in the store.
func TestQuotaParallelBackupsAPI(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.listen()
	b.enable(b.siteA.ID)
	b.setQuotas(`{"tasks":3}`)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		codes = map[int]int{}
		other []string
	)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, body := b.do("POST", "/api/v1/sites/{siteA}/tasks", "alice", `{"type":"backup"}`, nil)
			mu.Lock()
			defer mu.Unlock()
			codes[res.StatusCode]++
			if res.StatusCode == 409 {
				var e api.ErrorBody
				if json.Unmarshal(body, &e) != nil || e.Error.Code != api.CodeQuotaExceeded || e.Error.Field != "quotas.tasks" {
					other = append(other, string(body))
				}
			} else if res.StatusCode != 202 {
				other = append(other, string(body))
			}
		}()
	}
	wg.Wait()
	if codes[202] != 3 || codes[409] != 17 || len(other) > 0 {
		t.Fatalf("answers %v, unexpected %v; want three 202 and seventeen 409 quota_exceeded", codes, other)
	}
	p, err := b.st.ListTasks(context.Background(), store.TaskFilter{TargetID: b.siteA.ID, Type: domain.TaskBackup})
	if err != nil || p.Total != 3 {
		t.Fatalf("backup tasks stored: %v, %v", p, err)
	}
}

// TestQuotaUI: the client's page shows its quotas and usage to its user
// and to the admin; the admin sets and resets them with the client form,
// which a client user cannot post.
func TestQuotaUI(t *testing.T) {
	t.Parallel()
	b := uiSetup(t)
	admin := loggedIn(t, b, "admin")
	_, page := admin.get(b.expand("/clients/{clientA}"))
	for _, s := range []string{`id="quotas"`, `name="quota_tasks"`, `name="quota_disk"`, "no limit"} {
		if !strings.Contains(page, s) {
			t.Fatalf("admin's client page lacks %q", s)
		}
	}
	form := url.Values{"name": {"acme"}, "version": {b.version("clients", b.ids["clientA"])},
		"quota_tasks": {"3"}, "quota_disk": {"10G"}, "quota_sites": {""}, "quota_backups": {""}}
	res, _ := admin.post(b.expand("/clients/{clientA}"), form)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("saving quotas: %d", res.StatusCode)
	}
	cl, err := b.st.GetClient(context.Background(), b.ids["clientA"])
	if err != nil || cl.Quotas[domain.QuotaTasks] != 3 || cl.Quotas[domain.QuotaDisk] != 10<<30 || len(cl.Quotas) != 2 {
		t.Fatalf("quotas stored: %v, %v", cl.Quotas, err)
	}
	form.Set("version", b.version("clients", b.ids["clientA"]))
	form.Set("quota_tasks", "lots")
	res, _ = admin.post(b.expand("/clients/{clientA}"), form)
	if _, page = admin.follow(res); !strings.Contains(page, "not a whole number") {
		t.Fatalf("a bad quota is not explained:\n%s", page)
	}

	alice := loggedIn(t, b, "alice")
	_, page = alice.get(b.expand("/clients/{clientA}"))
	for _, s := range []string{`id="quotas"`, "10G", "(own)", "(default)"} {
		if !strings.Contains(page, s) {
			t.Fatalf("alice's client page lacks %q", s)
		}
	}
	if strings.Contains(page, `name="quota_tasks"`) {
		t.Fatal("alice is offered the quota form")
	}
	form.Set("version", b.version("clients", b.ids["clientA"]))
	form.Set("quota_tasks", "1000")
	form.Del("_csrf") // alice's own
	if res, _ := alice.post(b.expand("/clients/{clientA}"), form); res.StatusCode != http.StatusNotFound {
		t.Fatalf("alice posting the client form: %d", res.StatusCode)
	}
	if cl, _ := b.st.GetClient(context.Background(), b.ids["clientA"]); cl.Quotas[domain.QuotaTasks] != 3 {
		t.Fatalf("alice changed the quota: %v", cl.Quotas)
	}
}

// TestQuotaDefaultsUI: the admin sets the default quotas on the clients
// page; a client user is offered no form and cannot post one.
func TestQuotaDefaultsUI(t *testing.T) {
	t.Parallel()
	b := uiSetup(t)
	admin := loggedIn(t, b, "admin")
	_, page := admin.get("/clients")
	if !strings.Contains(page, `id="quota-defaults"`) || !strings.Contains(page, `name="quota_tasks"`) {
		t.Fatal("the admin's clients page has no default quotas form")
	}
	res, _ := admin.post("/quota-defaults", url.Values{"version": {"0"}, "quota_tasks": {"4"}, "quota_disk": {"50G"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("saving the defaults: %d", res.StatusCode)
	}
	q, _, err := b.st.QuotaDefaults(context.Background())
	if err != nil || q[domain.QuotaTasks] != 4 || q[domain.QuotaDisk] != 50<<30 {
		t.Fatalf("stored defaults: %v, %v", q, err)
	}
	_, page = admin.get("/clients")
	if !strings.Contains(page, "now 4") || !strings.Contains(page, "now 50G") {
		t.Fatal("the clients page does not show the new defaults")
	}
	alice := loggedIn(t, b, "alice")
	_, page = alice.get("/clients")
	if strings.Contains(page, `id="quota-defaults"`) {
		t.Fatal("alice is offered the default quotas form")
	}
	if res, _ := alice.post("/quota-defaults", url.Values{"version": {"0"}, "quota_tasks": {"1000"}}); res.StatusCode != http.StatusNotFound {
		t.Fatalf("alice posting the defaults: %d", res.StatusCode)
	}
	_, page = alice.get(b.expand("/clients/{clientA}"))
	if !strings.Contains(page, "50G") {
		t.Fatal("alice's client page does not show the default disk quota")
	}
}
