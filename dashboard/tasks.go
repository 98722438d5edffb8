package dashboard

import (
	"errors"
	"fmt"

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
		ClientIDs:  clientScope(c),
		Offset:     offset,
		Limit:      limit,
	}
	p, err := s.st.ListTasks(c.UserContext(), f)
	if err != nil {
		return err
	}
	return c.JSON(List[domain.Task]{Items: p.Items, Total: p.Total, Offset: offset, Limit: limit})
}

// taskParam loads the task named by :id, answering 404 for a task the user
// may not see (a client user sees only their clients' site tasks).
func (s *Server) taskParam(c *fiber.Ctx) (*domain.Task, error) {
	id := idParam(c)
	t, err := s.st.GetTask(c.UserContext(), id)
	if err != nil {
		return nil, err
	}
	if !canSee(c, t.ClientID) {
		return nil, domain.NotFound("task", id)
	}
	return t, nil
}

func (s *Server) getTask(c *fiber.Ctx) error {
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
	t, err := s.taskParam(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	if t.Status == domain.TaskQueued {
		err := s.st.CancelQueued(ctx, t, who(c))
		if err == nil {
			return c.JSON(t)
		}
		if !errors.Is(err, domain.ErrConflict) {
			return err
		}
		// The dispatcher may have started it meanwhile: look again.
		if t, err = s.st.GetTask(ctx, t.ID); err != nil {
			return err
		}
	}
	switch {
	case t.Status.Done():
		return fmt.Errorf("task %s is already %s: %w", t.ID, t.Status,
			&domain.TransitionError{Entity: "task", From: string(t.Status), To: string(domain.TaskCancelled)})
	case t.Status == domain.TaskQueued:
		return fmt.Errorf("task %s changed while it was being cancelled; try again: %w", t.ID, domain.ErrConflict)
	case s.cfg.Canceller == nil:
		return fmt.Errorf("task %s is running and this server has no dispatcher to stop it; cancel it on the server that runs the dispatcher: %w", t.ID, domain.ErrConflict)
	}
	if err := s.cfg.Canceller.Cancel(ctx, t.ID, who(c)); err != nil {
		return err
	}
	if t, err = s.st.GetTask(ctx, t.ID); err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(t)
}

func (s *Server) retryTask(c *fiber.Ctx) error {
	t, err := s.taskParam(c)
	if err != nil {
		return err
	}
	if t.TargetKind != domain.TargetSite && !isAdmin(c) {
		return errAdminWrite("retry platform and server tasks")
	}
	nt, err := s.st.RetryTask(c.UserContext(), t.ID, who(c))
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(nt)
}
