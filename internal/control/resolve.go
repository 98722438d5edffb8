package control

import (
	"context"
	"errors"

	"github.com/aegirhq/aegir/internal/domain"
)

// Requests take references by id ("platform_id") or, for people typing
// requests by hand, by name ("platform"). These resolve either form to an
// id and report a bad reference as invalid on the field that carried it.

func (b *base) resolvePlatform(ctx context.Context, field, id, name string) (string, error) {
	if name == "" {
		return checkID(field+"_id", id)
	}
	p, err := b.st.PlatformByName(ctx, name)
	if err != nil {
		return "", refError(field, err)
	}
	return agree(field, id, p.ID)
}

func (b *base) resolveServer(ctx context.Context, field, id, name string) (string, error) {
	if name == "" {
		return checkID(field+"_id", id)
	}
	srv, err := b.st.ServerByName(ctx, name)
	if err != nil {
		return "", refError(field, err)
	}
	return agree(field, id, srv.ID)
}

// resolveClient resolves the owner of a new site. A client user may name
// only their own clients, and one with a single client may leave it out;
// so may an admin when there is one client (a fresh aegir's "default").
func (b *base) resolveClient(ctx context.Context, a Actor, id, name string) (string, error) {
	if u := a.User(); id == "" && name == "" && u != nil && u.Role == domain.RoleClient && len(u.ClientIDs) == 1 {
		return u.ClientIDs[0], nil
	}
	if id == "" && name == "" && (a.User() == nil || a.Admin()) {
		// The only client there is (a fresh aegir has "default"): an
		// admin need not name it.
		cls, err := b.st.ListClients(ctx)
		if err != nil {
			return "", err
		}
		if len(cls) == 1 {
			return cls[0].ID, nil
		}
		return "", domain.Invalid("client_id", "is required: there are %d clients (or give the name in \"client\")", len(cls))
	}
	if name != "" {
		cl, err := b.st.ClientByName(ctx, name)
		if err != nil {
			return "", refError("client", err)
		}
		if !a.CanSee(cl.ID) {
			return "", domain.Invalid("client", "client %q not found", name)
		}
		return agree("client", id, cl.ID)
	}
	if _, err := checkID("client_id", id); err != nil {
		return "", err
	}
	if a.User() != nil {
		if err := a.ownClient("client_id", id); err != nil {
			return "", err
		}
	}
	return id, nil
}

func checkID(field, id string) (string, error) {
	if id == "" {
		return "", domain.Invalid(field, "is required (or give the name in %q)", field[:len(field)-3])
	}
	if !domain.ValidID(id) {
		return "", domain.Invalid(field, "%q is not an id", Clip(id))
	}
	return id, nil
}

func agree(field, id, resolved string) (string, error) {
	if id != "" && id != resolved {
		return "", domain.Invalid(field, "%s_id and %s name different things; give one of them", field, field)
	}
	return resolved, nil
}

func refError(field string, err error) error {
	if errors.Is(err, domain.ErrNotFound) {
		return domain.Invalid(field, "%v", err)
	}
	return err
}

// Clip shortens what a client sent for quoting in a message.
func Clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// needVersion checks that an update carries the version it was based on.
func needVersion(v uint64) error {
	if v == 0 {
		return domain.Invalid("version", "is required; send the version you read, so nobody's change is lost")
	}
	return nil
}
