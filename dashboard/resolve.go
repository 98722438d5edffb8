package dashboard

import (
	"errors"
	"slices"

	"github.com/gofiber/fiber/v2"

	"github.com/aegirhq/aegir/internal/domain"
)

// The create bodies take references by id ("platform_id") or, for people
// typing requests by hand, by name ("platform"). These resolve either form
// to an id and report a bad reference as a 400 on the field that carried it.

func (s *Server) resolvePlatform(c *fiber.Ctx, field, id, name string) (string, error) {
	if name == "" {
		return checkID(field+"_id", id)
	}
	p, err := s.st.PlatformByName(c.UserContext(), name)
	if err != nil {
		return "", refError(field, err)
	}
	return agree(field, id, p.ID)
}

func (s *Server) resolveServer(c *fiber.Ctx, field, id, name string) (string, error) {
	if name == "" {
		return checkID(field+"_id", id)
	}
	srv, err := s.st.ServerByName(c.UserContext(), name)
	if err != nil {
		return "", refError(field, err)
	}
	return agree(field, id, srv.ID)
}

// resolveClient resolves the owner of a new site. A client user may name
// only their own clients, and one with a single client may leave it out.
func (s *Server) resolveClient(c *fiber.Ctx, id, name string) (string, error) {
	u := currentUser(c)
	if id == "" && name == "" && u != nil && u.Role == domain.RoleClient && len(u.ClientIDs) == 1 {
		return u.ClientIDs[0], nil
	}
	if name != "" {
		cl, err := s.st.ClientByName(c.UserContext(), name)
		if err != nil {
			return "", refError("client", err)
		}
		if !canSee(c, cl.ID) {
			return "", domain.Invalid("client", "client %q not found", name)
		}
		return agree("client", id, cl.ID)
	}
	if _, err := checkID("client_id", id); err != nil {
		return "", err
	}
	if u != nil && u.Role != domain.RoleAdmin && !slices.Contains(u.ClientIDs, id) {
		return "", domain.Invalid("client_id", "client %q not found", id)
	}
	return id, nil
}

func checkID(field, id string) (string, error) {
	if id == "" {
		return "", domain.Invalid(field, "is required (or give the name in %q)", field[:len(field)-3])
	}
	if !domain.ValidID(id) {
		return "", domain.Invalid(field, "%q is not an id", clipped(id))
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

func clipped(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
