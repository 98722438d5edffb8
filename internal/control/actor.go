package control

import (
	"github.com/aegirhq/aegir/internal/domain"
)

// Actor is who acts: the authenticated user of a request, or nobody (the
// zero Actor) on public routes, who may see nothing scoped.
type Actor struct {
	user *domain.User
	// addr is where the request came from, for the audit log.
	addr string
}

// As returns the Actor for u (nil: nobody).
func As(u *domain.User) Actor { return Actor{user: u} }

// From returns the actor acting from the client address addr, as the
// transport resolved it (the audit log records it).
func (a Actor) From(addr string) Actor {
	a.addr = addr
	return a
}

// Addr is the actor's client address, or "".
func (a Actor) Addr() string { return a.addr }

// User is the acting user, or nil.
func (a Actor) User() *domain.User { return a.user }

// Admin reports whether the actor is an admin.
func (a Actor) Admin() bool { return a.user != nil && a.user.Role == domain.RoleAdmin }

// Name names the actor in tasks' requested_by.
func (a Actor) Name() string {
	if a.user == nil {
		return ""
	}
	return a.user.Name
}

// Scope is the ClientIDs restriction for store filters: nil for an admin
// (everything), the actor's clients (possibly none) otherwise.
func (a Actor) Scope() []string {
	if a.Admin() {
		return nil
	}
	if a.user == nil || a.user.ClientIDs == nil {
		return []string{}
	}
	return a.user.ClientIDs
}

// CanSee reports whether the actor may see what belongs to clientID.
func (a Actor) CanSee(clientID string) bool {
	return a.user != nil && a.user.CanSeeClient(clientID)
}

// visible is the client-scope check: what belongs to clientID and was
// asked for as ref is not found to an actor who may not see it.
func (a Actor) visible(kind, ref, clientID string) error {
	if !a.CanSee(clientID) {
		return domain.NotFound(kind, ref)
	}
	return nil
}

// ownClient checks a client reference in a request body (a site's owner):
// one the actor may not see is reported as not found on field.
func (a Actor) ownClient(field, id string) error {
	if !a.CanSee(id) {
		return domain.Invalid(field, "client %q not found", id)
	}
	return nil
}

// admin refuses an action only admins may take ("create clients") on
// something the actor can see anyway.
func (a Actor) admin(action string) error {
	if !a.Admin() {
		return AdminOnly(action)
	}
	return nil
}

// adminEntity reports an admin-only entity as not found to anyone else,
// whether or not it exists, so nothing about it leaks.
func (a Actor) adminEntity(kind, ref string) error {
	if !a.Admin() {
		return domain.NotFound(kind, ref)
	}
	return nil
}

// AdminOnly is the refusal of an action only admins may take: "only
// admins can <action>", wrapping domain.ErrForbidden.
func AdminOnly(action string) error {
	return refuse(domain.ErrForbidden, "only admins can %s", action)
}
