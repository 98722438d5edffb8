package api

import (
	"github.com/gofiber/fiber/v2"
)

// Packages, releases, instances and backups are written only by the
// results of tasks; the API lists them.

func (s *Server) listPackages(c *fiber.Ctx) error {
	all, err := s.ctl.Packages.List(c.UserContext(), actor(c))
	if err != nil {
		return err
	}
	return paginate(c, all)
}

func (s *Server) listReleases(c *fiber.Ctx) error {
	all, err := s.ctl.Packages.Releases(c.UserContext(), actor(c), c.Query("package_id"))
	if err != nil {
		return err
	}
	return paginate(c, all)
}

// listInstances lists where packages are installed. A client user sees
// only the instances on their own sites.
func (s *Server) listInstances(c *fiber.Ctx) error {
	all, err := s.ctl.Packages.Instances(c.UserContext(), actor(c), c.Query("target_kind"), c.Query("target_id"))
	if err != nil {
		return err
	}
	return paginate(c, all)
}

func (s *Server) listBackups(c *fiber.Ctx) error {
	all, err := s.ctl.Backups.List(c.UserContext(), actor(c), c.Query("site_id"))
	if err != nil {
		return err
	}
	return paginate(c, all)
}
