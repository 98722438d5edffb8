package web

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/aegirhq/aegir/internal/domain"
)

type loginView struct {
	Next string
	Name string
}

func (u *ui) loginPage(c *fiber.Ctx, v *view) error {
	if v.User != nil {
		return c.Redirect("/", fiber.StatusSeeOther)
	}
	next := c.Query("next")
	if !localPath(next) || next == "/" {
		next = ""
	}
	v.Title = "Log in"
	return u.render(c, "login", v, loginView{Next: next})
}

// loginSubmit checks a name and password, with limits that slow guessing
// down without letting anyone lock an account's owner out:
//
//   - per (address, account) pair: PairMax failures (default 5) in the
//     window refuse that account from that address until the window ends.
//     The owner logging in from anywhere else is not affected.
//   - per account: after 3 failures in the window each further try waits
//     Config.LoginDelay (1s), doubling per failure up to 16 times that,
//     before the password is checked; the right password still gets in.
//   - per address: after 20 failures in the window (any accounts) tries
//     from it wait in the same way; never refused.
//
// The address is clientAddr's: X-Forwarded-For counts only through a
// trusted proxy, so a forged header cannot pick someone else's address,
// and an admin behind the same proxy as an attacker has an address of
// their own. Unknown names cost as much time as wrong passwords.
func (u *ui) loginSubmit(c *fiber.Ctx, v *view) error {
	ctx := c.UserContext()
	name := strings.TrimSpace(c.FormValue("name"))
	password := c.FormValue("password")
	next := redirectTarget(c.FormValue("next"))
	back := "/login"
	if next != "/" {
		back += "?next=" + url.QueryEscape(next)
	}
	addr := u.clientAddr(c)
	if len(name) > 64 {
		name = name[:64]
	}
	account := strings.ToLower(name)
	pair := PairKey(addr, account)
	// Each attempt is counted before the password is checked and given
	// back if it succeeds: many guesses sent at once cannot all pass a
	// check made before any of them is counted.
	wait, err := u.limiter.Try(ctx, LimitPair, pair)
	if err != nil {
		return err
	}
	if wait > 0 {
		u.log.Warn("login refused: too many failures for this account from this address", "name", name, "addr", addr)
		u.setFlash(c, "error", fmt.Sprintf("Too many failed logins for this account from your address. Try again in %d minutes, or ask an admin to reset your password.",
			int(math.Ceil(wait.Minutes()))))
		return c.Redirect(back, fiber.StatusSeeOther)
	}
	nAccount, err := u.limiter.Count(ctx, LimitAccount, account)
	if err != nil {
		return err
	}
	nAddress, err := u.limiter.Count(ctx, LimitAddress, addr)
	if err != nil {
		return err
	}
	if d := loginDelay(u.loginDelay, nAccount, nAddress); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	user, err := u.st.UserByName(ctx, name)
	if err != nil && !errors.Is(err, domain.ErrNotFound) {
		return err
	}
	ok := false
	if user != nil && user.PasswordHash != "" {
		ok = VerifyPassword(user.PasswordHash, password)
	} else {
		VerifyPassword(dummyHash, password)
	}
	// The audit log: a failure is written now, alone; a success with
	// the session it starts.
	actx, err := u.ctl.Audit.Login(ctx, user, name, addr, ok)
	if err != nil {
		u.log.Error("audit a login", "name", name, "err", err)
	}
	if !ok {
		u.log.Info("login failed", "name", name, "addr", addr)
		u.setFlash(c, "error", "Wrong name or password.")
		return c.Redirect(back, fiber.StatusSeeOther)
	}
	_ = u.limiter.Succeeded(ctx, LimitAccount, account)
	_ = u.limiter.Succeeded(ctx, LimitPair, pair)
	_ = u.limiter.Refund(ctx, LimitAddress, addr)
	c.SetUserContext(actx)
	u.startSession(c, user)
	u.log.Info("login", "user", user.Name, "addr", addr)
	return c.Redirect(next, fiber.StatusSeeOther)
}

// Failures before a login is slowed down: per account, per address.
const (
	accountFreeFailures = 3
	addressFreeFailures = 20
)

// loginDelay is how long a login waits before its password is checked,
// given the failures its account and its address had before it: base,
// doubling per failure beyond the free ones, at most 16 × base.
func loginDelay(base time.Duration, account, address int) time.Duration {
	grow := func(n, free int) time.Duration {
		if n < free {
			return 0
		}
		return base << min(n-free, 4)
	}
	return max(grow(account, accountFreeFailures), grow(address, addressFreeFailures))
}

func (u *ui) logout(c *fiber.Ctx, v *view) error {
	c.SetUserContext(u.ctl.Audit.Logout(c.UserContext(), actor(c)))
	u.endSession(c)
	return u.done(c, "/login", "You are logged out.")
}

func (u *ui) accountPage(c *fiber.Ctx, v *view) error {
	v.Title, v.Nav = "Your account", "account"
	return u.render(c, "account", v, nil)
}

func (u *ui) passwordChange(c *fiber.Ctx, v *view) error {
	ctx := c.UserContext()
	cur, err := u.st.GetUser(ctx, v.User.ID)
	if err != nil {
		return err
	}
	if !VerifyPassword(cur.PasswordHash, c.FormValue("current")) {
		return domain.Invalid("current", "is not your current password")
	}
	if c.FormValue("password") != c.FormValue("confirm") {
		return domain.Invalid("confirm", "the two new passwords differ")
	}
	if err := SetPassword(u.ctl.Audit.PasswordChange(ctx, actor(c), cur), u.st, cur, c.FormValue("password")); err != nil {
		return err
	}
	// The stamp changed: every other session of this user has ended; keep
	// this one.
	u.startSession(c, cur)
	return u.done(c, "/account", "Your password is changed. Other sessions were logged out.")
}
