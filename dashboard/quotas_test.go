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
