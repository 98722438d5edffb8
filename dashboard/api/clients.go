package api

import (
	"github.com/gofiber/fiber/v2"

	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/domain"
)

func (s *Server) listClients(c *fiber.Ctx) error {
	all, err := s.ctl.Clients.List(c.UserContext(), actor(c))
	if err != nil {
		return err
	}
	return paginate(c, all)
}

func (s *Server) createClient(c *fiber.Ctx) error {
	var req apiv1.ClientCreate
	if err := s.decode(c, &req); err != nil {
		return err
	}
	cl, err := s.ctl.Clients.Create(c.UserContext(), actor(c), req)
	if err != nil {
		return err
	}
	return created(c, "client", cl, nil)
}

func (s *Server) getClient(c *fiber.Ctx) error {
	cl, err := s.ctl.Clients.Get(c.UserContext(), actor(c), idParam(c))
	if err != nil {
		return err
	}
	return c.JSON(cl)
}

func (s *Server) getClientQuota(c *fiber.Ctx) error {
	q, err := s.ctl.Clients.Quota(c.UserContext(), actor(c), idParam(c))
	if err != nil {
		return err
	}
	return c.JSON(q)
}

func (s *Server) getQuotaDefaults(c *fiber.Ctx) error {
	d, err := s.ctl.Clients.Defaults(c.UserContext(), actor(c))
	if err != nil {
		return err
	}
	return c.JSON(d)
}

func (s *Server) setQuotaDefaults(c *fiber.Ctx) error {
	var req apiv1.QuotaDefaultsUpdate
	if err := s.decode(c, &req); err != nil {
		return err
	}
	d, err := s.ctl.Clients.SetDefaults(c.UserContext(), actor(c), req)
	if err != nil {
		return err
	}
	return c.JSON(d)
}

func (s *Server) updateClient(c *fiber.Ctx) error {
	// Look first, so a client the user may not see is 404 whatever the body.
	if _, err := s.ctl.Clients.Get(c.UserContext(), actor(c), idParam(c)); err != nil {
		return err
	}
	var cl domain.Client
	if err := s.decode(c, &cl); err != nil {
		return err
	}
	if err := s.ctl.Clients.Update(c.UserContext(), actor(c), idParam(c), &cl); err != nil {
		return err
	}
	return c.JSON(cl)
}

func (s *Server) deleteClient(c *fiber.Ctx) error {
	if _, err := s.ctl.Clients.Get(c.UserContext(), actor(c), idParam(c)); err != nil {
		return err
	}
	v, err := queryVersion(c)
	if err != nil {
		return err
	}
	if err := s.ctl.Clients.Delete(c.UserContext(), actor(c), idParam(c), v); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
