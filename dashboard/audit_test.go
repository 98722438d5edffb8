package dashboard

import (
	"context"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
)

// auditList GETs /api/v1/audit?query as token.
func (b *bundle) auditList(token, query string) []domain.AuditEntry {
	b.t.Helper()
	res, body := b.do("GET", "/api/v1/audit?"+query, token, "", nil)
	if res.StatusCode != 200 {
		b.t.Fatalf("audit list: %d %s", res.StatusCode, body)
	}
	var l struct {
		Items []domain.AuditEntry `json:"items"`
		Total int                 `json:"total"`
	}
	decodeJSON(b.t, body, &l)
	if l.Total < len(l.Items) {
		b.t.Fatalf("total %d < %d items", l.Total, len(l.Items))
	}
	return l.Items
}

func TestAuditCreateUpdateDelete(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if got := b.auditList("admin", ""); len(got) != 0 {
		t.Fatalf("seeded store has audit entries: %+v", got)
	}
	res, body := b.do("POST", "/api/v1/clients", "admin", `{"name":"initech","title":"Initech"}`, nil)
	if res.StatusCode != 201 {
		t.Fatalf("create: %d %s", res.StatusCode, body)
	}
	var cl domain.Client
	decodeJSON(t, body, &cl)
	es := b.auditList("admin", "object="+cl.ID)
	if len(es) != 1 {
		t.Fatalf("after create: %d entries, want 1: %+v", len(es), es)
	}
	e := es[0]
	if e.Action != "create" || e.Kind != "client" || e.UserName != "admin" || e.UserID == "" || e.Address == "" ||
		e.Time.IsZero() || e.ClientID != cl.ID || e.Fields["name"] != "initech" || e.Fields["title"] != "Initech" {
		t.Errorf("create entry: %+v", e)
	}

	res, body = b.do("PUT", "/api/v1/clients/"+cl.ID, "admin", `{"name":"initech","title":"Initech Corp","version":`+itoa(cl.Version)+`}`, nil)
	if res.StatusCode != 200 {
		t.Fatalf("update: %d %s", res.StatusCode, body)
	}
	decodeJSON(t, body, &cl)
	es = b.auditList("admin", "object="+cl.ID)
	if len(es) != 2 || es[0].Action != "update" || len(es[0].Fields) != 1 || es[0].Fields["title"] != "Initech Corp" {
		t.Fatalf("after update: %+v", es)
	}

	// A refused request leaves no entry.
	if res, _ := b.do("PUT", "/api/v1/clients/"+cl.ID, "admin", `{"name":"initech","title":"x","version":1}`, nil); res.StatusCode != 409 {
		t.Fatalf("stale update: %d", res.StatusCode)
	}
	if res, _ := b.do("DELETE", "/api/v1/clients/"+cl.ID+"?version="+itoa(cl.Version), "alice", "", nil); res.StatusCode < 400 {
		t.Fatalf("client user deleted a client: %d", res.StatusCode)
	}
	if es = b.auditList("admin", "object="+cl.ID); len(es) != 2 {
		t.Fatalf("refused requests left entries: %+v", es)
	}

	if res, body := b.do("DELETE", "/api/v1/clients/"+cl.ID+"?version="+itoa(cl.Version), "admin", "", nil); res.StatusCode != 204 && res.StatusCode != 200 {
		t.Fatalf("delete: %d %s", res.StatusCode, body)
	}
	es = b.auditList("admin", "object="+cl.ID)
	if len(es) != 3 || es[0].Action != "delete" || es[0].Kind != "client" {
		t.Fatalf("after delete: %+v", es)
	}
}

func TestAuditNoSecrets(t *testing.T) {
	t.Parallel()
	b := setup(t)
	res, body := b.do("POST", "/api/v1/tokens", "admin", `{"name":"ci","ttl":"24h"}`, nil)
	if res.StatusCode != 201 {
		t.Fatalf("token: %d %s", res.StatusCode, body)
	}
	var tok struct {
		Token struct {
			ID string `json:"id"`
		} `json:"token"`
		Secret string `json:"secret"`
	}
	decodeJSON(t, body, &tok)
	secret := tok.Secret
	if secret == "" {
		t.Fatalf("no secret in %s", body)
	}
	if res, body := b.do("DELETE", "/api/v1/tokens/"+tok.Token.ID, "admin", "", nil); res.StatusCode >= 300 {
		t.Fatalf("revoke: %d %s", res.StatusCode, body)
	}
	res, body = b.do("GET", "/api/v1/audit", "admin", "", nil)
	if res.StatusCode != 200 {
		t.Fatal(res.StatusCode)
	}
	for _, want := range []string{`"action":"create_token"`, `"action":"revoke_token"`, `"name":"ci"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("audit lacks %s: %s", want, body)
		}
	}
	// Nothing secret anywhere in the stored log.
	pairs, _, err := b.st.KV().List(context.Background(), "audit/")
	if err != nil {
		t.Fatal(err)
	}
	all := string(body)
	for _, p := range pairs {
		all += string(p.Value)
	}
	for _, bad := range []string{secret, "$argon2", "$2a$"} {
		if strings.Contains(all, bad) {
			t.Errorf("the audit log holds a secret (%q)", bad)
		}
	}
	// A user's password hash is named, never recorded.
	if f := domain.AuditFields(nil, &domain.User{Name: "x", PasswordHash: "$argon2id$abc"}); f["password_hash"] != "" && f["password_hash"] != "(secret)" {
		t.Errorf("password hash recorded: %v", f)
	}
}

func TestAuditScopeAndFilters(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.enable(b.siteA.ID)
	b.enable(b.siteB.ID)
	for _, c := range []struct{ tok, site string }{{"alice", "siteA"}, {"bob", "siteB"}, {"admin", "siteA"}} {
		if res, body := b.do("POST", "/api/v1/sites/{"+c.site+"}/tasks", c.tok, `{"type":"backup"}`, nil); res.StatusCode != 202 {
			t.Fatalf("%s backup: %d %s", c.tok, res.StatusCode, body)
		}
	}
	if res, _ := b.do("POST", "/api/v1/clients", "admin", `{"name":"initech"}`, nil); res.StatusCode != 201 {
		t.Fatal(res.StatusCode)
	}
	if n := len(b.auditList("admin", "")); n != 4 {
		t.Errorf("admin sees %d entries, want 4", n)
	}
	alice := b.auditList("alice", "")
	if len(alice) != 2 {
		t.Fatalf("alice sees %d entries, want her client's 2: %+v", len(alice), alice)
	}
	for _, e := range alice {
		if e.ClientID != b.ids["clientA"] || e.Action != "request_task" || e.Fields["type"] != "backup" {
			t.Errorf("alice sees %+v", e)
		}
	}
	if n := len(b.auditList("bob", "client={clientA}")); n != 0 {
		t.Errorf("bob sees %d of acme's entries", n)
	}
	if n := len(b.auditList("admin", "user=alice")); n != 1 {
		t.Errorf("user=alice: %d", n)
	}
	if n := len(b.auditList("admin", "user={alice}")); n != 1 {
		t.Errorf("user=<alice's id>: %d", n)
	}
	if n := len(b.auditList("admin", "client={clientA}")); n != 2 {
		t.Errorf("client=acme: %d", n)
	}
	if n := len(b.auditList("admin", "kind=client")); n != 1 {
		t.Errorf("kind=client: %d", n)
	}
	if n := len(b.auditList("admin", "since=2000-01-01T00:00:00Z&until=2001-01-01T00:00:00Z")); n != 0 {
		t.Errorf("an old time range: %d", n)
	}
	if n := len(b.auditList("admin", "since=2000-01-01T00:00:00Z&limit=2")); n != 2 {
		t.Errorf("limit=2: %d", n)
	}
	if res, _ := b.do("GET", "/api/v1/audit?since=yesterday", "admin", "", nil); res.StatusCode != 400 {
		t.Errorf("bad since: %d", res.StatusCode)
	}
	// Pruning drops whole days before the cut.
	if n, err := b.st.PruneAudit(context.Background(), b.auditList("admin", "")[0].Time.AddDate(0, 0, 2)); err != nil || n != 4 {
		t.Errorf("prune: %d, %v", n, err)
	}
	if n := len(b.auditList("admin", "")); n != 0 {
		t.Errorf("after prune: %d", n)
	}
}

func TestAuditLogins(t *testing.T) {
	t.Parallel()
	b := uiSetup(t)
	w := b.browser()
	w.login("alice", "wrong password!")
	w.login("nobody", "whatever-123")
	w = loggedIn(t, b, "alice")
	w.get("/account")
	const newPassword = "another-Secret-42"
	if res, body := w.post("/account/password", url.Values{"current": {testPassword}, "password": {newPassword}, "confirm": {newPassword}}); res.StatusCode != 303 {
		t.Fatalf("password change: %d %s", res.StatusCode, body)
	}
	w.get("/account") // the new session's CSRF token
	w.post("/logout", nil)
	pairs, _, err := b.st.KV().List(context.Background(), "audit/")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pairs {
		for _, bad := range []string{testPassword, newPassword, "wrong password!", "whatever-123", "$argon2"} {
			if strings.Contains(string(p.Value), bad) {
				t.Errorf("audit entry %s holds %q", p.Key, bad)
			}
		}
	}
	page, err := b.st.ListAudit(context.Background(), store.AuditFilter{Kind: "user"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range page.Items {
		if e.Address == "" {
			t.Errorf("no address: %+v", e)
		}
		got = append(got, e.Action+":"+e.UserName)
	}
	want := "logout:alice update:alice login:alice login_failed:nobody login_failed:alice"
	if strings.Join(got, " ") != want {
		t.Errorf("entries %q, want %q", strings.Join(got, " "), want)
	}
}

func TestAuditPage(t *testing.T) {
	t.Parallel()
	b := uiSetup(t)
	b.enable(b.siteA.ID)
	b.enable(b.siteB.ID)
	for _, c := range []struct{ tok, site string }{{"alice", "siteA"}, {"bob", "siteB"}} {
		if res, body := b.do("POST", "/api/v1/sites/{"+c.site+"}/tasks", c.tok, `{"type":"backup"}`, nil); res.StatusCode != 202 {
			t.Fatalf("%s backup: %d %s", c.tok, res.StatusCode, body)
		}
	}
	_, body := loggedIn(t, b, "admin").get("/audit")
	for _, want := range []string{"Audit log", "request_task", "alice", "bob", "type=backup"} {
		if !strings.Contains(body, want) {
			t.Errorf("admin's audit page lacks %q", want)
		}
	}
	res, body := loggedIn(t, b, "alice").get("/audit")
	if res.StatusCode != 200 || !strings.Contains(body, b.siteA.ID) || strings.Contains(body, b.siteB.ID) {
		t.Errorf("alice's audit page: %d, shows her site %v, bob's %v", res.StatusCode, strings.Contains(body, b.siteA.ID), strings.Contains(body, b.siteB.ID))
	}
	if _, body := loggedIn(t, b, "admin").get("/audit?user=bob"); strings.Contains(body, b.siteA.ID) || !strings.Contains(body, b.siteB.ID) {
		t.Error("the user filter does not filter")
	}
	if res, _ := loggedIn(t, b, "admin").get("/audit?since=someday"); res.StatusCode != 400 {
		t.Errorf("a bad since: %d", res.StatusCode)
	}
}

// TestAuditSiteUpdateFields: a site's update records the fields that
// changed, not those the request left for the store to keep.
func TestAuditSiteUpdateFields(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.enable(b.siteA.ID)
	v := b.version("sites", b.siteA.ID)
	res, body := b.do("PUT", "/api/v1/sites/{siteA}", "alice", `{"domain":"a.example.com","aliases":["www.a.example.com"],"version":`+v+`}`, nil)
	if res.StatusCode >= 300 {
		t.Fatalf("update: %d %s", res.StatusCode, body)
	}
	es := b.auditList("alice", "kind=site")
	if len(es) != 1 || es[0].Action != "update" || es[0].UserName != "alice" {
		t.Fatalf("entries: %+v", es)
	}
	if es[0].Fields["aliases"] != `["www.a.example.com"]` || len(es[0].Fields) != 1 {
		t.Errorf("fields %v, want aliases alone", es[0].Fields)
	}
}

// TestAuditAddress: the API records the client address as the dashboard
// resolves it: X-Forwarded-For only through a trusted proxy.
func TestAuditAddress(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		trusted []netip.Prefix
		want    string
	}{
		{"a spoofed header is ignored", nil, "127.0.0.1"},
		{"through a trusted proxy", []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, "203.0.113.9"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, func(cfg *Config) { cfg.TrustedProxies = c.trusted })
			b.listen()
			if res, body := b.do("POST", "/api/v1/clients", "admin", `{"name":"initech"}`, map[string]string{"X-Forwarded-For": "203.0.113.9"}); res.StatusCode != 201 {
				t.Fatalf("create: %d %s", res.StatusCode, body)
			}
			if es := b.auditList("admin", ""); len(es) != 1 || es[0].Address != c.want {
				t.Errorf("entries %+v, want address %s", es, c.want)
			}
		})
	}
}

// TestAuditFitsTheLargestSiteEdit: replacing every alias of a site, the
// largest single change a person makes, still fits one transaction with
// its audit entry.
func TestAuditFitsTheLargestSiteEdit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.enable(b.siteA.ID)
	aliases := func(prefix string) string {
		var as []string
		for i := range domain.MaxAliases {
			as = append(as, `"`+prefix+itoa(uint64(i))+`.a.example.com"`)
		}
		return "[" + strings.Join(as, ",") + "]"
	}
	v := b.version("sites", b.siteA.ID)
	if res, body := b.do("PUT", "/api/v1/sites/{siteA}", "admin", `{"domain":"a.example.com","aliases":`+aliases("x")+`,"version":`+v+`}`, nil); res.StatusCode >= 300 {
		t.Fatalf("first: %d %s", res.StatusCode, body)
	}
	b.finish(b.taskOf(b.siteA.ID, domain.TaskVerify), domain.TaskSucceeded, store.SetSiteStatus(b.siteA.ID, domain.SiteEnabled))
	v = b.version("sites", b.siteA.ID)
	if res, body := b.do("PUT", "/api/v1/sites/{siteA}", "admin", `{"domain":"a.example.com","aliases":`+aliases("y")+`,"version":`+v+`}`, nil); res.StatusCode >= 300 {
		t.Fatalf("replace all: %d %s", res.StatusCode, body)
	}
	if es := b.auditList("admin", "kind=site"); len(es) != 2 {
		t.Errorf("%d entries, want 2", len(es))
	}
}

// TestAuditHidesOthersAddresses: a client user sees the entries about
// their client's objects, but the address of their own only: an admin's
// (or anyone else's) is left out of the API's answer and the dashboard's
// page; an admin still sees every address.
func TestAuditHidesOthersAddresses(t *testing.T) {
	t.Parallel()
	b := uiSetup(t, func(cfg *Config) { cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")} })
	b.enable(b.siteA.ID)
	const adminAddr, aliceAddr = "203.0.113.9", "198.51.100.7"
	for _, c := range []struct{ tok, addr string }{{"admin", adminAddr}, {"alice", aliceAddr}} {
		if res, body := b.do("POST", "/api/v1/sites/{siteA}/tasks", c.tok, `{"type":"backup"}`, map[string]string{"X-Forwarded-For": c.addr}); res.StatusCode != 202 {
			t.Fatalf("%s backup: %d %s", c.tok, res.StatusCode, body)
		}
	}
	got := map[string]string{}
	for _, e := range b.auditList("alice", "kind=site") {
		got[e.UserName] = e.Address
	}
	if len(got) != 2 || got["admin"] != "" || got["alice"] != aliceAddr {
		t.Errorf("alice's API view: addresses %q, want hers alone", got)
	}
	if res, body := b.do("GET", "/api/v1/audit?kind=site", "alice", "", nil); res.StatusCode != 200 || strings.Contains(string(body), adminAddr) {
		t.Errorf("alice's API answer holds the admin's address: %s", body)
	}
	got = map[string]string{}
	for _, e := range b.auditList("admin", "kind=site") {
		got[e.UserName] = e.Address
	}
	if got["admin"] != adminAddr || got["alice"] != aliceAddr {
		t.Errorf("the admin's API view: addresses %q, want both", got)
	}
	if _, body := loggedIn(t, b, "alice").get("/audit"); strings.Contains(body, adminAddr) || !strings.Contains(body, aliceAddr) {
		t.Errorf("alice's audit page: shows the admin's address %v, hers %v", strings.Contains(body, adminAddr), strings.Contains(body, aliceAddr))
	}
	if _, body := loggedIn(t, b, "admin").get("/audit"); !strings.Contains(body, adminAddr) || !strings.Contains(body, aliceAddr) {
		t.Error("the admin's audit page lacks an address")
	}
}
