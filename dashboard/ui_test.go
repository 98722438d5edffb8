package dashboard

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aegirhq/aegir/dashboard/web"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/locks"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/scheduler/queue"
)

// browser is a cookie-keeping HTTP client of the dashboard that does not
// follow redirects, so tests see each 303 and its flash.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string
}

const testPassword = "correct horse battery"

// uiSetup is setup plus passwords for admin and alice and a real listener.
func uiSetup(t *testing.T, mod ...func(*Config)) *bundle {
	t.Helper()
	b := setup(t, mod...)
	ctx := context.Background()
	for _, name := range []string{"admin", "alice"} {
		u, err := b.st.UserByName(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if err := web.SetPassword(ctx, b.st, u, testPassword); err != nil {
			t.Fatal(err)
		}
	}
	b.listen()
	return b
}

func (b *bundle) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: b.t, base: "http://" + b.url, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

var csrfRe = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

func (w *browser) do(req *http.Request) (*http.Response, string) {
	w.t.Helper()
	res, err := w.c.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if m := csrfRe.FindStringSubmatch(string(body)); m != nil {
		w.csrf = m[1]
	}
	return res, string(body)
}

func (w *browser) get(path string) (*http.Response, string) {
	w.t.Helper()
	req, _ := http.NewRequest("GET", w.base+path, nil)
	return w.do(req)
}

// post submits a form with the last CSRF token seen (unless form sets one).
func (w *browser) post(path string, form url.Values) (*http.Response, string) {
	w.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["_csrf"]; !ok {
		form.Set("_csrf", w.csrf)
	}
	req, _ := http.NewRequest("POST", w.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return w.do(req)
}

// follow GETs where a redirect points.
func (w *browser) follow(res *http.Response) (*http.Response, string) {
	w.t.Helper()
	if res.StatusCode != http.StatusSeeOther {
		w.t.Fatalf("status %d, want 303", res.StatusCode)
	}
	return w.get(res.Header.Get("Location"))
}

func (w *browser) login(name, password string) *http.Response {
	w.t.Helper()
	w.get("/login")
	res, _ := w.post("/login", url.Values{"name": {name}, "password": {password}})
	return res
}

func loggedIn(t *testing.T, b *bundle, name string) *browser {
	t.Helper()
	w := b.browser()
	res := w.login(name, testPassword)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("login as %s: %d to %q", name, res.StatusCode, res.Header.Get("Location"))
	}
	w.get("/")
	return w
}

func TestUIPagesRenderForAdmin(t *testing.T) {
	t.Parallel()
	b := uiSetup(t)
	w := loggedIn(t, b, "admin")
	task := b.taskOf(b.siteA.ID, domain.TaskInstall)
	b.ids["task"] = task.ID
	failed := b.taskOf(b.siteB.ID, domain.TaskInstall)
	failed.ErrorCode, failed.Explanation, failed.FixHint = "db_unreachable", "the database server did not answer", "start mariadb on web1"
	b.finish(failed, domain.TaskFailed, store.SetSiteStatus(b.siteB.ID, domain.SiteFailed))
	b.ids["failed"] = failed.ID
	b.ids["versionA"] = itoa(b.siteA.Version)
	if res, body := b.do("PUT", "/api/v1/sites/{siteA}", "admin", `{"php":{"memory_limit":512,"max_children":3},"version":{versionA}}`, nil); res.StatusCode != http.StatusOK {
		t.Fatalf("set the site's php limits: %d %s", res.StatusCode, body)
	}
	pages := []struct{ path, want string }{
		{"/sites/{siteA}", "memory_limit 512M max_children 3"},
		{"/", "Tasks per hour"},
		{"/sites", "a.example.com"},
		{"/sites?q=www.b&status=failed", "b.example.com"},
		{"/sites/new", "Create site"},
		{"/sites/{siteA}", "a.example.com"},
		{"/sites/a.example.com", "a.example.com"},
		{"/sites/{siteA}/edit", "Save and verify"},
		{"/platforms", "p1"},
		{"/platforms/new", "New platform"},
		{"/platforms/{platform}", "/srv/platforms/p1"},
		{"/servers", "web1"},
		{"/servers/new", "mariadb"},
		{"/servers/{server}", "nginx"},
		{"/clients", "acme"},
		{"/clients/new", "New client"},
		{"/clients/{clientA}", "a.example.com"},
		{"/packages", "Packages"},
		{"/tasks", "install"},
		{"/tasks?status=queued&type=install", "install"},
		{"/tasks/{task}", "install"},
		{"/tasks/{failed}", "start mariadb on web1"},
		{"/", "the database server did not answer"},
		{"/sites/{siteB}", "Retry install"},
		{"/users", "alice"},
		{"/users/{alice}", "alice"},
		{"/tokens", "API tokens"},
		{"/account", "Change password"},
	}
	for _, p := range pages {
		res, body := w.get(b.expand(p.path))
		if res.StatusCode != 200 {
			t.Errorf("GET %s: %d %s", p.path, res.StatusCode, body)
			continue
		}
		if !strings.Contains(body, b.expand(p.want)) {
			t.Errorf("GET %s lacks %q", p.path, p.want)
		}
		for _, h := range []string{"Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy"} {
			if res.Header.Get(h) == "" {
				t.Errorf("GET %s: no %s header", p.path, h)
			}
		}
		if strings.Contains(body, "<script>") || strings.Contains(body, " onclick=") {
			t.Errorf("GET %s has an inline script", p.path)
		}
	}
	if res, _ := w.get("/static/app.css"); res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/css") {
		t.Errorf("app.css: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if res, _ := w.get("/nope"); res.StatusCode != 404 || !strings.Contains(res.Header.Get("Content-Type"), "text/html") {
		t.Errorf("unknown page: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if res, _ := w.get("/api/v1/nope"); res.StatusCode != 404 || !strings.Contains(res.Header.Get("Content-Type"), "json") {
		t.Errorf("unknown API route: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
}

func TestUIRequiresLogin(t *testing.T) {
	t.Parallel()
	b := uiSetup(t)
	w := b.browser()
	res, _ := w.get("/sites?q=a")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login?next=%2Fsites%3Fq%3Da") {
		t.Fatalf("anonymous /sites: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	res, _ = w.get(b.expand("/live/tasks/{siteA}"))
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous live: %d", res.StatusCode)
	}
	// A login with next= lands there; a foreign next= is ignored.
	w.get("/login")
	res, _ = w.post("/login", url.Values{"name": {"admin"}, "password": {testPassword}, "next": {"/sites?q=a"}})
	if res.Header.Get("Location") != "/sites?q=a" {
		t.Fatalf("next: %q", res.Header.Get("Location"))
	}
	w2 := b.browser()
	w2.get("/login")
	res, _ = w2.post("/login", url.Values{"name": {"admin"}, "password": {testPassword}, "next": {"//evil.example/"}})
	if res.Header.Get("Location") != "/" {
		t.Fatalf("open redirect: %q", res.Header.Get("Location"))
	}
	// Cookies are HttpOnly and SameSite=Lax.
	for _, c := range res.Header.Values("Set-Cookie") {
		if !strings.Contains(c, "HttpOnly") || !strings.Contains(strings.ToLower(c), "samesite=lax") {
			t.Errorf("cookie %q lacks HttpOnly or SameSite=Lax", c)
		}
	}
	// Logging out ends the session.
	w2.get("/")
	res, _ = w2.post("/logout", nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", res.StatusCode)
	}
	if res, _ = w2.get("/"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("after logout /: %d", res.StatusCode)
	}
}

func TestUISecureCookiesOverTLS(t *testing.T) {
	t.Parallel()
	b := uiSetup(t)
	w := b.browser()
	req, _ := http.NewRequest("GET", w.base+"/login", nil)
	req.Header.Set("X-Forwarded-Proto", "https") // what a TLS proxy in front sends
	res, _ := w.do(req)
	cookies := res.Header.Values("Set-Cookie")
	if len(cookies) == 0 {
		t.Fatal("no cookie set on the login page")
	}
	for _, c := range cookies {
		if !strings.Contains(c, "secure") && !strings.Contains(c, "Secure") {
			t.Errorf("cookie over TLS lacks Secure: %q", c)
		}
	}
	if res, _ := b.browser().get("/login"); strings.Contains(strings.ToLower(strings.Join(res.Header.Values("Set-Cookie"), ";")), "secure") {
		t.Errorf("cookie over plain HTTP is Secure, so the browser would never send it back")
	}
}

func TestUIClientUserSeesOnlyTheirs(t *testing.T) {
	t.Parallel()
	b := uiSetup(t)
	w := loggedIn(t, b, "alice")
	b.ids["taskB"] = b.taskOf(b.siteB.ID, domain.TaskInstall).ID
	b.ids["taskA"] = b.taskOf(b.siteA.ID, domain.TaskInstall).ID
	_, body := w.get("/sites")
	if !strings.Contains(body, "a.example.com") || strings.Contains(body, "b.example.com") {
		t.Fatalf("alice's site list: %s", body)
	}
	_, body = w.get("/")
	if strings.Contains(body, "b.example.com") || strings.Contains(body, `href="/servers"`) || strings.Contains(body, `href="/users"`) {
		t.Errorf("alice's overview shows another client's site or admin pages")
	}
	for _, p := range []string{"/sites/{siteB}", "/sites/b.example.com", "/sites/www.b.example.com", "/sites/{siteB}/edit",
		"/tasks/{taskB}", "/clients/{clientB}", "/servers", "/servers/{server}", "/users", "/users/{alice}",
		"/platforms/new", "/clients/new", "/live/tasks/{taskB}", "/live/sites/{siteB}"} {
		if res, _ := w.get(b.expand(p)); res.StatusCode != 404 {
			t.Errorf("alice GET %s: %d, want 404", p, res.StatusCode)
		}
	}
	for _, p := range []string{"/sites/{siteA}", "/tasks/{taskA}", "/clients/{clientA}", "/platforms", "/tasks", "/tokens", "/live/tasks/{taskA}"} {
		if res, body := w.get(b.expand(p)); res.StatusCode != 200 {
			t.Errorf("alice GET %s: %d %s", p, res.StatusCode, body)
		}
	}
	_, body = w.get("/tasks")
	if strings.Contains(body, "b.example.com") {
		t.Errorf("alice's task list shows b.example.com")
	}
	// Posting a task on another client's site is a 404 and changes nothing.
	w.get("/sites")
	before := b.dump()
	res, _ := w.post(b.expand("/sites/{siteB}/tasks"), url.Values{"type": {"delete"}, "confirm": {"b.example.com"}})
	if res.StatusCode != 404 {
		t.Errorf("alice deletes b: %d", res.StatusCode)
	}
	if res, _ := w.post("/clients", url.Values{"name": {"mine"}}); res.StatusCode != 404 {
		t.Errorf("alice creates a client: %d", res.StatusCode)
	}
	if len(b.dump()) != len(before) {
		t.Errorf("the store changed")
	}
}

func TestUICSRF(t *testing.T) {
	t.Parallel()
	b := uiSetup(t)
	b.enable(b.siteA.ID)
	w := loggedIn(t, b, "admin")
	other := loggedIn(t, b, "alice")
	form := url.Values{"type": {"backup"}}
	before := b.dump()
	for name, f := range map[string]url.Values{
		"no token":              form,
		"another session's one": {"type": {"backup"}, "_csrf": {other.csrf}},
		"garbage":               {"type": {"backup"}, "_csrf": {"x"}},
	} {
		if name == "no token" {
			f = url.Values{"type": {"backup"}, "_csrf": {""}}
		}
		res, body := w.post(b.expand("/sites/{siteA}/tasks"), f)
		if res.StatusCode != 403 || !strings.Contains(body, "Form expired") {
			t.Errorf("%s: %d", name, res.StatusCode)
		}
	}
	// A cross-site Origin is refused even with a valid token.
	w.get("/")
	req, _ := http.NewRequest("POST", w.base+b.expand("/sites/{siteA}/tasks"), strings.NewReader(url.Values{"type": {"backup"}, "_csrf": {w.csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://evil.example")
	if res, _ := w.do(req); res.StatusCode != 403 {
		t.Errorf("cross-origin: %d", res.StatusCode)
	}
	if after := b.dump(); len(after) != len(before) {
		t.Fatalf("the store changed")
	}
	// The same form with its token works.
	w.get("/")
	res, _ := w.post(b.expand("/sites/{siteA}/tasks"), form)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("backup with token: %d", res.StatusCode)
	}
}

func TestUILoginRateLimit(t *testing.T) {
	t.Parallel()
	b := uiSetup(t)
	w := b.browser()
	for i := 0; i < 5; i++ {
		w.login("admin", "wrong password!")
	}
	res := w.login("admin", testPassword)
	_, body := w.follow(res)
	if !strings.Contains(body, "Too many failed logins") {
		t.Fatalf("sixth try: %s", body)
	}
	// Another account from the same address is not locked yet.
	if res := b.browser().login("alice", testPassword); res.Header.Get("Location") != "/" {
		t.Fatalf("alice locked out too: %q", res.Header.Get("Location"))
	}
	// Unknown names and wrong passwords get the same answer.
	w2 := b.browser()
	_, body1 := w2.follow(w2.login("nobody", "whatever-123"))
	_, body2 := w2.follow(w2.login("alice", "whatever-123"))
	if !strings.Contains(body1, "Wrong name or password") || !strings.Contains(body2, "Wrong name or password") {
		t.Fatalf("failure messages differ")
	}
}

func TestUIForms(t *testing.T) {
	t.Parallel()
	b := uiSetup(t)
	b.enable(b.siteA.ID)
	w := loggedIn(t, b, "admin")
	ctx := context.Background()

	// A client whose title would be markup is escaped.
	res, _ := w.post("/clients", url.Values{"name": {"initech"}, "title": {`<script>alert(1)</script>`}})
	_, body := w.follow(res)
	if !strings.Contains(body, "Client initech created") || strings.Contains(body, "<script>alert") || !strings.Contains(body, "&lt;script&gt;") {
		t.Fatalf("client page: %s", body)
	}
	// A bad domain goes back to the form with the reason; nothing is written.
	w.get("/sites/new")
	before := len(b.dump())
	res, _ = w.post("/sites", url.Values{"domain": {"bad domain"}, "platform_id": {b.ids["platform"]}, "db_server_id": {b.ids["server"]}, "client_id": {b.ids["clientA"]}, "back": {"/sites/new"}})
	// The form comes back with what was typed, and the reason.
	if loc := res.Header.Get("Location"); !strings.HasPrefix(loc, "/sites/new?") || !strings.Contains(loc, "domain=bad+domain") {
		t.Fatalf("bad site: %d %q", res.StatusCode, loc)
	}
	if _, body = w.follow(res); !strings.Contains(body, "flash-error") || !strings.Contains(body, `value="bad domain"`) ||
		!strings.Contains(body, `<option value="`+b.ids["clientA"]+`" selected>`) {
		t.Fatalf("the refused form forgot what was typed: %s", body)
	}
	// With several clients, the new-site form chooses none for the person.
	if _, body = w.get("/sites/new"); !strings.Contains(body, `<option value="" selected>Choose a client</option>`) {
		t.Fatalf("new-site form preselects a client: %s", body)
	}
	// A domain already taken is named by the site that has it, not an id.
	res, _ = w.post("/sites", url.Values{"domain": {"a.example.com"}, "platform_id": {b.ids["platform"]}, "db_server_id": {b.ids["server"]}, "client_id": {b.ids["clientA"]}, "back": {"/sites/new"}})
	if _, body = w.follow(res); !strings.Contains(body, "already used by the site a.example.com") {
		t.Fatalf("duplicate domain: %s", body)
	}
	if len(b.dump()) != before {
		t.Fatalf("a refused form wrote to the store")
	}
	// A good one creates the site and shows its install task.
	res, _ = w.post("/sites", url.Values{"domain": {"new.example.com"}, "aliases": {"www.new.example.com"}, "platform_id": {b.ids["platform"]}, "db_server_id": {b.ids["server"]}, "client_id": {b.ids["clientA"]}})
	if !strings.HasPrefix(res.Header.Get("Location"), "/tasks/") {
		t.Fatalf("create site: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	site, err := b.st.SiteByDomain(ctx, "new.example.com")
	if err != nil || len(site.Aliases) != 1 {
		t.Fatalf("site: %+v %v", site, err)
	}
	// Delete needs the domain typed; disable only a yes (asked in the
	// browser), so its form posts without a confirm field.
	w.get("/sites/" + b.siteA.ID)
	res, _ = w.post("/sites/"+b.siteA.ID+"/tasks", url.Values{"type": {"delete"}, "confirm": {"a.example"}})
	_, body = w.follow(res)
	if !strings.Contains(body, "to confirm") {
		t.Fatalf("delete without confirmation: %s", body)
	}
	if p, _ := b.st.ListTasks(ctx, store.TaskFilter{TargetID: b.siteA.ID, Type: domain.TaskDelete}); p.Total != 0 {
		t.Fatalf("delete queued without confirmation")
	}
	res, _ = w.post("/sites/"+b.siteA.ID+"/tasks", url.Values{"type": {"disable"}})
	if _, body = w.follow(res); !strings.Contains(body, "Disable of a.example.com is queued") {
		t.Fatalf("disable: %s", body)
	}
	// Users: create a client user with a password; the page never shows the hash.
	w.get("/users")
	res, _ = w.post("/users", url.Values{"name": {"carol"}, "role": {"client"}, "client_ids": {b.ids["clientB"]}, "password": {"carol-password-1"}})
	if _, body = w.follow(res); !strings.Contains(body, "User carol created") || strings.Contains(body, "argon2id") {
		t.Fatalf("create user: %s", body)
	}
	cw := b.browser()
	if res := cw.login("carol", "carol-password-1"); res.Header.Get("Location") != "/" {
		t.Fatalf("carol cannot log in")
	}
	if _, body = cw.get("/sites"); !strings.Contains(body, "b.example.com") || strings.Contains(body, "a.example.com") {
		t.Fatalf("carol's sites: %s", body)
	}
	// Tokens: the secret is shown once, on the answer to the form.
	w.get("/tokens")
	res, body = w.post("/tokens", url.Values{"name": {"cli"}})
	if res.StatusCode != 201 || !strings.Contains(body, `value="aegir_`) {
		t.Fatalf("token: %d", res.StatusCode)
	}
	if _, body = w.get("/tokens"); strings.Contains(body, `value="aegir_`) {
		t.Fatalf("the secret is shown again")
	}
}

func TestUIPasswordChangeEndsOtherSessions(t *testing.T) {
	t.Parallel()
	b := uiSetup(t)
	w1 := loggedIn(t, b, "alice")
	w2 := loggedIn(t, b, "alice")
	w1.get("/account")
	res, _ := w1.post("/account/password", url.Values{"current": {testPassword}, "password": {"a brand new one"}, "confirm": {"a brand new one"}})
	if _, body := w1.follow(res); !strings.Contains(body, "Your password is changed") {
		t.Fatalf("change: %s", body)
	}
	if res, _ := w1.get("/sites"); res.StatusCode != 200 {
		t.Fatalf("this session ended: %d", res.StatusCode)
	}
	if res, _ := w2.get("/sites"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("the other session still works: %d", res.StatusCode)
	}
}

func TestEnsureAdminPassword(t *testing.T) {
	t.Parallel()
	b := setup(t)
	path := filepath.Join(t.TempDir(), "admin-password")
	ctx := context.Background()
	set, err := EnsureAdminPassword(ctx, b.st, path)
	if err != nil || !set {
		t.Fatalf("first: %v %v", set, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file: %v %v", fi, err)
	}
	raw, _ := os.ReadFile(path)
	admin, _ := b.st.UserByName(ctx, "admin")
	if !web.VerifyPassword(admin.PasswordHash, strings.TrimSpace(string(raw))) {
		t.Fatal("the file's password does not log in")
	}
	if set, err := EnsureAdminPassword(ctx, b.st, path); err != nil || set {
		t.Fatalf("second: %v %v", set, err)
	}
}

func TestUIQueuesAndBackups(t *testing.T) {
	t.Parallel()
	b := uiSetup(t, func(c *Config) {
		q, err := queue.New(queue.Config{Store: c.Store, Locker: locks.NewMemory(), Logger: c.Logger})
		if err != nil {
			t.Fatal(err)
		}
		c.Queues = q
	})
	ctx := context.Background()
	b.enable(b.siteA.ID)
	backupOf := func(site *domain.Site) *domain.Backup {
		archive := filepath.Join(t.TempDir(), "b.tar.zst")
		if err := os.WriteFile(archive, []byte("zstd archive bytes"), 0o600); err != nil {
			t.Fatal(err)
		}
		bk := &domain.Backup{SiteID: site.ID, ClientID: site.ClientID, Domain: site.Domain, Path: archive, Size: 18, SHA256: "abc", Reason: "manual"}
		task, err := b.st.RequestSiteTask(ctx, site.ID, domain.TaskBackup, nil, "test")
		if err != nil {
			t.Fatal(err)
		}
		b.finish(task, domain.TaskSucceeded, store.AddBackup(bk))
		return bk
	}
	bkA := backupOf(b.siteA)

	w := loggedIn(t, b, "admin")
	if _, body := w.get("/"); !strings.Contains(body, `id="queues-summary"`) || !strings.Contains(body, "cron") {
		t.Fatalf("overview lacks the queues")
	}
	if res, body := w.get("/queues"); res.StatusCode != 200 || !strings.Contains(body, `id="queue-backup"`) {
		t.Fatalf("queues page: %d", res.StatusCode)
	}
	res, _ := w.post("/queues/cron", url.Values{"version": {"0"}, "enabled": {"on"}, "frequency": {"2h"}, "interval": {"10m"}, "concurrency": {"4"}})
	if _, body := w.follow(res); !strings.Contains(body, "Saved the cron queue") {
		t.Fatalf("save cron settings: %s", body)
	}
	set, _ := b.cfg.Queues.Settings(ctx, "cron")
	if set.Frequency.D() != 2*time.Hour || set.Concurrency != 4 || set.Timeout.D() == 0 {
		t.Fatalf("settings after the form: %+v", set)
	}
	res, _ = w.post("/queues/cron", url.Values{"version": {"0"}, "frequency": {"3h"}})
	if _, body := w.follow(res); !strings.Contains(body, "flash-error") {
		t.Fatalf("a stale version was accepted")
	}
	if _, body := w.get("/sites/" + b.siteA.ID); !strings.Contains(body, "/backups/"+bkA.ID+"/download") {
		t.Fatalf("the site page has no download link")
	}
	if res, body := w.get("/backups/" + bkA.ID + "/download"); res.StatusCode != 200 || body != "zstd archive bytes" {
		t.Fatalf("download: %d %q", res.StatusCode, body)
	}

	alice := loggedIn(t, b, "alice")
	if res, _ := alice.get("/queues"); res.StatusCode != 404 {
		t.Errorf("alice /queues: %d", res.StatusCode)
	}
	if _, body := alice.get("/"); strings.Contains(body, "queues-summary") {
		t.Errorf("alice's overview shows the queues")
	}
	if res, _ := alice.get("/backups/" + bkA.ID + "/download"); res.StatusCode != 200 {
		t.Errorf("alice downloading her backup: %d", res.StatusCode)
	}
	b.enable(b.siteB.ID)
	bkB := backupOf(b.siteB)
	if res, _ := alice.get("/backups/" + bkB.ID + "/download"); res.StatusCode != 404 {
		t.Errorf("alice downloading globex's backup: %d", res.StatusCode)
	}
	alice.get("/sites/" + b.siteA.ID)
	if res, _ := alice.post("/backups/"+bkB.ID+"/delete", url.Values{"confirm": {"b.example.com"}}); res.StatusCode != 404 {
		t.Errorf("alice deleting globex's backup: %d", res.StatusCode)
	}
	res, _ = alice.post("/backups/"+bkA.ID+"/delete", url.Values{"confirm": {"a.example.com"}})
	if _, body := alice.follow(res); !strings.Contains(body, "Deleting the backup of a.example.com") {
		t.Fatalf("delete: %s", body)
	}
	if p, _ := b.st.ListTasks(ctx, store.TaskFilter{TargetID: b.siteA.ID, Type: domain.TaskDeleteBackup}); p.Total != 1 {
		t.Fatalf("delete-backup tasks: %d", p.Total)
	}
}

// TestUIPlatformTaskNames: the platform form takes the API's names too
// ("verify", "delete"), through the one mapping in internal/control, and
// "delete" asks for the name as delete-platform does.
func TestUIPlatformTaskNames(t *testing.T) {
	t.Parallel()
	b := uiSetup(t)
	w := loggedIn(t, b, "admin")
	ctx := context.Background()
	page := "/platforms/" + b.ids["platform"]
	w.get(page)
	res, _ := w.post(page+"/tasks", url.Values{"type": {"delete"}, "confirm": {"p"}})
	if _, body := w.follow(res); !strings.Contains(body, "to confirm") {
		t.Fatalf("delete without the name: %s", body)
	}
	if p, _ := b.st.ListTasks(ctx, store.TaskFilter{TargetID: b.ids["platform"], Type: domain.TaskDeletePlatform}); p.Total != 0 {
		t.Fatal("delete-platform queued without confirmation")
	}
	res, _ = w.post(page+"/tasks", url.Values{"type": {"verify"}})
	if _, body := w.follow(res); !strings.Contains(body, "Verify-platform of platform p1 is queued") {
		t.Fatalf("verify: %s", body)
	}
}

// TestUISitesListColumns: the sites list has a visit link for a serving
// site, its health (the newest finished task), its last backup and its
// disk use; a client user's overview has no admin-only card.
func TestUISitesListColumns(t *testing.T) {
	t.Parallel()
	b := uiSetup(t)
	b.enable(b.siteA.ID)
	ctx := context.Background()
	task, err := b.st.RequestSiteTask(ctx, b.siteA.ID, domain.TaskBackup, nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	b.finish(task, domain.TaskSucceeded, store.AddBackup(&domain.Backup{SiteID: b.siteA.ID, ClientID: b.siteA.ClientID,
		Domain: b.siteA.Domain, Path: "/x.tar.zst", Size: 4096, SHA256: "abc", Reason: "manual"}))
	// b's install failed: its health links to the failed task.
	failed := b.taskOf(b.siteB.ID, domain.TaskInstall)
	b.finish(failed, domain.TaskFailed, store.SetSiteStatus(b.siteB.ID, domain.SiteFailed))
	w := loggedIn(t, b, "admin")
	_, body := w.get("/sites")
	for _, want := range []string{
		`<a class="badge b-failed" href="/tasks/` + failed.ID + `"`,
		`<th>Health</th>`, `>Disk</th>`, `<th class="hide-m">Last backup</th>`,
		`href="http://a.example.com/" target="_blank"`, // nginx on port 80: no port in the link
		`<span class="badge b-succeeded" title="backup succeeded`,
		`<span class="muted">never</span>`, // b.example.com was never backed up
	} {
		if !strings.Contains(body, want) {
			t.Errorf("sites list lacks %s", want)
		}
	}
	if strings.Contains(body, `href="http://b.example.com/"`) {
		t.Errorf("a pending site has a visit link")
	}
	if _, body = w.get("/sites/" + b.siteA.ID); !strings.Contains(body, `id="visit" href="http://a.example.com/"`) {
		t.Errorf("site page lacks the visit link")
	}
	// Sites exist: no getting-started card.
	if _, body = w.get("/"); strings.Contains(body, `id="getting-started"`) {
		t.Errorf("getting-started card on a non-empty overview")
	}
	// A client user's overview: their sites' tasks, and no empty
	// admin card (servers, queues).
	_, body = loggedIn(t, b, "alice").get("/")
	if strings.Contains(body, "<h2>Servers</h2>") || strings.Contains(body, "Periodic queues") || strings.Contains(body, `class="grid2"><section class="card">
<h2>Task queue now`) {
		t.Errorf("client overview has an admin card: %s", body)
	}
}

// TestUITaskRunningFor: a running task's page says how long it has been
// running, with the start time for the page script that ticks it; a
// finished one says how long it took.
func TestUITaskRunningFor(t *testing.T) {
	t.Parallel()
	b := uiSetup(t)
	task := b.taskOf(b.siteA.ID, domain.TaskInstall)
	if err := b.st.StartTask(context.Background(), task, "test", 0); err != nil {
		t.Fatal(err)
	}
	task = b.taskOf(b.siteA.ID, domain.TaskInstall)
	w := loggedIn(t, b, "admin")
	_, body := w.get("/tasks/" + task.ID)
	want := fmt.Sprintf(`<dt>Running for</dt><dd id="took" data-since="%d">`, task.StartedAt.UnixMilli())
	if !strings.Contains(body, want) {
		t.Fatalf("running task page lacks %s: %s", want, body)
	}
	if err := b.st.FinishTask(context.Background(), task, domain.TaskSucceeded, store.SetSiteStatus(b.siteA.ID, domain.SiteEnabled)); err != nil {
		t.Fatal(err)
	}
	if _, body = w.get("/tasks/" + task.ID); !strings.Contains(body, `<dt>Took</dt><dd id="took">`) || strings.Contains(body, "data-since") {
		t.Fatalf("finished task page: %s", body)
	}
}
