package api

import (
	"github.com/gofiber/fiber/v2"

	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/control"
	"github.com/aegirhq/aegir/internal/domain"
)

func (s *Server) listServices(c *fiber.Ctx) error {
	all, err := s.ctl.Services.List(c.UserContext(), actor(c), c.Query("server_id"))
	if err != nil {
		return err
	}
	return paginate(c, all)
}

func (s *Server) createService(c *fiber.Ctx) error {
	var req apiv1.ServiceCreate
	if err := s.decode(c, &req); err != nil {
		return err
	}
	svc, err := s.ctl.Services.Create(c.UserContext(), actor(c), req)
	if err != nil {
		return err
	}
	return created(c, "service", svc, nil)
}

func (s *Server) getService(c *fiber.Ctx) error {
	svc, err := s.ctl.Services.Get(c.UserContext(), actor(c), idParam(c))
	if err != nil {
		return err
	}
	return c.JSON(svc)
}

func (s *Server) updateService(c *fiber.Ctx) error {
	var svc domain.Service
	if err := s.decode(c, &svc); err != nil {
		return err
	}
	if err := s.ctl.Services.Update(c.UserContext(), actor(c), idParam(c), &svc); err != nil {
		return err
	}
	return c.JSON(svc)
}

func (s *Server) deleteService(c *fiber.Ctx) error {
	v, err := queryVersion(c)
	if err != nil {
		return err
	}
	if err := s.ctl.Services.Delete(c.UserContext(), actor(c), idParam(c), v); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// putCredentials hands a database service's admin credentials to the
// secrets backend; they are never echoed.
func (s *Server) putCredentials(c *fiber.Ctx) error {
	if s.cfg.Secrets == nil {
		return control.Unavailable("the secrets backend")
	}
	// Look first, so an unknown service is 404 whatever the body.
	if _, err := s.ctl.Services.Get(c.UserContext(), actor(c), idParam(c)); err != nil {
		return err
	}
	var req apiv1.Credentials
	if err := s.decode(c, &req); err != nil {
		return err
	}
	if err := s.ctl.Services.PutCredentials(c.UserContext(), actor(c), idParam(c), req); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
