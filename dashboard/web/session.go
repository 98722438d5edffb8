package web

import (
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
)

// Sessions live in signed cookies, not in the store: the cookie carries the
// user id, an expiry, a random nonce and a stamp of the user's password
// hash, under an HMAC-SHA256 with the server's session key. Changing a
// password changes the stamp and so ends every session of that user;
// deleting the user ends them too (the user is loaded on every request).
// The key is Config.SessionKey, or a random one per process, in which case
// a restart logs everyone out. See doc.go.
const (
	sessionCookie = "aegir_session"
	preCookie     = "aegir_pre" // CSRF seed before login
	flashCookie   = "aegir_flash"
	sessionTTL    = 12 * time.Hour
	csrfField     = "_csrf"
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

// session is the signed content of the session cookie.
type session struct {
	UserID  string `json:"u"`
	Expires int64  `json:"e"`
	Stamp   string `json:"s"`
	Nonce   string `json:"n"`
}

func passwordStamp(hash string) string {
	sum := sha256.Sum256([]byte("stamp\x00" + hash))
	return hex.EncodeToString(sum[:8])
}

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// loadSession returns the valid session and its user, or nils.
func (u *ui) loadSession(c *fiber.Ctx) (*session, *domain.User) {
	raw := c.Cookies(sessionCookie)
	if raw == "" {
		return nil, nil
	}
	payload, ok := u.keys.open("session", raw)
	if !ok {
		return nil, nil
	}
	var s session
	if json.Unmarshal(payload, &s) != nil || time.Now().Unix() > s.Expires || !domain.ValidID(s.UserID) {
		return nil, nil
	}
	user, err := u.st.GetUser(c.UserContext(), s.UserID)
	if err != nil || user.PasswordHash == "" || passwordStamp(user.PasswordHash) != s.Stamp {
		return nil, nil
	}
	return &s, user
}

func (u *ui) cookie(c *fiber.Ctx, name, value string, expires time.Time) {
	c.Cookie(&fiber.Cookie{
		Name: name, Value: value, Path: "/", Expires: expires,
		HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode,
		Secure: u.secure || c.Protocol() == "https",
	})
}

func (u *ui) startSession(c *fiber.Ctx, user *domain.User) {
	s := session{UserID: user.ID, Expires: time.Now().Add(sessionTTL).Unix(), Stamp: passwordStamp(user.PasswordHash), Nonce: randomToken(16)}
	b, _ := json.Marshal(s)
	u.cookie(c, sessionCookie, u.keys.sign("session", b), time.Unix(s.Expires, 0))
	u.cookie(c, preCookie, "", time.Unix(1, 0))
}

func (u *ui) endSession(c *fiber.Ctx) {
	u.cookie(c, sessionCookie, "", time.Unix(1, 0))
}

// csrfToken is the token forms carry: an HMAC of the session's nonce, or,
// before login, of a random pre-session cookie (set here when missing).
func (u *ui) csrfToken(c *fiber.Ctx, s *session) string {
	seed := ""
	if s != nil {
		seed = "s:" + s.Nonce
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
func (u *ui) checkCSRF(c *fiber.Ctx, s *session) bool {
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
