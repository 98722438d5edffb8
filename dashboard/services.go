package dashboard

import (
	"cmp"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/aegirhq/aegir/internal/domain"
)

// serviceCreate is the body of POST /services and one entry of a server's
// services on POST /servers.
type serviceCreate struct {
	ServerID string            `json:"server_id,omitempty"`
	Server   string            `json:"server,omitempty"`
	Kind     string            `json:"kind"`
	Type     string            `json:"type,omitempty"`
	Port     int               `json:"port,omitempty"`
	Settings map[string]string `json:"settings,omitempty"`
}

func (sc serviceCreate) service() domain.Service {
	return domain.Service{
		ServerID: sc.ServerID, Kind: domain.ServiceKind(sc.Kind), Type: domain.ServiceType(sc.Type),
		Port: sc.Port, Settings: sc.Settings,
	}
}

// credentials is the body of PUT /services/{id}/credentials. It is never
// logged, stored in the store or echoed back.
type credentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

func (s *Server) listServices(c *fiber.Ctx) error {
	all, err := s.st.ListServices(c.UserContext())
	if err != nil {
		return err
	}
	if sid := c.Query("server_id"); sid != "" {
		all = slices.DeleteFunc(all, func(v domain.Service) bool { return v.ServerID != sid })
	}
	slices.SortFunc(all, func(a, b domain.Service) int {
		return cmp.Or(strings.Compare(a.ServerID, b.ServerID), strings.Compare(string(a.Type), string(b.Type)))
	})
	return paginate(c, all)
}

func (s *Server) createService(c *fiber.Ctx) error {
	var req serviceCreate
	if err := s.decode(c, &req); err != nil {
		return err
	}
	sid, err := s.resolveServer(c, "server", req.ServerID, req.Server)
	if err != nil {
		return err
	}
	svc := req.service()
	svc.ServerID = sid
	if err := s.st.CreateService(c.UserContext(), &svc); err != nil {
		return err
	}
	return created(c, "service", &svc, nil)
}

func (s *Server) getService(c *fiber.Ctx) error {
	svc, err := s.st.GetService(c.UserContext(), idParam(c))
	if err != nil {
		return err
	}
	return c.JSON(svc)
}

func (s *Server) updateService(c *fiber.Ctx) error {
	id := idParam(c)
	var svc domain.Service
	if err := s.decode(c, &svc); err != nil {
		return err
	}
	if svc.ID != "" && svc.ID != id {
		return domain.Invalid("id", "does not match the service in the URL")
	}
	if err := needVersion(svc.Version); err != nil {
		return err
	}
	svc.ID = id
	if err := s.st.UpdateService(c.UserContext(), &svc); err != nil {
		return err
	}
	return c.JSON(svc)
}

func (s *Server) deleteService(c *fiber.Ctx) error {
	v, err := queryVersion(c)
	if err != nil {
		return err
	}
	if err := s.st.DeleteService(c.UserContext(), idParam(c), v); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// putCredentials hands a database service's admin credentials to the
// secrets backend. Validation messages never quote the password.
func (s *Server) putCredentials(c *fiber.Ctx) error {
	if s.cfg.Secrets == nil {
		return errUnavailable("the secrets backend")
	}
	svc, err := s.st.GetService(c.UserContext(), idParam(c))
	if err != nil {
		return err
	}
	var req credentials
	if err := s.decode(c, &req); err != nil {
		return err
	}
	if svc.Type != domain.ServiceDB {
		return domain.Invalid("service", "only database services take admin credentials")
	}
	if err := domain.ValidateName("username", req.Username); err != nil {
		return err
	}
	if req.Password == "" || len(req.Password) > 1024 {
		return domain.Invalid("password", "must be 1 to 1024 characters")
	}
	if strings.ContainsFunc(req.Password, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return domain.Invalid("password", "must not contain control characters")
	}
	if err := s.cfg.Secrets.PutServiceCredentials(c.UserContext(), svc.ID, req.Username, req.Password); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
