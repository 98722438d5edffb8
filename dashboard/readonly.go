package dashboard

import (
	"github.com/gofiber/fiber/v2"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
)

// Packages, releases, instances and backups are written only by the
// results of tasks; the API lists them.

func (s *Server) listPackages(c *fiber.Ctx) error {
	all, err := s.st.ListPackages(c.UserContext())
	if err != nil {
		return err
	}
	return paginate(c, all)
}

func (s *Server) listReleases(c *fiber.Ctx) error {
	all, err := s.st.ListReleases(c.UserContext())
	if err != nil {
		return err
	}
	if pid := c.Query("package_id"); pid != "" {
		out := all[:0]
		for _, r := range all {
			if r.PackageID == pid {
				out = append(out, r)
			}
		}
		all = out
	}
	return paginate(c, all)
}

// listInstances lists where packages are installed. A client user sees
// only the instances on their own sites.
func (s *Server) listInstances(c *fiber.Ctx) error {
	all, err := s.st.ListInstances(c.UserContext())
	if err != nil {
		return err
	}
	var mine map[string]bool
	if scope := clientScope(c); scope != nil {
		mine = map[string]bool{}
		for off := 0; ; off += 1000 {
			p, err := s.st.ListSites(c.UserContext(), store.SiteFilter{ClientIDs: scope, Offset: off, Limit: 1000})
			if err != nil {
				return err
			}
			for _, st := range p.Items {
				mine[st.ID] = true
			}
			if off+1000 >= p.Total {
				break
			}
		}
	}
	kind, target := c.Query("target_kind"), c.Query("target_id")
	out := all[:0]
	for _, in := range all {
		if mine != nil && (in.TargetKind != domain.TargetSite || !mine[in.TargetID]) ||
			kind != "" && string(in.TargetKind) != kind || target != "" && in.TargetID != target {
			continue
		}
		out = append(out, in)
	}
	return paginate(c, out)
}

func (s *Server) listBackups(c *fiber.Ctx) error {
	all, err := s.st.ListBackups(c.UserContext(), c.Query("site_id"), clientScope(c))
	if err != nil {
		return err
	}
	return paginate(c, all)
}
