package web

import (
	"slices"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
)

// sessionsView is the sessions page of a user: their live dashboard
// sessions, newest use first, and a button that ends them all.
type sessionsView struct {
	Owner   *domain.User
	Own     bool // the viewer's own sessions (/account/sessions)
	Action  string
	Back    string
	Current string // the id of the viewer's session
	Items   []store.Session
}

func (u *ui) sessionsData(c *fiber.Ctx, v *view, owner *domain.User) (sessionsView, error) {
	all, err := u.st.ListSessions(c.UserContext(), owner.ID)
	if err != nil {
		return sessionsView{}, err
	}
	now := time.Now()
	live := all[:0]
	for _, s := range all {
		if !s.Expired(now, u.sessionIdle, u.sessionMax) && s.Stamp == sessionStamp(owner) {
			live = append(live, s)
		}
	}
	slices.SortFunc(live, func(a, b store.Session) int { return b.LastSeen.Compare(a.LastSeen) })
	d := sessionsView{Owner: owner, Items: live}
	if sess, _ := u.loadSession(c); sess != nil {
		d.Current = sess.ID
	}
	return d, nil
}

// userSessionsPage lists a user's sessions for an admin.
func (u *ui) userSessionsPage(c *fiber.Ctx, v *view) error {
	owner, err := u.ctl.Users.Get(c.UserContext(), actor(c), idParam(c))
	if err != nil {
		return err
	}
	d, err := u.sessionsData(c, v, owner)
	if err != nil {
		return err
	}
	d.Action, d.Back = "/users/"+owner.ID+"/sessions/end", "/users/"+owner.ID
	v.Title, v.Nav = "Sessions of "+owner.Name, "users"
	return u.render(c, "sessions", v, d)
}

// userSessionsEnd ends every session of a user (an admin's button).
func (u *ui) userSessionsEnd(c *fiber.Ctx, v *view) error {
	owner, err := u.ctl.Users.Get(c.UserContext(), actor(c), idParam(c))
	if err != nil {
		return err
	}
	n, err := u.st.DeleteUserSessions(u.ctl.Audit.EndSessions(c.UserContext(), actor(c), owner), owner.ID)
	if err != nil {
		return err
	}
	u.log.Info("ended all sessions of a user", "user", owner.Name, "by", v.User.Name, "count", n)
	if owner.ID == v.User.ID {
		u.endSession(c)
		return u.done(c, "/login", "All your sessions ended, this one too.")
	}
	return u.done(c, "/users/"+owner.ID+"/sessions", "All %d sessions of %s ended.", n, owner.Name)
}

// ownSessionsPage lists the viewer's own sessions.
func (u *ui) ownSessionsPage(c *fiber.Ctx, v *view) error {
	d, err := u.sessionsData(c, v, v.User)
	if err != nil {
		return err
	}
	d.Own, d.Action, d.Back = true, "/account/sessions/end", "/account"
	v.Title, v.Nav = "Your sessions", "account"
	return u.render(c, "sessions", v, d)
}

// ownSessionsEnd logs the viewer out everywhere, here too.
func (u *ui) ownSessionsEnd(c *fiber.Ctx, v *view) error {
	if _, err := u.st.DeleteUserSessions(u.ctl.Audit.EndSessions(c.UserContext(), actor(c), v.User), v.User.ID); err != nil {
		return err
	}
	u.endSession(c)
	return u.done(c, "/login", "You are logged out everywhere.")
}
