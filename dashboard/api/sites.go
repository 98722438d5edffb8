package api

import (
	"github.com/gofiber/fiber/v2"

	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
)

func (s *Server) listSites(c *fiber.Ctx) error {
	offset, limit, err := page(c)
	if err != nil {
		return err
	}
	f := store.SiteFilter{
		Query:      c.Query("q"),
		Status:     domain.SiteStatus(c.Query("status")),
		PlatformID: c.Query("platform_id"),
		ClientID:   c.Query("client_id"),
		ServerID:   c.Query("server_id"),
		Offset:     offset,
		Limit:      limit,
	}
	p, err := s.ctl.Sites.List(c.UserContext(), actor(c), f)
	if err != nil {
		return err
	}
	return c.JSON(List[domain.Site]{Items: p.Items, Total: p.Total, Offset: offset, Limit: limit})
}

func (s *Server) createSite(c *fiber.Ctx) error {
	var req apiv1.SiteCreate
	if err := s.decode(c, &req); err != nil {
		return err
	}
	site, task, err := s.ctl.Sites.Create(c.UserContext(), actor(c), req)
	if err != nil {
		return err
	}
	return created(c, "site", site, task)
}

// siteParam loads the site named by :id, an id or a domain (or alias),
// answering 404 for a site the user may not see.
func (s *Server) siteParam(c *fiber.Ctx) (*domain.Site, error) {
	return s.ctl.Sites.Get(c.UserContext(), actor(c), idParam(c))
}

func (s *Server) GetSite(c *fiber.Ctx) error {
	site, err := s.siteParam(c)
	if err != nil {
		return err
	}
	return c.JSON(site)
}

func (s *Server) updateSite(c *fiber.Ctx) error {
	// Look first, so a site the user may not see is 404 whatever the body.
	if _, err := s.siteParam(c); err != nil {
		return err
	}
	var site domain.Site
	if err := s.decode(c, &site); err != nil {
		return err
	}
	task, err := s.ctl.Sites.Update(c.UserContext(), actor(c), idParam(c), &site)
	if err != nil {
		return err
	}
	return c.JSON(apiv1.SiteCreated{Site: &site, Task: task})
}

func (s *Server) siteTask(c *fiber.Ctx) error {
	if _, err := s.siteParam(c); err != nil {
		return err
	}
	var req apiv1.TaskRequest
	if err := s.decode(c, &req); err != nil {
		return err
	}
	task, err := s.ctl.Sites.Task(c.UserContext(), actor(c), idParam(c), req)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(task)
}

func (s *Server) putSiteCertificate(c *fiber.Ctx) error {
	if _, err := s.siteParam(c); err != nil {
		return err
	}
	var req apiv1.CertificateUpload
	if err := s.decode(c, &req); err != nil {
		return err
	}
	task, err := s.ctl.Sites.UploadCertificate(c.UserContext(), actor(c), idParam(c), req)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(task)
}

func (s *Server) siteBackups(c *fiber.Ctx) error {
	bs, err := s.ctl.Sites.Backups(c.UserContext(), actor(c), idParam(c))
	if err != nil {
		return err
	}
	return paginate(c, bs)
}
