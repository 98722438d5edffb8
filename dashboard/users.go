package dashboard

import (
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/aegirhq/aegir/internal/domain"
)

// userCreate is the body of POST /users.
type userCreate struct {
	Name      string   `json:"name"`
	Email     string   `json:"email,omitempty"`
	Role      string   `json:"role"`
	ClientIDs []string `json:"client_ids,omitempty"`
}

// publicUser clears what never leaves the server.
func publicUser(u *domain.User) *domain.User {
	cp := *u
	cp.PasswordHash = ""
	return &cp
}

func (s *Server) whoami(c *fiber.Ctx) error {
	return c.JSON(publicUser(currentUser(c)))
}

func (s *Server) listUsers(c *fiber.Ctx) error {
	all, err := s.st.ListUsers(c.UserContext())
	if err != nil {
		return err
	}
	out := make([]domain.User, len(all))
	for i := range all {
		out[i] = *publicUser(&all[i])
	}
	slices.SortFunc(out, func(a, b domain.User) int { return strings.Compare(a.Name, b.Name) })
	return paginate(c, out)
}

func (s *Server) createUser(c *fiber.Ctx) error {
	var req userCreate
	if err := s.decode(c, &req); err != nil {
		return err
	}
	u := &domain.User{Name: req.Name, Email: req.Email, Role: domain.Role(req.Role), ClientIDs: req.ClientIDs}
	if err := s.st.CreateUser(c.UserContext(), u); err != nil {
		return err
	}
	return created(c, "user", publicUser(u), nil)
}

func (s *Server) getUser(c *fiber.Ctx) error {
	u, err := s.st.GetUser(c.UserContext(), idParam(c))
	if err != nil {
		return err
	}
	return c.JSON(publicUser(u))
}

// userUpdate is the body of PUT /users/{id}: a user as GET returns it.
type userUpdate struct {
	ID        string   `json:"id,omitempty"`
	Name      string   `json:"name"`
	Email     string   `json:"email,omitempty"`
	Role      string   `json:"role"`
	ClientIDs []string `json:"client_ids,omitempty"`
	CreatedAt any      `json:"created_at,omitempty"`
	UpdatedAt any      `json:"updated_at,omitempty"`
	Version   uint64   `json:"version"`
}

func (s *Server) updateUser(c *fiber.Ctx) error {
	old, err := s.st.GetUser(c.UserContext(), idParam(c))
	if err != nil {
		return err
	}
	var req userUpdate
	if err := s.decode(c, &req); err != nil {
		return err
	}
	if req.ID != "" && req.ID != old.ID {
		return domain.Invalid("id", "does not match the user in the URL")
	}
	if err := needVersion(req.Version); err != nil {
		return err
	}
	for _, id := range req.ClientIDs {
		if _, err := s.st.GetClient(c.UserContext(), id); err != nil {
			return domain.Invalid("client_ids", "%v", err)
		}
	}
	// The password hash is not part of the API: keep the stored one.
	u := &domain.User{
		ID: old.ID, Name: req.Name, Email: req.Email, Role: domain.Role(req.Role), ClientIDs: req.ClientIDs,
		PasswordHash: old.PasswordHash, Version: req.Version,
	}
	if err := s.st.UpdateUser(c.UserContext(), u); err != nil {
		return err
	}
	return c.JSON(publicUser(u))
}

func (s *Server) deleteUser(c *fiber.Ctx) error {
	v, err := queryVersion(c)
	if err != nil {
		return err
	}
	id := idParam(c)
	if u := currentUser(c); u.ID == id {
		return newAPIError(fiber.StatusConflict, CodeConflict, "", "you cannot delete yourself; ask another admin")
	}
	if err := s.st.DeleteUser(c.UserContext(), id, v); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
