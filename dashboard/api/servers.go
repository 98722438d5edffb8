package api

import (
	"github.com/gofiber/fiber/v2"

	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/domain"
)

func (s *Server) listServers(c *fiber.Ctx) error {
	all, err := s.ctl.Servers.List(c.UserContext(), actor(c))
	if err != nil {
		return err
	}
	return paginate(c, all)
}

func (s *Server) createServer(c *fiber.Ctx) error {
	var req apiv1.ServerCreate
	if err := s.decode(c, &req); err != nil {
		return err
	}
	out, err := s.ctl.Servers.Create(c.UserContext(), actor(c), req)
	if err != nil {
		return err
	}
	c.Status(fiber.StatusCreated)
	return c.JSON(out)
}

func (s *Server) getServer(c *fiber.Ctx) error {
	srv, err := s.ctl.Servers.Get(c.UserContext(), actor(c), idParam(c))
	if err != nil {
		return err
	}
	return c.JSON(srv)
}

func (s *Server) updateServer(c *fiber.Ctx) error {
	var srv domain.Server
	if err := s.decode(c, &srv); err != nil {
		return err
	}
	task, err := s.ctl.Servers.Update(c.UserContext(), actor(c), idParam(c), &srv)
	if err != nil {
		return err
	}
	return c.JSON(apiv1.ServerCreated{Server: &srv, Task: task})
}

func (s *Server) deleteServer(c *fiber.Ctx) error {
	v, err := queryVersion(c)
	if err != nil {
		return err
	}
	if err := s.ctl.Servers.Delete(c.UserContext(), actor(c), idParam(c), v); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) serverTask(c *fiber.Ctx) error {
	var req apiv1.TaskRequest
	if err := s.decode(c, &req); err != nil {
		return err
	}
	task, err := s.ctl.Servers.Task(c.UserContext(), actor(c), idParam(c), req)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(task)
}
