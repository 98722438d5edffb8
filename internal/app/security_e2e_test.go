package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/testharness"
)

// browser is a dashboard client with its own cookies that does not follow
// redirects, connecting from the loopback address from (127.0.0.1 or
// another of 127/8, to be a proxy the config trusts or not).
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func (d *devProcess) browser(from string) *browser {
	jar, _ := cookiejar.New(nil)
	dialer := &net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	return &browser{t: d.t, base: "http://" + d.api, c: &http.Client{
		Jar: jar, Timeout: 60 * time.Second, // a slowed-down login waits up to 16s
		Transport:     &http.Transport{DialContext: dialer.DialContext},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// do sends a request with optional form values and X-Forwarded-For.
func (b *browser) do(method, path string, form url.Values, xff string) (int, http.Header, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, b.base+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(out)
}

// nextField is the login form's redirect target (csrfField is
// redis_auth_test.go's).
var nextField = regexp.MustCompile(`name="next" value="([^"]*)"`)

// csrf reads the CSRF token of the page at path.
func (b *browser) csrf(path string) string {
	b.t.Helper()
	code, _, page := b.do("GET", path, nil, "")
	m := csrfField.FindStringSubmatch(page)
	if code != 200 || m == nil {
		b.t.Fatalf("GET %s: %d, no CSRF token", path, code)
	}
	return html.UnescapeString(m[1])
}

// login posts the login form and returns the status, the redirect and the
// flash (the login page the redirect leads to, for a refusal).
func (b *browser) login(name, password, next, xff string) (int, string) {
	b.t.Helper()
	form := url.Values{"name": {name}, "password": {password}, "next": {next}, "_csrf": {b.csrf("/login")}}
	code, h, _ := b.do("POST", "/login", form, xff)
	return code, h.Get("Location")
}

// cliInput runs the built CLI with stdin.
func (d *devProcess) cliInput(stdin string, args ...string) (int, string) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, aegirBin, args...)
	cmd.Env = []string{"AEGIR_ADDR=" + d.api, "AEGIR_TOKEN=" + d.token, "PATH=" + os.Getenv("PATH")}
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		d.t.Fatalf("aegir %v: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), out.String()
}

type auditEntry struct {
	UserName string            `json:"user_name"`
	Address  string            `json:"address"`
	Action   string            `json:"action"`
	Kind     string            `json:"kind"`
	ObjectID string            `json:"object_id"`
	Fields   map[string]string `json:"fields"`
}

// audit runs `aegir audit list -json` with args.
func (d *devProcess) audit(args ...string) []auditEntry {
	d.t.Helper()
	out, _ := d.mustCLI(0, append([]string{"audit", "list", "-json", "-limit", "1000"}, args...)...)
	var page struct {
		Items []auditEntry `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &page); err != nil {
		d.t.Fatalf("audit list -json: %v\n%s", err, out)
	}
	return page.Items
}

// TestSecurityThroughTheBinary drives the README's security promises of
// issue 14 on the built `aegir dev` (its dashboard as a browser would, its
// CLI) with `trusted_proxies = ["127.0.0.2"]` from the config file:
//
//   - the login's redirect target: every open-redirect payload of the
//     hostile corpus ends on this host, a local next is kept;
//   - logout ends the session: its old cookie no longer opens a page;
//   - login limits: failures with forged X-Forwarded-For from an untrusted
//     peer count for that peer (the header ignored), 5 refuse the account
//     from there even with its right password, while its owner behind the
//     trusted proxy (their forwarded address) still logs in, and so does
//     the admin from the attacker's own address;
//   - the audit log (`aegir audit list`): failed and successful logins with
//     the address as the README resolves it, logout, token creation with
//     no secret, a site create and a task request; a client user sees
//     only their client's entries;
//   - input checked where it enters: an IP address as a domain, a token
//     TTL over max_token_ttl, a bad log position (400), a clone onto a
//     taken domain (409 at the request), forbidden exits 4;
//   - bad session settings stop `aegir dev` with the setting named.
func TestSecurityThroughTheBinary(t *testing.T) {
	t.Parallel()
	conf := writeConfig(t, "dashboard {\n  trusted_proxies = [\"127.0.0.2\"]\n}\nmax_token_ttl = \"720h\"\n")
	d := startDev(t, "-config", conf)
	d.waitPlatformsReady()
	pw, err := os.ReadFile(filepath.Join(d.dataDir, "admin-password"))
	if err != nil {
		t.Fatal(err)
	}
	adminPW := strings.TrimSpace(string(pw))

	// Redirect targets.
	var payloads []string
	for _, p := range testharness.HostileInputs {
		if strings.Contains(p, "evil.example") || strings.HasPrefix(p, "javascript:") || strings.HasPrefix(p, "data:") {
			payloads = append(payloads, p)
		}
	}
	if len(payloads) < 10 {
		t.Fatalf("only %d redirect payloads in the hostile corpus", len(payloads))
	}
	base, _ := url.Parse("http://" + d.api + "/")
	for _, p := range payloads {
		b := d.browser("127.0.0.1")
		_, _, page := b.do("GET", "/login?next="+url.QueryEscape(p), nil, "")
		if m := nextField.FindStringSubmatch(page); m == nil || strings.Contains(html.UnescapeString(m[1]), "evil") || strings.Contains(m[1], "javascript") {
			t.Errorf("login page for next=%q carries next %v", p, m)
		}
		code, loc := b.login("admin", adminPW, p, "")
		target, err := base.Parse(loc)
		if code != 303 || err != nil || target.Host != base.Host || target.Scheme != "http" ||
			strings.ContainsAny(loc, "\\\t\n\r ") || strings.HasPrefix(loc, "//") || strings.Contains(loc, "evil") {
			t.Errorf("login with next=%q: %d to %q", p, code, loc)
		}
	}
	b := d.browser("127.0.0.1")
	if code, loc := b.login("admin", adminPW, "/sites?page=2", ""); code != 303 || loc != "/sites?page=2" {
		t.Errorf("login with a local next: %d to %q", code, loc)
	}

	// Logout ends the session: the old cookie opens nothing.
	if code, _, _ := b.do("GET", "/sites", nil, ""); code != 200 {
		t.Fatalf("logged in, /sites answers %d", code)
	}
	old := b.c.Jar.Cookies(base)
	logoutForm := url.Values{"_csrf": {b.csrf("/")}}
	if code, h, _ := b.do("POST", "/logout", logoutForm, ""); code != 303 || !strings.HasPrefix(h.Get("Location"), "/login") {
		t.Fatalf("logout: %d to %q", code, h.Get("Location"))
	}
	replay := d.browser("127.0.0.1")
	replay.c.Jar.SetCookies(base, old)
	if code, h, _ := replay.do("GET", "/sites", nil, ""); code != 303 || !strings.HasPrefix(h.Get("Location"), "/login") {
		t.Errorf("the logged-out session's cookie: %d to %q, want the login page", code, h.Get("Location"))
	}

	// A client user with a password.
	d.mustCLI(0, "client", "create", "acme")
	if code, out := d.cliInput("bob-right-password", "user", "create", "bob", "-role", "client", "-client", "acme", "-password-stdin"); code != 0 {
		t.Fatalf("user create bob: %d %s", code, out)
	}
	tok, _ := d.mustCLI(0, "token", "create", "-user", "bob", "-name", "e2e", "-q")
	bob := d.as(strings.TrimSpace(tok))

	// Login limits. An attacker on 127.0.0.1 forges X-Forwarded-For: not a
	// trusted proxy, so every failure counts for 127.0.0.1 and bob.
	attacker := d.browser("127.0.0.1")
	for i, forged := range []string{"203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4", "203.0.113.5"} {
		if code, loc := attacker.login("bob", "guess", "", forged); code != 303 || !strings.HasPrefix(loc, "/login") {
			t.Fatalf("failure %d: %d to %q", i, code, loc)
		}
	}
	code, loc := attacker.login("bob", "bob-right-password", "", "198.51.100.99")
	if code != 303 || !strings.HasPrefix(loc, "/login") {
		t.Errorf("bob's right password from the attacker's address after 5 failures: %d to %q, want refused", code, loc)
	}
	_, _, page := attacker.do("GET", loc, nil, "")
	if !strings.Contains(page, "Too many failed logins for this account from your address") {
		t.Errorf("the refusal does not say why:\n%s", tail(page, 20))
	}
	// The owner, behind the trusted proxy, from their own address: in
	// (after the per-account delay), to a local page.
	owner := d.browser("127.0.0.2")
	if code, loc := owner.login("bob", "bob-right-password", "", "198.51.100.7"); code != 303 || loc != "/" {
		t.Errorf("bob behind the trusted proxy: %d to %q, want in", code, loc)
	}
	// Past 20 failures from one address (any accounts) tries from it are
	// slowed, never refused.
	for i := range 16 {
		if code, loc := attacker.login("nobody"+strconv.Itoa(i), "guess", "", ""); code != 303 || !strings.HasPrefix(loc, "/login") {
			t.Fatalf("failure on nobody%d: %d to %q", i, code, loc)
		}
	}
	// The admin from the attacker's own address: not locked out.
	if code, loc := d.browser("127.0.0.1").login("admin", adminPW, "", ""); code != 303 || loc != "/" {
		t.Errorf("the admin from the attacker's address: %d to %q, want in", code, loc)
	}

	// The audit log, through the CLI.
	var failed, forwarded int
	for _, e := range d.audit("-user", "bob", "-action", "login_failed") {
		failed++
		if e.Address != "127.0.0.1" {
			t.Errorf("a failed login recorded from %q (the forged header believed?)", e.Address)
		}
	}
	if failed < 5 {
		t.Errorf("%d failed logins of bob on the audit log, want at least 5", failed)
	}
	for _, e := range d.audit("-user", "bob", "-action", "login") {
		if e.Address == "198.51.100.7" {
			forwarded++
		}
	}
	if forwarded != 1 {
		t.Errorf("bob's login through the proxy: %d entries from 198.51.100.7, want 1", forwarded)
	}
	if n := len(d.audit("-user", "admin", "-action", "logout")); n != 1 {
		t.Errorf("%d logouts of admin on the audit log, want 1", n)
	}
	// Tokens: bob's, made by the admin.
	if n := len(d.audit("-kind", "token", "-action", "create_token")); n != 1 {
		t.Errorf("%d token creations on the audit log, want 1", n)
	}
	raw, _ := d.mustCLI(0, "audit", "list", "-json", "-limit", "1000")
	if strings.Contains(raw, strings.TrimSpace(tok)) || strings.Contains(raw, adminPW) || strings.Contains(raw, "bob-right-password") {
		t.Error("a secret is on the audit log")
	}
	d.mustCLI(0, "site", "create", "audit.acme.test", "-platform", "example", "-db-server", "local", "-client", "acme", "-wait")
	bob.mustCLI(0, "site", "verify", "audit.acme.test", "-wait")
	if n := len(d.audit("-kind", "site", "-action", "create")); n != 1 {
		t.Errorf("%d site creates on the audit log, want 1", n)
	}
	if es := d.audit("-user", "bob", "-action", "request_task"); len(es) != 1 || es[0].Address != "127.0.0.1" {
		t.Errorf("bob's verify on the audit log: %+v", es)
	}
	for _, e := range bob.audit() {
		if e.Kind == "site" && e.UserName == "admin" && e.Address != "" {
			t.Errorf("bob sees the admin's address on %+v", e)
		}
		if e.Action == "login" && e.UserName == "admin" {
			t.Errorf("bob sees the admin's login %+v", e)
		}
	}
	bob.mustCLI(4, "server", "list")
	// A client user reads platforms to choose one, not where they live.
	var platforms struct {
		Items []map[string]any `json:"items"`
	}
	bob.call("GET", "/platforms", nil, &platforms)
	for _, p := range platforms.Items {
		if _, ok := p["path"]; ok {
			t.Errorf("a client user sees a platform's path: %v", p)
		}
	}
	if len(platforms.Items) == 0 {
		t.Error("a client user sees no platform to choose")
	}

	// Input checked where it enters.
	sites := d.siteCount()
	if _, errOut := d.mustCLI(1, "site", "create", "127.0.0.1", "-platform", "example", "-db-server", "local", "-client", "acme"); !strings.Contains(errOut, "IP") && !strings.Contains(errOut, "address") {
		t.Errorf("an IP address as a domain: %q", errOut)
	}
	if _, errOut := d.mustCLI(1, "site", "clone", "audit.acme.test", "-domain", "audit.acme.test"); !strings.Contains(errOut, "audit.acme.test") {
		t.Errorf("a clone onto a taken domain: %q", errOut)
	}
	if n := d.siteCount(); n != sites {
		t.Errorf("refused requests made sites: %d, want %d", n, sites)
	}
	// A server address is a domain or an IP address, homographs refused;
	// a service's binary is one of its kind's names, checked at the API.
	var servers struct {
		Total int `json:"total"`
	}
	d.call("GET", "/servers", nil, &servers)
	if _, errOut := d.mustCLI(1, "server", "create", "web9", "-address", "ex\u0430mple.com", "-http", "builtin"); !strings.Contains(errOut, "address") {
		t.Errorf("a homograph server address: %q", errOut)
	}
	if _, errOut := d.mustCLI(1, "server", "create", "web9", "-address", "web9.example.com", "-http", "nginx", "-http-set", "binary=/bin/sh",
		"-http-set", "config_dir=/etc/nginx/sites-enabled", "-http-set", "main_config=/etc/nginx/nginx.conf"); !strings.Contains(errOut, "binary") {
		t.Errorf("nginx with binary=/bin/sh: %q", errOut)
	}
	if _, errOut := d.mustCLI(1, "service", "set", "local", "http", "binary=/bin/sh"); !strings.Contains(errOut, "binary") {
		t.Errorf("service set binary=/bin/sh: %q", errOut)
	}
	var after struct {
		Total int `json:"total"`
	}
	if d.call("GET", "/servers", nil, &after); after.Total != servers.Total {
		t.Errorf("refused servers were made: %d, want %d", after.Total, servers.Total)
	}
	if _, errOut := d.mustCLI(1, "token", "create", "-ttl", "1000000h"); !strings.Contains(errOut, "ttl") {
		t.Errorf("a token TTL over max_token_ttl: %q", errOut)
	}
	var tasks struct {
		Items []task `json:"items"`
	}
	d.call("GET", "/tasks", nil, &tasks)
	if len(tasks.Items) == 0 {
		t.Fatal("no tasks")
	}
	var apiErr struct {
		Error struct{ Code, Field string } `json:"error"`
	}
	if st := d.call("GET", "/tasks/"+tasks.Items[0].ID+"/log?after=garbage", nil, &apiErr); st != 400 {
		t.Errorf("a bad log position: %d %+v, want 400", st, apiErr)
	}

	// Session settings below their floor stop aegir dev, named.
	bad := writeConfig(t, "dashboard {\n  session_idle = \"1s\"\n}\n")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, aegirBin, "dev", "-config", bad, "-data-dir", t.TempDir(), "-http-addr", "127.0.0.1:1", "-sites-addr", "127.0.0.1:1").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "session_idle") {
		t.Errorf("aegir dev with session_idle = 1s: %v\n%s", err, out)
	}
}

// loggedIn reports whether b's session opens a page, or is sent to log in.
func (b *browser) loggedIn() bool {
	b.t.Helper()
	code, h, _ := b.do("GET", "/sites", nil, "")
	switch {
	case code == 200:
		return true
	case code == 303 && strings.HasPrefix(h.Get("Location"), "/login"):
		return false
	}
	b.t.Fatalf("GET /sites: %d to %q", code, h.Get("Location"))
	return false
}

// TestSessionsEndThroughTheBinary: on the built `aegir dev`, dashboard
// sessions are store records that end at once (README, "Dashboard
// sessions and login limits"): a password change ends the user's other
// sessions and keeps the one it was made in; an admin's "End all
// sessions" (after the user's sessions page listed them with their
// address) ends every one; a role change through the API ends them too;
// each is on the audit log, the password named, never recorded.
func TestSessionsEndThroughTheBinary(t *testing.T) {
	t.Parallel()
	d := startDev(t)
	pw, err := os.ReadFile(filepath.Join(d.dataDir, "admin-password"))
	if err != nil {
		t.Fatal(err)
	}
	admin := d.browser("127.0.0.1")
	if code, loc := admin.login("admin", strings.TrimSpace(string(pw)), "", ""); code != 303 || loc != "/" {
		t.Fatalf("admin login: %d to %q", code, loc)
	}
	d.mustCLI(0, "client", "create", "acme")
	if code, out := d.cliInput("carol-password-1", "user", "create", "carol", "-role", "client", "-client", "acme", "-password-stdin"); code != 0 {
		t.Fatalf("user create carol: %d %s", code, out)
	}
	var carol struct {
		ID      string `json:"id"`
		Name    string `json:"name"`
		Version uint64 `json:"version"`
	}
	if st := d.call("GET", "/users/carol", nil, &carol); st != 200 {
		var l struct {
			Items []struct {
				ID, Name string
				Version  uint64
			} `json:"items"`
		}
		d.call("GET", "/users", nil, &l)
		for _, u := range l.Items {
			if u.Name == "carol" {
				carol.ID, carol.Name, carol.Version = u.ID, u.Name, u.Version
			}
		}
	}
	if carol.ID == "" {
		t.Fatal("carol not found")
	}
	login := func(password string) *browser {
		t.Helper()
		b := d.browser("127.0.0.1")
		if code, loc := b.login("carol", password, "", ""); code != 303 || loc != "/" {
			t.Fatalf("carol login: %d to %q", code, loc)
		}
		return b
	}

	// A password change ends the other session, keeps this one.
	s1, s2 := login("carol-password-1"), login("carol-password-1")
	form := url.Values{"current": {"carol-password-1"}, "password": {"carol-password-2"}, "confirm": {"carol-password-2"}, "_csrf": {s1.csrf("/account")}}
	if code, h, _ := s1.do("POST", "/account/password", form, ""); code != 303 || h.Get("Location") != "/account" {
		t.Fatalf("password change: %d to %q", code, h.Get("Location"))
	}
	if !s1.loggedIn() || s2.loggedIn() {
		t.Errorf("after a password change: this session in %v (want true), the other in %v (want false)", s1.loggedIn(), s2.loggedIn())
	}

	// The admin sees carol's sessions and ends them all.
	s3 := login("carol-password-2")
	code, _, page := admin.do("GET", "/users/"+carol.ID+"/sessions", nil, "")
	if rows := strings.Count(page, "<td>127.0.0.1</td>"); code != 200 || rows != 2 {
		t.Errorf("carol's sessions page: %d with %d sessions from 127.0.0.1, want 2", code, rows)
	}
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no CSRF token on the sessions page")
	}
	if code, h, _ := admin.do("POST", "/users/"+carol.ID+"/sessions/end", url.Values{"_csrf": {html.UnescapeString(m[1])}}, ""); code != 303 || strings.HasPrefix(h.Get("Location"), "/login") {
		t.Fatalf("end all sessions: %d to %q", code, h.Get("Location"))
	}
	if s1.loggedIn() || s3.loggedIn() {
		t.Error("a session of carol survived the admin's End all sessions")
	}
	if !admin.loggedIn() {
		t.Error("ending carol's sessions ended the admin's")
	}

	// A role change through the API ends them.
	s4 := login("carol-password-2")
	var full map[string]any
	d.call("GET", "/users/"+carol.ID, nil, &full)
	full["role"], full["client_ids"] = "admin", []string{}
	if st := d.call("PUT", "/users/"+carol.ID, full, nil); st != 200 {
		t.Fatalf("role change: %d", st)
	}
	if s4.loggedIn() {
		t.Error("carol's session survived her role change")
	}

	var pwEntries, ends int
	for _, e := range d.audit("-object", carol.ID) {
		if e.Action == "update" && e.Fields["password"] != "" {
			pwEntries++
			if e.Fields["password"] != "(secret)" {
				t.Errorf("a password recorded: %+v", e)
			}
		}
		if e.Action == "end_sessions" {
			ends++
		}
	}
	if pwEntries < 1 || ends != 1 {
		t.Errorf("carol's audit entries: %d password changes (want at least 1), %d end_sessions (want 1)", pwEntries, ends)
	}
}

// TestSessionTimeoutThroughTheBinary: with session_idle = session_max =
// "1m" (their floor) from the config file, a dashboard session of the
// built `aegir dev` that is not used for a minute has ended; the user logs
// in again. (A minute of waiting, in parallel with the other tests.)
func TestSessionTimeoutThroughTheBinary(t *testing.T) {
	t.Parallel()
	d := startDev(t, "-config", writeConfig(t, "dashboard {\n  session_idle = \"1m\"\n  session_max = \"1m\"\n}\n"))
	pw, err := os.ReadFile(filepath.Join(d.dataDir, "admin-password"))
	if err != nil {
		t.Fatal(err)
	}
	b := d.browser("127.0.0.1")
	if code, loc := b.login("admin", strings.TrimSpace(string(pw)), "", ""); code != 303 || loc != "/" {
		t.Fatalf("login: %d to %q", code, loc)
	}
	if !b.loggedIn() {
		t.Fatal("the new session opens nothing")
	}
	time.Sleep(61 * time.Second)
	if b.loggedIn() {
		t.Error("the session outlived session_idle and session_max")
	}
	if code, loc := b.login("admin", strings.TrimSpace(string(pw)), "", ""); code != 303 || loc != "/" || !b.loggedIn() {
		t.Errorf("login again: %d to %q", code, loc)
	}
}
