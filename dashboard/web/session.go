package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
)

// Sessions live in the store (store.Session under sessions/<hash>): the
// cookie carries only a random 256-bit secret, which the store keeps as
// its SHA-256. So logout, a password or role change, an admin's "end all
// sessions" and the user's deletion end a session at once, on every
// server. A session ends after Config.SessionIdle without a request and
// Config.SessionMax after login. Its record also holds a stamp of the
// user's password hash and role, checked on every request, so a session
// created while either changed is refused even if its record survived.
// Last-seen is written at most once a minute per session. Expired records
// are removed when presented and by a sweep at most every few minutes
// (started by a login). CSRF and flash cookies stay HMAC-signed with
// Config.SessionKey. See doc.go.
const (
	sessionCookie = "aegir_session"
	preCookie     = "aegir_pre" // CSRF seed before login
	flashCookie   = "aegir_flash"
	csrfField     = "_csrf"
	// touchEvery is how stale a session's last-seen may get before a
	// request writes it.
	touchEvery = time.Minute
	// sweepEvery is how often a login starts a sweep of expired sessions.
	sweepEvery = 5 * time.Minute
)

type sessionKeys struct{ mac []byte }

func newSessionKeys(key []byte) (*sessionKeys, error) {
	if len(key) == 0 {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
	}
	if len(key) < 32 {
		return nil, errors.New("dashboard: Config.SessionKey must be at least 32 bytes")
	}
	return &sessionKeys{mac: key}, nil
}

func (k *sessionKeys) sign(purpose string, payload []byte) string {
	m := hmac.New(sha256.New, k.mac)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write(payload)
	return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (k *sessionKeys) open(purpose, v string) ([]byte, bool) {
	p, sig, ok := strings.Cut(v, ".")
	if !ok {
		return nil, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return nil, false
	}
	want := k.sign(purpose, payload)
	_, wantSig, _ := strings.Cut(want, ".")
	if subtle.ConstantTimeCompare([]byte(sig), []byte(wantSig)) != 1 {
		return nil, false
	}
	return payload, true
}

// sessionStamp is the digest of what a session was granted on: the
// user's password hash and role.
func sessionStamp(u *domain.User) string {
	sum := sha256.Sum256([]byte("stamp\x00" + u.PasswordHash + "\x00" + string(u.Role)))
	return hex.EncodeToString(sum[:8])
}

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// loadSession returns the valid session and its user, or nils. It ends
// an expired session, and records the time of use at most once a minute.
func (u *ui) loadSession(c *fiber.Ctx) (*store.Session, *domain.User) {
	raw := c.Cookies(sessionCookie)
	if raw == "" {
		return nil, nil
	}
	ctx := c.UserContext()
	sess, err := u.st.SessionBySecret(ctx, raw)
	if err != nil {
		if !errors.Is(err, domain.ErrUnauthorized) {
			u.log.Warn("read a session", "err", err)
		}
		return nil, nil
	}
	now := time.Now()
	if sess.Expired(now, u.sessionIdle, u.sessionMax) {
		_ = u.st.DeleteSession(ctx, sess.ID)
		return nil, nil
	}
	user, err := u.st.GetUser(ctx, sess.UserID)
	if err != nil || user.PasswordHash == "" || subtle.ConstantTimeCompare([]byte(sessionStamp(user)), []byte(sess.Stamp)) != 1 {
		if errors.Is(err, domain.ErrNotFound) || err == nil {
			_ = u.st.DeleteSession(ctx, sess.ID)
		}
		return nil, nil
	}
	if now.Sub(sess.LastSeen) >= touchEvery {
		if err := u.st.TouchSession(ctx, sess, now); err != nil {
			u.log.Warn("record a session's use", "err", err)
		}
	}
	return sess, user
}

func (u *ui) cookie(c *fiber.Ctx, name, value string, expires time.Time) {
	c.Cookie(&fiber.Cookie{
		Name: name, Value: value, Path: "/", Expires: expires,
		HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode,
		Secure: u.secure || c.Protocol() == "https",
	})
}

// startSession logs user in: a new session record and its cookie. The
// session the browser had before, if any, ends (a new id at every login).
// When the store fails the browser is left logged out, and the error
// logged.
func (u *ui) startSession(c *fiber.Ctx, user *domain.User) {
	ctx := c.UserContext()
	if old := c.Cookies(sessionCookie); old != "" {
		if s, err := u.st.SessionBySecret(ctx, old); err == nil {
			_ = u.st.DeleteSession(ctx, s.ID)
		}
	}
	sess, secret, err := u.st.CreateSession(ctx, store.Session{UserID: user.ID, Stamp: sessionStamp(user),
		Address: u.clientAddr(c), UserAgent: c.Get(fiber.HeaderUserAgent)})
	if err != nil {
		u.log.Error("start a session", "user", user.Name, "err", err)
		u.endSession(c)
		return
	}
	u.cookie(c, sessionCookie, secret, sess.CreatedAt.Add(u.sessionMax))
	u.cookie(c, preCookie, "", time.Unix(1, 0))
	u.maybeSweep()
}

// endSession ends the browser's session, in the store and its cookie.
func (u *ui) endSession(c *fiber.Ctx) {
	if raw := c.Cookies(sessionCookie); raw != "" {
		if s, err := u.st.SessionBySecret(c.UserContext(), raw); err == nil {
			if err := u.st.DeleteSession(c.UserContext(), s.ID); err != nil {
				u.log.Error("end a session", "err", err)
			}
		}
	}
	u.cookie(c, sessionCookie, "", time.Unix(1, 0))
}

// maybeSweep removes expired sessions in the background, at most once per
// sweepEvery per process.
func (u *ui) maybeSweep() {
	now := time.Now().UnixNano()
	last := u.swept.Load()
	if now-last < int64(sweepEvery) || !u.swept.CompareAndSwap(last, now) {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		n, err := u.st.SweepSessions(ctx, u.sessionIdle, u.sessionMax)
		if err != nil {
			u.log.Warn("sweep expired sessions", "err", err)
			return
		}
		if n > 0 {
			u.log.Debug("swept expired sessions", "count", n)
		}
	}()
}

// csrfToken is the token forms carry: an HMAC of the session's id, or,
// before login, of a random pre-session cookie (set here when missing).
func (u *ui) csrfToken(c *fiber.Ctx, s *store.Session) string {
	seed := ""
	if s != nil {
		seed = "s:" + s.ID
	} else {
		pre := c.Cookies(preCookie)
		if len(pre) < 16 || len(pre) > 64 {
			pre = randomToken(16)
			u.cookie(c, preCookie, pre, time.Time{})
			// Let this request's checks see the new seed.
			c.Request().Header.SetCookie(preCookie, pre)
		}
		seed = "p:" + pre
	}
	return u.keys.sign("csrf", []byte(seed))[len(base64.RawURLEncoding.EncodeToString([]byte(seed)))+1:]
}

// checkCSRF checks a POST's token (form field _csrf or header X-CSRF-Token)
// and, when the browser sent one, that the Origin is this site.
func (u *ui) checkCSRF(c *fiber.Ctx, s *store.Session) bool {
	if o := c.Get(fiber.HeaderOrigin); o != "" && o != "null" {
		ou, err := url.Parse(o)
		if err != nil || ou.Host != string(c.Request().Host()) {
			return false
		}
	}
	got := c.FormValue(csrfField)
	if got == "" {
		got = c.Get("X-CSRF-Token")
	}
	if got == "" {
		return false
	}
	if s == nil && c.Cookies(preCookie) == "" {
		return false
	}
	want := u.csrfToken(c, s)
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// flash is a one-time message shown on the next page.
type flash struct {
	Kind    string // ok, error
	Message string
}

func (u *ui) setFlash(c *fiber.Ctx, kind, msg string) {
	if len(msg) > 600 {
		msg = msg[:600] + "…"
	}
	b, _ := json.Marshal(flash{Kind: kind, Message: msg})
	u.cookie(c, flashCookie, u.keys.sign("flash", b), time.Now().Add(time.Minute))
}

func (u *ui) takeFlash(c *fiber.Ctx) *flash {
	raw := c.Cookies(flashCookie)
	if raw == "" {
		return nil
	}
	u.cookie(c, flashCookie, "", time.Unix(1, 0))
	payload, ok := u.keys.open("flash", raw)
	if !ok {
		return nil
	}
	var f flash
	if json.Unmarshal(payload, &f) != nil {
		return nil
	}
	return &f
}
