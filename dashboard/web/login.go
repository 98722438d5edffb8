package web

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"

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
	if !localPath(next) {
		next = ""
	}
	v.Title = "Log in"
	return u.render(c, "login", v, loginView{Next: next})
}

// loginSubmit checks a name and password. Failures count against the name
// and the address; either over its limit refuses further tries (even
// right ones) until its window ends. Unknown names cost as much time as
// wrong passwords.
func (u *ui) loginSubmit(c *fiber.Ctx, v *view) error {
	ctx := c.UserContext()
	name := strings.TrimSpace(c.FormValue("name"))
	password := c.FormValue("password")
	next := c.FormValue("next")
	if !localPath(next) {
		next = "/"
	}
	back := "/login"
	if next != "/" {
		back += "?next=" + url.QueryEscape(next)
	}
	addr := c.IP()
	if len(name) > 64 {
		name = name[:64]
	}
	// Each attempt is counted before the password is checked and given
	// back if it succeeds: many guesses sent at once cannot all pass a
	// check made before any of them is counted.
	keys := []struct {
		kind LimitKind
		key  string
	}{{LimitAccount, strings.ToLower(name)}, {LimitAddress, addr}}
	for i, k := range keys {
		wait, err := u.limiter.Try(ctx, k.kind, k.key)
		if err == nil && wait == 0 {
			continue
		}
		for _, counted := range keys[:i] {
			_ = u.limiter.Refund(ctx, counted.kind, counted.key)
		}
		if err != nil {
			return err
		}
		u.log.Warn("login refused: too many failures", "kind", k.kind, "name", name, "addr", addr)
		u.setFlash(c, "error", fmt.Sprintf("Too many failed logins. Try again in %d minutes, or ask an admin to reset your password.",
			int(math.Ceil(wait.Minutes()))))
		return c.Redirect(back, fiber.StatusSeeOther)
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
	if !ok {
		u.log.Info("login failed", "name", name, "addr", addr)
		u.setFlash(c, "error", "Wrong name or password.")
		return c.Redirect(back, fiber.StatusSeeOther)
	}
	_ = u.limiter.Succeeded(ctx, LimitAccount, strings.ToLower(name))
	_ = u.limiter.Refund(ctx, LimitAddress, addr)
	u.startSession(c, user)
	u.log.Info("login", "user", user.Name, "addr", addr)
	return c.Redirect(next, fiber.StatusSeeOther)
}

func (u *ui) logout(c *fiber.Ctx, v *view) error {
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
	if err := SetPassword(ctx, u.st, cur, c.FormValue("password")); err != nil {
		return err
	}
	// The stamp changed: every other session of this user has ended; keep
	// this one.
	u.startSession(c, cur)
	return u.done(c, "/account", "Your password is changed. Other sessions were logged out.")
}
