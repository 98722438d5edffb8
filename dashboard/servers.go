package dashboard

import (
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/aegirhq/aegir/internal/domain"
)

// serverCreate is the body of POST /servers: the server and the services
// it provides, created together.
type serverCreate struct {
	Name      string          `json:"name"`
	Address   string          `json:"address"`
	NomadNode string          `json:"nomad_node,omitempty"`
	Services  []serviceCreate `json:"services,omitempty"`
}

// serverCreated is the answer to POST /servers and PUT /servers/{id}.
type serverCreated struct {
	Server   *domain.Server   `json:"server"`
	Services []domain.Service `json:"services,omitempty"`
	Task     *domain.Task     `json:"task"`
}

func (s *Server) listServers(c *fiber.Ctx) error {
	all, err := s.st.ListServers(c.UserContext())
	if err != nil {
		return err
	}
	slices.SortFunc(all, func(a, b domain.Server) int { return strings.Compare(a.Name, b.Name) })
	return paginate(c, all)
}

func (s *Server) createServer(c *fiber.Ctx) error {
	var req serverCreate
	if err := s.decode(c, &req); err != nil {
		return err
	}
	srv := &domain.Server{Name: req.Name, Address: req.Address, NomadNode: req.NomadNode}
	services := make([]domain.Service, 0, len(req.Services))
	for i, sc := range req.Services {
		if sc.ServerID != "" || sc.Server != "" {
			return domain.Invalid("services", "service %d: leave out server_id and server; the services belong to the new server", i)
		}
		services = append(services, sc.service())
	}
	task, err := s.st.CreateServer(c.UserContext(), srv, services, who(c))
	if err != nil {
		return err
	}
	c.Status(fiber.StatusCreated)
	return c.JSON(serverCreated{Server: srv, Services: services, Task: task})
}

func (s *Server) getServer(c *fiber.Ctx) error {
	srv, err := s.st.GetServer(c.UserContext(), idParam(c))
	if err != nil {
		return err
	}
	return c.JSON(srv)
}

func (s *Server) updateServer(c *fiber.Ctx) error {
	id := idParam(c)
	var srv domain.Server
	if err := s.decode(c, &srv); err != nil {
		return err
	}
	if srv.ID != "" && srv.ID != id {
		return domain.Invalid("id", "does not match the server in the URL")
	}
	if err := needVersion(srv.Version); err != nil {
		return err
	}
	srv.ID = id
	task, err := s.st.UpdateServer(c.UserContext(), &srv, who(c))
	if err != nil {
		return err
	}
	return c.JSON(serverCreated{Server: &srv, Task: task})
}

func (s *Server) deleteServer(c *fiber.Ctx) error {
	v, err := queryVersion(c)
	if err != nil {
		return err
	}
	if err := s.st.DeleteServer(c.UserContext(), idParam(c), v); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) serverTask(c *fiber.Ctx) error {
	var req taskRequest
	if err := s.decode(c, &req); err != nil {
		return err
	}
	if len(req.Args) > 0 {
		return domain.Invalid("args", "server tasks take no arguments")
	}
	typ := domain.TaskType(req.Type)
	if k, ok := typ.Target(); !ok || k != domain.TargetServer {
		return domain.Invalid("type", "%q is not a server task; use one of %v", clipped(req.Type), domain.TaskTypes(domain.TargetServer))
	}
	task, err := s.st.RequestServerTask(c.UserContext(), idParam(c), typ, who(c))
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(task)
}
