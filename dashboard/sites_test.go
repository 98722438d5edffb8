package dashboard

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/dashboard/api"
	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
)

const newSite = `{"domain":"new.example.com","aliases":["www.new.example.com"],"platform":"p1","db_server":"web1","client":"acme"}`

func TestSites(t *testing.T) {
	t.Parallel()
	runScenarios(t, []scenario{
		{
			name: "admin lists all sites", method: "GET", url: "/api/v1/sites", token: "admin",
			wantStatus: 200, wantContains: []string{`"total":2`, "a.example.com", "b.example.com", `"limit":50`},
		},
		{
			name: "client user lists only their sites", method: "GET", url: "/api/v1/sites", token: "alice",
			wantStatus: 200, wantContains: []string{`"total":1`, "a.example.com"}, notContains: []string{"b.example.com"},
		},
		{
			name: "filter by q", method: "GET", url: "/api/v1/sites?q=www.b", token: "admin",
			wantStatus: 200, wantContains: []string{`"total":1`, "b.example.com"},
		},
		{
			name: "filter by client and status", method: "GET", url: "/api/v1/sites?client_id={clientA}&status=pending", token: "admin",
			wantStatus: 200, wantContains: []string{`"total":1`, "a.example.com"},
		},
		{
			name: "paging", method: "GET", url: "/api/v1/sites?limit=1&offset=1", token: "admin",
			wantStatus: 200, wantContains: []string{`"total":2`, "b.example.com", `"offset":1`, `"limit":1`}, notContains: []string{"a.example.com"},
		},
		{
			name: "bad limit", method: "GET", url: "/api/v1/sites?limit=x", token: "admin",
			wantStatus: 400, wantCode: api.CodeInvalid,
		},
		{
			name: "get by id", method: "GET", url: "/api/v1/sites/{siteA}", token: "admin",
			wantStatus: 200, wantContains: []string{`"id":"{siteA}"`, `"status":"pending"`},
		},
		{
			name: "get by domain", method: "GET", url: "/api/v1/sites/b.example.com", token: "admin",
			wantStatus: 200, wantContains: []string{`"id":"{siteB}"`},
		},
		{
			name: "get by alias", method: "GET", url: "/api/v1/sites/www.b.example.com", token: "bob",
			wantStatus: 200, wantContains: []string{`"id":"{siteB}"`},
		},
		{
			name: "client user gets their site", method: "GET", url: "/api/v1/sites/{siteA}", token: "alice",
			wantStatus: 200, wantContains: []string{"a.example.com"},
		},
		{
			name: "client user gets 404 for another client's site", method: "GET", url: "/api/v1/sites/{siteB}", token: "alice",
			wantStatus: 404, wantCode: api.CodeNotFound, notContains: []string{"b.example.com"},
		},
		{
			name: "client user gets 404 for another client's site by domain", method: "GET", url: "/api/v1/sites/b.example.com", token: "alice",
			wantStatus: 404, wantCode: api.CodeNotFound, notContains: []string{"{siteB}"},
		},
		{
			name: "missing site", method: "GET", url: "/api/v1/sites/none.example.com", token: "admin",
			wantStatus: 404, wantCode: api.CodeNotFound,
		},
		{
			name: "create queues install in the same transaction", method: "POST", url: "/api/v1/sites", token: "admin", body: newSite,
			wantStatus: 201, wantContains: []string{`"site":{`, `"task":{`, `"type":"install"`, `"status":"queued"`, `"domain":"new.example.com"`},
			after: func(t *testing.T, b *bundle, body []byte) {
				var out apiv1.SiteCreated
				decodeJSON(t, body, &out)
				_, list := b.do("GET", "/api/v1/tasks?type=install&status=queued&target_id="+out.Site.ID, "admin", "", nil)
				if !strings.Contains(string(list), out.Task.ID) || !strings.Contains(string(list), `"total":1`) {
					t.Fatalf("install task not listed as queued: %s", list)
				}
				_, got := b.do("GET", "/api/v1/sites/www.new.example.com", "admin", "", nil)
				if !strings.Contains(string(got), out.Site.ID) {
					t.Fatalf("alias does not resolve: %s", got)
				}
			},
		},
		{
			name: "create by ids", method: "POST", url: "/api/v1/sites", token: "admin",
			body:       `{"domain":"Ids.Example.COM","platform_id":"{platform}","db_server_id":"{server}","client_id":"{clientB}"}`,
			wantStatus: 201, wantContains: []string{`"domain":"ids.example.com"`, `"client_id":"{clientB}"`},
		},
		{
			name: "create with an IDN stores punycode", method: "POST", url: "/api/v1/sites", token: "admin",
			body:       `{"domain":"bücher.example","platform":"p1","db_server":"web1","client":"acme"}`,
			wantStatus: 201, wantContains: []string{`"domain":"xn--bcher-kva.example"`},
		},
		{
			name: "client user creates a site for their client without naming it", method: "POST", url: "/api/v1/sites", token: "alice",
			body:       `{"domain":"mine.example.com","platform":"p1","db_server":"web1"}`,
			wantStatus: 201, wantContains: []string{`"client_id":"{clientA}"`, `"requested_by":"alice"`},
		},
		{
			name: "client user cannot create a site for another client", method: "POST", url: "/api/v1/sites", token: "alice",
			body:       `{"domain":"theirs.example.com","platform":"p1","db_server":"web1","client":"globex"}`,
			wantStatus: 400, wantCode: api.CodeInvalid, unchanged: true,
		},
		{
			name: "duplicate domain", method: "POST", url: "/api/v1/sites", token: "admin",
			body:       `{"domain":"a.example.com","platform":"p1","db_server":"web1","client":"acme"}`,
			wantStatus: 409, wantCode: api.CodeDuplicate, wantContains: []string{"a.example.com"}, unchanged: true,
		},
		{
			name: "domain equal to another site's alias", method: "POST", url: "/api/v1/sites", token: "admin",
			body:       `{"domain":"www.b.example.com","platform":"p1","db_server":"web1","client":"acme"}`,
			wantStatus: 409, wantCode: api.CodeDuplicate, unchanged: true,
		},
		{
			name: "duplicate alias of another site", method: "POST", url: "/api/v1/sites", token: "admin",
			body:       `{"domain":"c.example.com","aliases":["www.b.example.com"],"platform":"p1","db_server":"web1","client":"acme"}`,
			wantStatus: 409, wantCode: api.CodeDuplicate, unchanged: true,
		},
		{
			name: "duplicate alias seen by a client user does not name the owner", method: "POST", url: "/api/v1/sites", token: "alice",
			body:       `{"domain":"c.example.com","aliases":["www.b.example.com"],"platform":"p1","db_server":"web1"}`,
			wantStatus: 409, wantCode: api.CodeDuplicate, notContains: []string{"{siteB}"}, unchanged: true,
		},
		{
			name: "alias listed twice", method: "POST", url: "/api/v1/sites", token: "admin",
			body:       `{"domain":"c.example.com","aliases":["x.example.com","X.example.com"],"platform":"p1","db_server":"web1","client":"acme"}`,
			wantStatus: 400, wantCode: api.CodeInvalid, wantContains: []string{`"field":"aliases"`}, unchanged: true,
		},
		{
			name: "domain with an nginx injection", method: "POST", url: "/api/v1/sites", token: "admin",
			body:       `{"domain":"a.com; include /etc/passwd;","platform":"p1","db_server":"web1","client":"acme"}`,
			wantStatus: 400, wantCode: api.CodeInvalid, wantContains: []string{`"field":"domain"`}, unchanged: true,
		},
		{
			name: "domain with a path traversal", method: "POST", url: "/api/v1/sites", token: "admin",
			body:       `{"domain":"../../x","platform":"p1","db_server":"web1","client":"acme"}`,
			wantStatus: 400, wantCode: api.CodeInvalid, wantContains: []string{`"field":"domain"`}, unchanged: true,
		},
		{
			name: "alias with a path traversal", method: "POST", url: "/api/v1/sites", token: "admin",
			body:       `{"domain":"c.example.com","aliases":["../../x"],"platform":"p1","db_server":"web1","client":"acme"}`,
			wantStatus: 400, wantCode: api.CodeInvalid, wantContains: []string{`"field":"aliases"`}, unchanged: true,
		},
		{
			name: "unknown platform name", method: "POST", url: "/api/v1/sites", token: "admin",
			body:       `{"domain":"c.example.com","platform":"nope","db_server":"web1","client":"acme"}`,
			wantStatus: 400, wantCode: api.CodeInvalid, wantContains: []string{`"field":"platform"`}, unchanged: true,
		},
		{
			name: "id and name disagree", method: "POST", url: "/api/v1/sites", token: "admin",
			body:       `{"domain":"c.example.com","platform":"p1","db_server":"web1","client":"acme","client_id":"{clientB}"}`,
			wantStatus: 400, wantCode: api.CodeInvalid, unchanged: true,
		},
		{
			name: "unknown field", method: "POST", url: "/api/v1/sites", token: "admin",
			body:       `{"domain":"c.example.com","platform":"p1","db_server":"web1","client":"acme","status":"enabled"}`,
			wantStatus: 400, wantCode: api.CodeUnknownField, wantContains: []string{`"field":"status"`}, unchanged: true,
		},
		{
			name: "malformed JSON", method: "POST", url: "/api/v1/sites", token: "admin", body: `{"domain":`,
			wantStatus: 400, wantCode: api.CodeMalformedJSON, unchanged: true,
		},
		{
			name: "trailing garbage", method: "POST", url: "/api/v1/sites", token: "admin", body: newSite + `{}`,
			wantStatus: 400, wantCode: api.CodeMalformedJSON, unchanged: true,
		},
		{
			name: "wrong type", method: "POST", url: "/api/v1/sites", token: "admin", body: `{"domain":["x"]}`,
			wantStatus: 400, wantCode: api.CodeInvalid, wantContains: []string{`"field":"domain"`}, unchanged: true,
		},
		{
			name: "not an object", method: "POST", url: "/api/v1/sites", token: "admin", body: `[1]`,
			wantStatus: 400, wantCode: api.CodeMalformedJSON, unchanged: true,
		},
		{
			name: "empty body", method: "POST", url: "/api/v1/sites", token: "admin", body: ``,
			wantStatus: 400, wantCode: api.CodeMalformedJSON, unchanged: true,
		},
		{
			name: "oversized body", method: "POST", url: "/api/v1/sites", token: "admin",
			mod:  func(c *Config) { c.BodyLimit = 4096 },
			body: `{"domain":"c.example.com","profile":"` + strings.Repeat("x", 8192) + `"}`, listen: true, header: expectContinue, wantStatus: 413, wantCode: api.CodeTooLarge, unchanged: true,
		},
		{
			name: "oversized body at the default limit", method: "POST", url: "/api/v1/sites", token: "admin",
			body: `{"domain":"c.example.com","profile":"` + strings.Repeat("x", 1<<20) + `"}`, listen: true, header: expectContinue, wantStatus: 413, wantCode: api.CodeTooLarge, unchanged: true,
		},
		{
			name: "create with php-fpm limits of its own", method: "POST", url: "/api/v1/sites", token: "admin",
			body:       `{"domain":"php.example.com","platform":"p1","db_server":"web1","client":"acme","php":{"memory_limit":512,"max_children":8}}`,
			wantStatus: 201, wantContains: []string{`"php":{"memory_limit":512,"max_children":8}`},
		},
		{
			name: "php memory limit out of bounds", method: "POST", url: "/api/v1/sites", token: "admin",
			body:       `{"domain":"php.example.com","platform":"p1","db_server":"web1","client":"acme","php":{"memory_limit":8}}`,
			wantStatus: 400, wantCode: api.CodeInvalid, wantField: "php.memory_limit", wantContains: []string{"16 to 4096"}, unchanged: true,
		},
		{
			name: "php max children out of bounds on update", method: "PUT", url: "/api/v1/sites/{siteA}", token: "admin",
			before:     func(b *bundle) { b.ids["versionA"] = itoa(b.siteA.Version) },
			body:       `{"php":{"max_children":65},"version":{versionA}}`,
			wantStatus: 400, wantCode: api.CodeInvalid, wantField: "php.max_children", unchanged: true,
		},
		{
			name: "php upload size as text", method: "PUT", url: "/api/v1/sites/{siteA}", token: "admin",
			before:     func(b *bundle) { b.ids["versionA"] = itoa(b.siteA.Version) },
			body:       `{"php":{"upload_max":"64M"},"version":{versionA}}`,
			wantStatus: 400, wantCode: api.CodeInvalid, wantField: "php.upload_max", unchanged: true,
		},
		{
			name: "php unknown limit", method: "PUT", url: "/api/v1/sites/{siteA}", token: "admin",
			before:     func(b *bundle) { b.ids["versionA"] = itoa(b.siteA.Version) },
			body:       `{"php":{"max_execution_time":30},"version":{versionA}}`,
			wantStatus: 400, wantCode: api.CodeUnknownField, unchanged: true,
		},
		{
			name: "php limits set on update queue verify", method: "PUT", url: "/api/v1/sites/{siteA}", token: "admin",
			before:     func(b *bundle) { b.ids["versionA"] = itoa(b.siteA.Version) },
			body:       `{"php":{"memory_limit":1024,"upload_max":128},"version":{versionA}}`,
			wantStatus: 200, wantContains: []string{`"php":{"memory_limit":1024,"upload_max":128}`, `"type":"verify"`},
		},
		{
			name: "update aliases queues verify", method: "PUT", url: "/api/v1/sites/{siteA}", token: "alice",
			before: func(b *bundle) {
				b.ids["versionA"] = itoa(b.siteA.Version)
			},
			body:       `{"aliases":["www.a.example.com"],"version":{versionA}}`,
			wantStatus: 200, wantContains: []string{`"aliases":["www.a.example.com"]`, `"type":"verify"`, `"status":"queued"`},
		},
		{
			name: "update with a stale version", method: "PUT", url: "/api/v1/sites/{siteA}", token: "admin",
			before: func(b *bundle) {
				b.ids["versionA"] = itoa(b.siteA.Version)
				b.enable(b.siteA.ID) // changes the site
			},
			body:       `{"aliases":["www.a.example.com"],"version":{versionA}}`,
			wantStatus: 409, wantCode: api.CodeConflict, unchanged: true,
		},
		{
			name: "update without a version", method: "PUT", url: "/api/v1/sites/{siteA}", token: "admin",
			body: `{"aliases":[]}`, wantStatus: 400, wantCode: api.CodeInvalid, wantContains: []string{`"field":"version"`}, unchanged: true,
		},
		{
			name: "update to an alias another site has", method: "PUT", url: "/api/v1/sites/{siteA}", token: "admin",
			before:     func(b *bundle) { b.ids["versionA"] = itoa(b.siteA.Version) },
			body:       `{"aliases":["www.b.example.com"],"version":{versionA}}`,
			wantStatus: 409, wantCode: api.CodeDuplicate, unchanged: true,
		},
		{
			name: "update that changes the platform names platform_id", method: "PUT", url: "/api/v1/sites/{siteA}", token: "admin",
			before: func(b *bundle) { b.ids["versionA"], b.ids["other"] = itoa(b.siteA.Version), domain.NewID() },
			body:   `{"platform_id":"{other}","version":{versionA}}`, wantStatus: 400, wantCode: api.CodeInvalid, wantField: "platform_id", unchanged: true,
		},
		{
			name: "update that changes the database server names db_server_id", method: "PUT", url: "/api/v1/sites/{siteA}", token: "admin",
			before: func(b *bundle) { b.ids["versionA"], b.ids["other"] = itoa(b.siteA.Version), domain.NewID() },
			body:   `{"db_server_id":"{other}","version":{versionA}}`, wantStatus: 400, wantCode: api.CodeInvalid, wantField: "db_server_id", unchanged: true,
		},
		{
			name: "update that changes the domain names domain", method: "PUT", url: "/api/v1/sites/{siteA}", token: "admin",
			before: func(b *bundle) { b.ids["versionA"] = itoa(b.siteA.Version) },
			body:   `{"domain":"new.example.com","version":{versionA}}`, wantStatus: 400, wantCode: api.CodeInvalid, wantField: "domain", unchanged: true,
		},
		{
			name: "client user cannot update another client's site", method: "PUT", url: "/api/v1/sites/{siteB}", token: "alice",
			body: `{"aliases":[],"version":1}`, wantStatus: 404, wantCode: api.CodeNotFound, unchanged: true,
		},
		{
			name: "client user cannot give their site away", method: "PUT", url: "/api/v1/sites/{siteA}", token: "alice",
			before:     func(b *bundle) { b.ids["versionA"] = itoa(b.siteA.Version) },
			body:       `{"client_id":"{clientB}","version":{versionA}}`,
			wantStatus: 400, wantCode: api.CodeInvalid, unchanged: true,
		},
		{
			name: "backup task on an enabled site", method: "POST", url: "/api/v1/sites/a.example.com/tasks", token: "alice",
			before:     func(b *bundle) { b.enable(b.siteA.ID) },
			body:       `{"type":"backup"}`,
			wantStatus: 202, wantContains: []string{`"type":"backup"`, `"status":"queued"`, `"target_id":"{siteA}"`},
		},
		{
			name: "disable on a pending site is an illegal transition", method: "POST", url: "/api/v1/sites/{siteA}/tasks", token: "admin",
			body: `{"type":"disable"}`, wantStatus: 409, wantCode: api.CodeIllegalTransition, unchanged: true,
		},
		{
			name: "unknown task type", method: "POST", url: "/api/v1/sites/{siteA}/tasks", token: "admin",
			body: `{"type":"format-disk"}`, wantStatus: 400, wantCode: api.CodeInvalid, unchanged: true,
		},
		{
			name: "clone with a bad domain", method: "POST", url: "/api/v1/sites/{siteA}/tasks", token: "admin",
			before: func(b *bundle) { b.enable(b.siteA.ID) },
			body:   `{"type":"clone","args":{"domain":"a.com; include /etc/passwd;"}}`, wantStatus: 400, wantCode: api.CodeInvalid, unchanged: true,
		},
		{
			name: "clone onto another client's domain is a conflict at once", method: "POST", url: "/api/v1/sites/{siteA}/tasks", token: "alice",
			before: func(b *bundle) { b.enable(b.siteA.ID) },
			body:   `{"type":"clone","args":{"domain":"B.example.com"}}`, wantStatus: 409, wantCode: api.CodeDuplicate, wantField: "domain", unchanged: true,
			wantContains: []string{`domain \"b.example.com\" is already used`}, notContains: []string{"{siteB}"},
		},
		{
			name: "clone onto another site's alias is a conflict at once", method: "POST", url: "/api/v1/sites/{siteA}/tasks", token: "admin",
			before: func(b *bundle) { b.enable(b.siteA.ID) },
			body:   `{"type":"clone","args":{"domain":"www.b.example.com"}}`, wantStatus: 409, wantCode: api.CodeDuplicate, wantField: "domain", unchanged: true,
			wantContains: []string{"{siteB}"},
		},
		{
			name: "clone onto its own domain is a conflict at once", method: "POST", url: "/api/v1/sites/{siteA}/tasks", token: "alice",
			before: func(b *bundle) { b.enable(b.siteA.ID) },
			body:   `{"type":"clone","args":{"domain":"a.example.com"}}`, wantStatus: 409, wantCode: api.CodeDuplicate, unchanged: true,
		},
		{
			name: "clone onto a free domain", method: "POST", url: "/api/v1/sites/{siteA}/tasks", token: "alice",
			before: func(b *bundle) { b.enable(b.siteA.ID) },
			body:   `{"type":"clone","args":{"domain":"c.example.com"}}`, wantStatus: 202, wantContains: []string{`"type":"clone"`},
		},
		{
			name: "migrate onto a taken domain is a conflict at once", method: "POST", url: "/api/v1/sites/{siteA}/tasks", token: "admin",
			before: func(b *bundle) { b.enable(b.siteA.ID) },
			body:   `{"type":"migrate","args":{"domain":"b.example.com"}}`, wantStatus: 409, wantCode: api.CodeDuplicate, wantField: "domain", unchanged: true,
		},
		{
			name: "migrate keeping its own domain", method: "POST", url: "/api/v1/sites/{siteA}/tasks", token: "admin",
			before: func(b *bundle) { b.enable(b.siteA.ID) },
			body:   `{"type":"migrate","args":{"domain":"a.example.com","platform_id":"p1"}}`, wantStatus: 202, wantContains: []string{`"type":"migrate"`},
		},
		{
			name: "migrate by platform name", method: "POST", url: "/api/v1/sites/{siteA}/tasks", token: "admin",
			before:     func(b *bundle) { b.enable(b.siteA.ID) },
			body:       `{"type":"migrate","args":{"platform_id":"p1"}}`,
			wantStatus: 202, wantContains: []string{`"platform_id":"{platform}"`},
		},
		{
			name: "client user cannot queue a task on another client's site", method: "POST", url: "/api/v1/sites/{siteB}/tasks", token: "alice",
			body: `{"type":"delete"}`, wantStatus: 404, wantCode: api.CodeNotFound, unchanged: true,
		},
		{
			name: "site backups", method: "GET", url: "/api/v1/sites/{siteA}/backups", token: "alice",
			before: func(b *bundle) {
				b.enable(b.siteA.ID)
				task, err := b.st.RequestSiteTask(context.Background(), b.siteA.ID, domain.TaskBackup, nil, "t")
				if err != nil {
					b.t.Fatal(err)
				}
				b.finish(task, domain.TaskSucceeded, store.AddBackup(&domain.Backup{
					ID: domain.NewID(), SiteID: b.siteA.ID, ClientID: b.ids["clientA"], Domain: "a.example.com",
					TaskID: task.ID, ServerID: b.ids["server"], Path: "/var/aegir/backups/a.tar.zst", Size: 10,
				}))
			},
			// Where the archive lies is admins' (issue 14 item 7).
			wantStatus: 200, wantContains: []string{`"total":1`, `"size":10`}, notContains: []string{"/var/aegir/backups", `"path"`},
		},
	})
}

func TestSiteCreateThenCLIFlow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	res, body := b.do("POST", "/api/v1/sites", "admin", newSite, nil)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", res.StatusCode, body)
	}
	var out apiv1.SiteCreated
	decodeJSON(t, body, &out)
	if out.Site.Version == 0 || out.Task.Type != domain.TaskInstall || out.Task.ClientID != b.ids["clientA"] {
		t.Fatalf("unexpected answer %+v", out)
	}
	// The second identical request loses on the domain.
	res, body = b.do("POST", "/api/v1/sites", "admin", newSite, nil)
	if res.StatusCode != http.StatusConflict || !strings.Contains(string(body), out.Site.ID) {
		t.Fatalf("second create: %d %s", res.StatusCode, body)
	}
}

// TestSitePutRoundTrip PUTs back exactly what GET returned, as the CLI does
// for an edit: read-only fields are accepted and ignored.
func TestSitePutRoundTrip(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, body := b.do("GET", "/api/v1/sites/{siteB}", "bob", "", nil)
	edited := strings.Replace(string(body), `"redirect_aliases":false`, `"redirect_aliases":true`, 1)
	res, out := b.do("PUT", "/api/v1/sites/{siteB}", "bob", edited, nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(string(out), `"redirect_aliases":true`) || !strings.Contains(string(out), `"type":"verify"`) {
		t.Fatalf("round trip: %d %s", res.StatusCode, out)
	}
	// The same body again is stale now.
	if res, out := b.do("PUT", "/api/v1/sites/{siteB}", "bob", edited, nil); res.StatusCode != http.StatusConflict {
		t.Fatalf("stale round trip: %d %s", res.StatusCode, out)
	}
}

// expectContinue makes the client wait for the server's answer before it
// sends the body, as uploading clients should: without it, the server's
// 413 and close could reach a client still writing an oversized body as a
// connection reset instead of the answer (seen under load).
var expectContinue = map[string]string{"Expect": "100-continue"}
