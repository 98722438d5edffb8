package dashboard

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"
)

// sessionCookie returns the session cookie a browser holds.
func (w *browser) sessionCookie() *http.Cookie {
	u, _ := url.Parse(w.base)
	for _, c := range w.c.Jar.Cookies(u) {
		if c.Name == "aegir_session" {
			return c
		}
	}
	return nil
}

// replay is a fresh browser holding only the given session cookie, as an
// attacker who copied it would.
func (b *bundle) replay(c *http.Cookie) *browser {
	w := b.browser()
	u, _ := url.Parse(w.base)
	w.c.Jar.SetCookies(u, []*http.Cookie{{Name: c.Name, Value: c.Value, Path: "/"}})
	return w
}

func TestUISessionsEnd(t *testing.T) {
	t.Parallel()
	b := uiSetup(t)
	ctx := context.Background()

	// Logout ends the session on the server: its cookie no longer works.
	w := loggedIn(t, b, "alice")
	stolen := w.sessionCookie()
	if stolen == nil || strings.Contains(stolen.Value, ".") {
		t.Fatalf("session cookie %+v: want a bare random secret", stolen)
	}
	w.get("/sites")
	if res, _ := w.post("/logout", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", res.StatusCode)
	}
	if res, _ := b.replay(stolen).get("/sites"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("a logged-out cookie still works: %d", res.StatusCode)
	}

	// An admin ends all of a user's sessions.
	a1, a2 := loggedIn(t, b, "alice"), loggedIn(t, b, "alice")
	alice, _ := b.st.UserByName(ctx, "alice")
	admin := loggedIn(t, b, "admin")
	_, body := admin.get("/users/" + alice.ID + "/sessions")
	if strings.Count(body, "<tr><td>") != 2 || !strings.Contains(body, "127.0.0.1") {
		t.Fatalf("alice's sessions page: %s", body)
	}
	res, _ := admin.post("/users/"+alice.ID+"/sessions/end", nil)
	if _, body := admin.follow(res); !strings.Contains(body, "All 2 sessions of alice ended") {
		t.Fatalf("end all: %s", body)
	}
	for i, w := range []*browser{a1, a2} {
		if res, _ := w.get("/sites"); res.StatusCode != http.StatusSeeOther {
			t.Errorf("alice's session %d survived: %d", i+1, res.StatusCode)
		}
	}
	if res, _ := admin.get("/sites"); res.StatusCode != 200 {
		t.Fatalf("the admin's own session ended: %d", res.StatusCode)
	}
	// A client user may not see or end anyone's sessions.
	a3 := loggedIn(t, b, "alice")
	if res, _ := a3.get("/users/" + alice.ID + "/sessions"); res.StatusCode != http.StatusNotFound {
		t.Fatalf("a client user saw a sessions page: %d", res.StatusCode)
	}

	// A role change ends the user's sessions.
	admin.get("/users/" + alice.ID)
	alice, _ = b.st.UserByName(ctx, "alice")
	alice.Role = "admin"
	if err := b.st.UpdateUser(ctx, alice); err != nil {
		t.Fatal(err)
	}
	if res, _ := a3.get("/sites"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("a role change kept the session: %d", res.StatusCode)
	}

	// One's own sessions: listed, and "log out everywhere".
	o1, o2 := loggedIn(t, b, "alice"), loggedIn(t, b, "alice")
	if _, body := o1.get("/account/sessions"); strings.Count(body, "<tr><td>") != 2 || !strings.Contains(body, "(this one)") {
		t.Fatalf("own sessions: %s", body)
	}
	if res, _ := o1.post("/account/sessions/end", nil); res.Header.Get("Location") != "/login" {
		t.Fatalf("log out everywhere: %q", res.Header.Get("Location"))
	}
	for _, w := range []*browser{o1, o2} {
		if res, _ := w.get("/sites"); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("a session survived log out everywhere: %d", res.StatusCode)
		}
	}
}

func TestUISessionTimeouts(t *testing.T) {
	t.Parallel()
	b := uiSetup(t, func(c *Config) { c.SessionIdle, c.SessionMax = 2*time.Hour, 3*time.Hour })
	ctx := context.Background()
	w := loggedIn(t, b, "alice")
	alice, _ := b.st.UserByName(ctx, "alice")
	list, err := b.st.ListSessions(ctx, alice.ID)
	if err != nil || len(list) != 1 {
		t.Fatalf("sessions: %v %v", list, err)
	}
	// Idle past the limit: set last-seen back, as if unused for 2h01m.
	s := list[0]
	if err := b.st.TouchSession(ctx, &s, time.Now().Add(-2*time.Hour-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if res, _ := w.get("/sites"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("an idle session works: %d", res.StatusCode)
	}
	if list, _ := b.st.ListSessions(ctx, alice.ID); len(list) != 0 {
		t.Fatalf("the expired session was not removed when presented")
	}
	// Requests within a minute write nothing; the first after a minute
	// records the use.
	w = loggedIn(t, b, "alice")
	list, _ = b.st.ListSessions(ctx, alice.ID)
	before := b.dump()
	for range 5 {
		w.get("/sites")
	}
	if after := b.dump(); len(after) != len(before) || after["sessions/"+list[0].ID] != before["sessions/"+list[0].ID] {
		t.Fatal("requests within a minute wrote the session")
	}
	s = list[0]
	if err := b.st.TouchSession(ctx, &s, time.Now().Add(-90*time.Second)); err != nil {
		t.Fatal(err)
	}
	w.get("/sites")
	if list, _ = b.st.ListSessions(ctx, alice.ID); time.Since(list[0].LastSeen) > 10*time.Second {
		t.Fatalf("last seen not recorded: %v", list[0].LastSeen)
	}
}

// xffBrowser is a browser whose requests carry X-Forwarded-For: xff, as
// if through a proxy (or forged by the client).
func (b *bundle) xffBrowser(xff string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: b.t, base: "http://" + b.url, c: &http.Client{Jar: jar, Transport: xffTransport(xff),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type xffTransport string

func (x xffTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", string(x))
	return http.DefaultTransport.RoundTrip(r)
}

func sessionAddress(t *testing.T, b *bundle, name string) string {
	t.Helper()
	u, _ := b.st.UserByName(context.Background(), name)
	list, err := b.st.ListSessions(context.Background(), u.ID)
	if err != nil || len(list) != 1 {
		t.Fatalf("%s's sessions: %v %v", name, list, err)
	}
	return list[0].Address
}

// A forged X-Forwarded-For from a peer that is not a trusted proxy
// changes nothing: neither the address recorded nor the limits.
func TestUIForgedForwardedForIgnored(t *testing.T) {
	t.Parallel()
	b := uiSetup(t, func(c *Config) { c.LoginDelay = time.Millisecond })
	// An attacker fails five times, each time claiming another address.
	for i := range 5 {
		b.xffBrowser("203.0.113."+string(rune('1'+i))).login("alice", "wrong password!")
	}
	_, body := func() (*http.Response, string) {
		w := b.xffBrowser("203.0.113.99")
		return w.follow(w.login("alice", testPassword))
	}()
	if !strings.Contains(body, "Too many failed logins") {
		t.Fatalf("forged addresses escaped the per-address limit: %s", body)
	}
	// A login elsewhere records the real peer, not the header.
	w := b.xffBrowser("203.0.113.7")
	if res := w.login("admin", testPassword); res.Header.Get("Location") != "/" {
		t.Fatalf("admin login: %q", res.Header.Get("Location"))
	}
	if a := sessionAddress(t, b, "admin"); a != "127.0.0.1" {
		t.Fatalf("session address %q, want the peer 127.0.0.1", a)
	}
}

// Behind a trusted proxy the client's own address counts: the session
// shows it, and an attacker's failures behind the same proxy do not stop
// the admin's correct login.
func TestUITrustedProxy(t *testing.T) {
	t.Parallel()
	b := uiSetup(t, func(c *Config) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		c.LoginDelay = time.Millisecond
	})
	w := b.xffBrowser("1.2.3.4, 198.51.100.7")
	if res := w.login("alice", testPassword); res.Header.Get("Location") != "/" {
		t.Fatalf("alice login: %q", res.Header.Get("Location"))
	}
	if a := sessionAddress(t, b, "alice"); a != "198.51.100.7" {
		t.Fatalf("session address %q, want the client behind the proxy", a)
	}

	attacker := b.xffBrowser("203.0.113.66")
	for range 50 {
		attacker.login("admin", "wrong password!")
	}
	if _, body := attacker.follow(attacker.login("admin", testPassword)); !strings.Contains(body, "Too many failed logins") {
		t.Fatalf("the attacker's address is not limited: %s", body)
	}
	admin := b.xffBrowser("198.51.100.20")
	start := time.Now()
	if res := admin.login("admin", testPassword); res.Header.Get("Location") != "/" {
		t.Fatalf("the admin behind the same proxy was refused: %q", res.Header.Get("Location"))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the admin's login took %v", d)
	}
	// The attacker guessing many accounts is slowed, not refusing others.
	for i := range 30 {
		attacker.login("nobody"+string(rune('a'+i)), "wrong password!")
	}
	if res := b.xffBrowser("198.51.100.21").login("alice", testPassword); res.Header.Get("Location") != "/" {
		t.Fatalf("alice refused after the attacker's spray: %q", res.Header.Get("Location"))
	}
}

// After an account's failures its owner still gets in, from another
// address, with the right password (later, not never).
func TestUILoginSlowsDownButLetsTheOwnerIn(t *testing.T) {
	t.Parallel()
	b := uiSetup(t, func(c *Config) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		c.LoginDelay = 20 * time.Millisecond
	})
	for i := range 6 {
		b.xffBrowser("203.0.113."+string(rune('1'+i))).login("alice", "wrong password!")
	}
	start := time.Now()
	if res := b.xffBrowser("198.51.100.7").login("alice", testPassword); res.Header.Get("Location") != "/" {
		t.Fatalf("the owner was refused: %q", res.Header.Get("Location"))
	}
	if d := time.Since(start); d < 20*time.Millisecond<<3 {
		t.Errorf("the login after 6 failures took %v, want at least the 8× delay", d)
	}
}

// The login's next= goes only to a path on this host.
func TestUILoginNextStaysOnThisHost(t *testing.T) {
	t.Parallel()
	b := uiSetup(t)
	for next, want := range map[string]string{
		"/sites": "/sites", "/%09/evil.example": "/", "//evil.example": "/", "/\\evil.example": "/",
		"https://evil.example": "/", "/%2f%2fevil.example": "/", "/%5cevil.example": "/", "javascript:alert(1)": "/",
	} {
		w := b.browser()
		_, body := w.get("/login?next=" + url.QueryEscape(next))
		if strings.Contains(body, "evil") {
			t.Errorf("the login page kept next=%q", next)
		}
		res, _ := w.post("/login", url.Values{"name": {"alice"}, "password": {testPassword}, "next": {next}})
		if got := res.Header.Get("Location"); got != want {
			t.Errorf("next=%q: redirected to %q, want %q", next, got, want)
		}
	}
}
