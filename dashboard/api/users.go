package api

import (
	"github.com/gofiber/fiber/v2"

	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/control"
)

func (s *Server) whoami(c *fiber.Ctx) error {
	return c.JSON(control.Public(CurrentUser(c)))
}

func (s *Server) listUsers(c *fiber.Ctx) error {
	all, err := s.ctl.Users.List(c.UserContext(), actor(c))
	if err != nil {
		return err
	}
	return paginate(c, all)
}

func (s *Server) createUser(c *fiber.Ctx) error {
	var req apiv1.UserCreate
	if err := s.decode(c, &req); err != nil {
		return err
	}
	hash, err := s.passwordHash(&req)
	if err != nil {
		return err
	}
	u, err := s.ctl.Users.Create(c.UserContext(), actor(c), req, hash)
	if err != nil {
		return err
	}
	return created(c, "user", control.Public(u), nil)
}

func (s *Server) getUser(c *fiber.Ctx) error {
	u, err := s.ctl.Users.Get(c.UserContext(), actor(c), idParam(c))
	if err != nil {
		return err
	}
	return c.JSON(control.Public(u))
}

func (s *Server) updateUser(c *fiber.Ctx) error {
	// Look first, so an unknown user is 404 whatever the body.
	if _, err := s.ctl.Users.Get(c.UserContext(), actor(c), idParam(c)); err != nil {
		return err
	}
	var req apiv1.UserUpdate
	if err := s.decode(c, &req); err != nil {
		return err
	}
	u, err := s.ctl.Users.Update(c.UserContext(), actor(c), idParam(c), req)
	if err != nil {
		return err
	}
	return c.JSON(control.Public(u))
}

func (s *Server) deleteUser(c *fiber.Ctx) error {
	v, err := queryVersion(c)
	if err != nil {
		return err
	}
	if err := s.ctl.Users.Delete(c.UserContext(), actor(c), idParam(c), v); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// passwordHash hashes the password of a user create, if it has one, and
// clears it from the request.
func (s *Server) passwordHash(req *apiv1.UserCreate) (string, error) {
	if req.Password == "" {
		return "", nil
	}
	pw := req.Password
	req.Password = ""
	if s.cfg.HashPassword == nil {
		return "", control.Unavailable("setting passwords (this server has no dashboard)")
	}
	return s.cfg.HashPassword(pw)
}
