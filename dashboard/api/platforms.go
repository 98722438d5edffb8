package api

import (
	"github.com/gofiber/fiber/v2"

	"github.com/aegirhq/aegir/internal/apiv1"
)

func (s *Server) listPlatforms(c *fiber.Ctx) error {
	all, err := s.ctl.Platforms.List(c.UserContext(), actor(c), c.Query("web_server_id"), c.Query("status"))
	if err != nil {
		return err
	}
	return paginate(c, all)
}

func (s *Server) createPlatform(c *fiber.Ctx) error {
	var req apiv1.PlatformCreate
	if err := s.decode(c, &req); err != nil {
		return err
	}
	p, task, err := s.ctl.Platforms.Create(c.UserContext(), actor(c), req)
	if err != nil {
		return err
	}
	c.Status(fiber.StatusCreated)
	return c.JSON(apiv1.PlatformCreated{Platform: p, Task: task})
}

func (s *Server) getPlatform(c *fiber.Ctx) error {
	p, err := s.ctl.Platforms.Get(c.UserContext(), actor(c), idParam(c))
	if err != nil {
		return err
	}
	return c.JSON(p)
}

// platformTask queues a platform task; "delete" names delete-platform
// (control.PlatformTaskType).
func (s *Server) platformTask(c *fiber.Ctx) error {
	var req apiv1.TaskRequest
	if err := s.decode(c, &req); err != nil {
		return err
	}
	task, err := s.ctl.Platforms.Task(c.UserContext(), actor(c), idParam(c), req)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(task)
}
