package dashboard

import (
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/aegirhq/aegir/internal/domain"
)

// clientCreate is the body of POST /clients.
type clientCreate struct {
	Name  string `json:"name"`
	Title string `json:"title,omitempty"`
	Email string `json:"email,omitempty"`
}

func (s *Server) listClients(c *fiber.Ctx) error {
	all, err := s.st.ListClients(c.UserContext())
	if err != nil {
		return err
	}
	out := all[:0]
	for _, cl := range all {
		if canSee(c, cl.ID) {
			out = append(out, cl)
		}
	}
	slices.SortFunc(out, func(a, b domain.Client) int { return strings.Compare(a.Name, b.Name) })
	return paginate(c, out)
}

func (s *Server) createClient(c *fiber.Ctx) error {
	var req clientCreate
	if err := s.decode(c, &req); err != nil {
		return err
	}
	cl := &domain.Client{Name: req.Name, Title: req.Title, Email: req.Email}
	if err := s.st.CreateClient(c.UserContext(), cl); err != nil {
		return err
	}
	return created(c, "client", cl, nil)
}

func (s *Server) clientParam(c *fiber.Ctx) (*domain.Client, error) {
	id := idParam(c)
	cl, err := s.st.GetClient(c.UserContext(), id)
	if err != nil {
		return nil, err
	}
	if !canSee(c, cl.ID) {
		return nil, domain.NotFound("client", id)
	}
	return cl, nil
}

func (s *Server) getClient(c *fiber.Ctx) error {
	cl, err := s.clientParam(c)
	if err != nil {
		return err
	}
	return c.JSON(cl)
}

func (s *Server) updateClient(c *fiber.Ctx) error {
	old, err := s.clientParam(c)
	if err != nil {
		return err
	}
	var cl domain.Client
	if err := s.decode(c, &cl); err != nil {
		return err
	}
	if cl.ID != "" && cl.ID != old.ID {
		return domain.Invalid("id", "does not match the client in the URL")
	}
	if err := needVersion(cl.Version); err != nil {
		return err
	}
	cl.ID = old.ID
	if err := s.st.UpdateClient(c.UserContext(), &cl); err != nil {
		return err
	}
	return c.JSON(cl)
}

func (s *Server) deleteClient(c *fiber.Ctx) error {
	cl, err := s.clientParam(c)
	if err != nil {
		return err
	}
	v, err := queryVersion(c)
	if err != nil {
		return err
	}
	if err := s.st.DeleteClient(c.UserContext(), cl.ID, v); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
