package control

import (
	"context"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
)

// Audit reads the audit log: admins all of it, a client user the entries
// about their own clients' objects.
type Audit struct{ *base }

// List lists the entries matching f, newest first, within the actor's
// scope (f.ClientIDs is replaced by it). A client user sees the address
// of their own entries only: that of whoever else acted on their
// clients' objects (an admin, a colleague) is left out, as it says where
// that person was.
func (s *Audit) List(ctx context.Context, a Actor, f store.AuditFilter) (*store.AuditPage, error) {
	if a.User() == nil {
		return nil, domain.ErrForbidden
	}
	f.ClientIDs = a.Scope()
	p, err := s.st.ListAudit(ctx, f)
	if err != nil || a.Admin() {
		return p, err
	}
	for i := range p.Items {
		if p.Items[i].UserID != a.user.ID {
			p.Items[i].Address = ""
		}
	}
	return p, nil
}

// entry is the audit entry of an action of a.
func (a Actor) entry(action, kind, id, clientID string) *domain.AuditEntry {
	e := &domain.AuditEntry{Action: action, Kind: kind, ObjectID: id, ClientID: clientID, Address: a.addr}
	if a.user != nil {
		e.UserID, e.UserName = a.user.ID, a.user.Name
	}
	return e
}

// record returns ctx carrying the audit entry of an action on an object:
// the store writes it in the transaction of the change (store.WithAudit).
// fill, when not nil, completes it at commit time (the new object's id,
// the changed fields).
func (a Actor) record(ctx context.Context, action, kind, id, clientID string, fill func(*domain.AuditEntry)) context.Context {
	return store.WithAudit(ctx, a.entry(action, kind, id, clientID), fill)
}

// recordChange records an update of an object from before to after: the
// changed fields and their new values, secrets left out.
func (a Actor) recordChange(ctx context.Context, kind, id, clientID string, before, after any) context.Context {
	return a.record(ctx, "update", kind, id, clientID, func(e *domain.AuditEntry) {
		e.Fields = domain.AuditFields(before, after)
	})
}

// recordTask records a task request on an object.
func (a Actor) recordTask(ctx context.Context, kind, id, clientID string, typ domain.TaskType, args map[string]string) context.Context {
	fields := map[string]string{"type": string(typ)}
	for k, v := range args {
		if domain.AuditSecret(k) {
			v = "(secret)"
		}
		fields["args."+k] = v
	}
	return a.record(ctx, "request_task", kind, id, clientID, func(e *domain.AuditEntry) { e.Fields = fields })
}

// PasswordChange returns ctx carrying the audit entry of a's setting
// user's password (the value is never recorded), for the write that
// stores the new hash. Passwords are set by the dashboard, which hashes
// them.
func (s *Audit) PasswordChange(ctx context.Context, a Actor, user *domain.User) context.Context {
	return a.record(ctx, "update", "user", user.ID, "", func(e *domain.AuditEntry) {
		e.Fields = map[string]string{"password": "(secret)"}
	})
}

// EndSessions returns ctx carrying the audit entry of a's ending every
// dashboard session of user, for the write that deletes them.
func (s *Audit) EndSessions(ctx context.Context, a Actor, user *domain.User) context.Context {
	return a.record(ctx, "end_sessions", "user", user.ID, "", nil)
}

// Login records a login of user (nil: a name nobody has) from addr:
// success is written in the transaction that starts the session (use the
// returned context for it); a failure is written alone at once.
func (s *Audit) Login(ctx context.Context, user *domain.User, name, addr string, ok bool) (context.Context, error) {
	e := &domain.AuditEntry{Action: "login", Kind: "user", Address: addr, UserName: name}
	if user != nil {
		e.UserID, e.UserName, e.ObjectID = user.ID, user.Name, user.ID
	}
	if ok {
		return store.WithAudit(ctx, e, nil), nil
	}
	e.Action = "login_failed"
	return ctx, s.st.AppendAudit(ctx, e)
}

// Logout returns ctx carrying the audit entry of a's logout, for the
// write that ends the session.
func (s *Audit) Logout(ctx context.Context, a Actor) context.Context {
	id := ""
	if a.user != nil {
		id = a.user.ID
	}
	return a.record(ctx, "logout", "user", id, "", nil)
}
