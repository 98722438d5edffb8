package api

import (
	"github.com/gofiber/fiber/v2"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
)

func (s *Server) listTasks(c *fiber.Ctx) error {
	offset, limit, err := page(c)
	if err != nil {
		return err
	}
	f := store.TaskFilter{
		Status:     domain.TaskStatus(c.Query("status")),
		Type:       domain.TaskType(c.Query("type")),
		TargetKind: domain.TargetKind(c.Query("target_kind")),
		TargetID:   c.Query("target_id"),
		Parent:     c.Query("parent"),
		Offset:     offset,
		Limit:      limit,
	}
	p, err := s.ctl.Tasks.List(c.UserContext(), actor(c), f)
	if err != nil {
		return err
	}
	return c.JSON(List[domain.Task]{Items: p.Items, Total: p.Total, Offset: offset, Limit: limit})
}

// taskParam loads the task named by :id, answering 404 for a task the user
// may not see (a client user sees only their clients' site tasks).
func (s *Server) taskParam(c *fiber.Ctx) (*domain.Task, error) {
	return s.ctl.Tasks.Get(c.UserContext(), actor(c), idParam(c))
}

func (s *Server) GetTask(c *fiber.Ctx) error {
	t, err := s.taskParam(c)
	if err != nil {
		return err
	}
	return c.JSON(t)
}

// cancelTask cancels a queued task in the store (200 with the cancelled
// task) or asks the dispatcher to stop a running one (202 with the task as
// it is now; it turns cancelled when the runner is gone).
func (s *Server) cancelTask(c *fiber.Ctx) error {
	t, running, err := s.ctl.Tasks.Cancel(c.UserContext(), actor(c), idParam(c))
	if err != nil {
		return err
	}
	if running {
		c.Status(fiber.StatusAccepted)
	}
	return c.JSON(t)
}

func (s *Server) retryTask(c *fiber.Ctx) error {
	nt, err := s.ctl.Tasks.Retry(c.UserContext(), actor(c), idParam(c))
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(nt)
}
