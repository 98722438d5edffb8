package dashboard

import (
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/aegirhq/aegir/internal/domain"
)

// platformCreate is the body of POST /platforms.
type platformCreate struct {
	Name        string `json:"name"`
	Path        string `json:"path"`
	WebServerID string `json:"web_server_id,omitempty"`
	WebServer   string `json:"web_server,omitempty"`
	Type        string `json:"type"`
}

// platformCreated is the answer to POST /platforms.
type platformCreated struct {
	Platform *domain.Platform `json:"platform"`
	Task     *domain.Task     `json:"task"`
}

func (s *Server) listPlatforms(c *fiber.Ctx) error {
	all, err := s.st.ListPlatforms(c.UserContext())
	if err != nil {
		return err
	}
	ws, status := c.Query("web_server_id"), c.Query("status")
	all = slices.DeleteFunc(all, func(p domain.Platform) bool {
		return ws != "" && p.WebServerID != ws || status != "" && string(p.Status) != status
	})
	slices.SortFunc(all, func(a, b domain.Platform) int { return strings.Compare(a.Name, b.Name) })
	return paginate(c, all)
}

func (s *Server) createPlatform(c *fiber.Ctx) error {
	var req platformCreate
	if err := s.decode(c, &req); err != nil {
		return err
	}
	p := &domain.Platform{Name: req.Name, Path: req.Path, Type: domain.PlatformType(req.Type)}
	// Check the fields that need no lookup first (the store checks the
	// allowed roots), so a bad path is reported
	// as such even when the server reference is also wrong.
	probe := *p
	probe.WebServerID = domain.NewID()
	if err := probe.Validate(nil); err != nil {
		return err
	}
	var err error
	if p.WebServerID, err = s.resolveServer(c, "web_server", req.WebServerID, req.WebServer); err != nil {
		return err
	}
	task, err := s.st.CreatePlatform(c.UserContext(), p, who(c))
	if err != nil {
		return err
	}
	c.Status(fiber.StatusCreated)
	return c.JSON(platformCreated{Platform: p, Task: task})
}

func (s *Server) getPlatform(c *fiber.Ctx) error {
	p, err := s.st.GetPlatform(c.UserContext(), idParam(c))
	if err != nil {
		return err
	}
	return c.JSON(p)
}

// platformTask queues a platform task; "delete" names delete-platform.
func (s *Server) platformTask(c *fiber.Ctx) error {
	var req taskRequest
	if err := s.decode(c, &req); err != nil {
		return err
	}
	typ := domain.TaskType(req.Type)
	if typ == domain.TaskDelete {
		typ = domain.TaskDeletePlatform
	}
	if typ == domain.TaskVerify {
		typ = domain.TaskVerifyPlatform
	}
	task, err := s.st.RequestPlatformTask(c.UserContext(), idParam(c), typ, req.Args, who(c))
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(task)
}
