package dashboard

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
)

// siteCreate is the body of POST /sites. Each reference may be given by id
// or by name; when both are given they must agree.
type siteCreate struct {
	Domain          string   `json:"domain"`
	Aliases         []string `json:"aliases,omitempty"`
	RedirectAliases bool     `json:"redirect_aliases,omitempty"`
	PlatformID      string   `json:"platform_id,omitempty"`
	Platform        string   `json:"platform,omitempty"`
	DBServerID      string   `json:"db_server_id,omitempty"`
	DBServer        string   `json:"db_server,omitempty"`
	ClientID        string   `json:"client_id,omitempty"`
	Client          string   `json:"client,omitempty"`
	Profile         string   `json:"profile,omitempty"`
}

// siteCreated is the answer to POST /sites and PUT /sites/{id}.
type siteCreated struct {
	Site *domain.Site `json:"site"`
	Task *domain.Task `json:"task"`
}

// taskRequest is the body of POST /{sites,platforms,servers}/{id}/tasks.
type taskRequest struct {
	Type string            `json:"type"`
	Args map[string]string `json:"args,omitempty"`
}

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
		ClientIDs:  clientScope(c),
		Offset:     offset,
		Limit:      limit,
	}
	p, err := s.st.ListSites(c.UserContext(), f)
	if err != nil {
		return err
	}
	return c.JSON(List[domain.Site]{Items: p.Items, Total: p.Total, Offset: offset, Limit: limit})
}

func (s *Server) createSite(c *fiber.Ctx) error {
	var req siteCreate
	if err := s.decode(c, &req); err != nil {
		return err
	}
	ctx := c.UserContext()
	site := &domain.Site{
		Domain: req.Domain, Aliases: req.Aliases, RedirectAliases: req.RedirectAliases, Profile: req.Profile,
	}
	// Validate the names first: a bad domain is the likeliest mistake and
	// says the most.
	probe := *site
	probe.PlatformID, probe.DBServerID, probe.ClientID = domain.NewID(), domain.NewID(), domain.NewID()
	if err := probe.Normalize(); err != nil {
		return err
	}
	var err error
	if site.PlatformID, err = s.resolvePlatform(c, "platform", req.PlatformID, req.Platform); err != nil {
		return err
	}
	if site.DBServerID, err = s.resolveServer(c, "db_server", req.DBServerID, req.DBServer); err != nil {
		return err
	}
	if site.ClientID, err = s.resolveClient(c, req.ClientID, req.Client); err != nil {
		return err
	}
	task, err := s.st.CreateSite(ctx, site, who(c))
	if err != nil {
		return err
	}
	return created(c, "site", site, task)
}

// siteParam loads the site named by :id, an id or a domain (or alias),
// answering 404 for a site the user may not see.
func (s *Server) siteParam(c *fiber.Ctx) (*domain.Site, error) {
	ref := idParam(c)
	var (
		site *domain.Site
		err  error
	)
	if domain.ValidID(ref) {
		site, err = s.st.GetSite(c.UserContext(), ref)
	} else {
		site, err = s.st.SiteByDomain(c.UserContext(), ref)
	}
	if err != nil {
		return nil, err
	}
	if !canSee(c, site.ClientID) {
		return nil, domain.NotFound("site", ref)
	}
	return site, nil
}

func (s *Server) getSite(c *fiber.Ctx) error {
	site, err := s.siteParam(c)
	if err != nil {
		return err
	}
	return c.JSON(site)
}

func (s *Server) updateSite(c *fiber.Ctx) error {
	old, err := s.siteParam(c)
	if err != nil {
		return err
	}
	var site domain.Site
	if err := s.decode(c, &site); err != nil {
		return err
	}
	if site.ID != "" && site.ID != old.ID {
		return domain.Invalid("id", "does not match the site in the URL")
	}
	if err := needVersion(site.Version); err != nil {
		return err
	}
	site.ID = old.ID
	if site.ClientID == "" {
		site.ClientID = old.ClientID
	}
	if site.PlatformID == "" {
		site.PlatformID = old.PlatformID
	}
	if site.DBServerID == "" {
		site.DBServerID = old.DBServerID
	}
	if site.Domain == "" {
		site.Domain = old.Domain
	}
	if !canSee(c, site.ClientID) {
		return domain.Invalid("client_id", "client %q not found", site.ClientID)
	}
	task, err := s.st.UpdateSite(c.UserContext(), &site, who(c))
	if err != nil {
		return err
	}
	return c.JSON(siteCreated{Site: &site, Task: task})
}

func (s *Server) siteTask(c *fiber.Ctx) error {
	site, err := s.siteParam(c)
	if err != nil {
		return err
	}
	var req taskRequest
	if err := s.decode(c, &req); err != nil {
		return err
	}
	if req.Args == nil {
		req.Args = map[string]string{}
	}
	for _, k := range []string{"platform_id", "db_server_id"} {
		if v := req.Args[k]; v != "" && !domain.ValidID(v) {
			// Accept names here too, as on create.
			field := "args." + k
			var id string
			if k == "platform_id" {
				id, err = s.resolvePlatform(c, field, "", v)
			} else {
				id, err = s.resolveServer(c, field, "", v)
			}
			if err != nil {
				return err
			}
			req.Args[k] = id
		}
	}
	if len(req.Args) == 0 {
		req.Args = nil
	}
	task, err := s.st.RequestSiteTask(c.UserContext(), site.ID, domain.TaskType(strings.TrimSpace(req.Type)), req.Args, who(c))
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(task)
}

func (s *Server) siteBackups(c *fiber.Ctx) error {
	site, err := s.siteParam(c)
	if err != nil {
		return err
	}
	bs, err := s.st.ListBackups(c.UserContext(), site.ID, clientScope(c))
	if err != nil {
		return err
	}
	return paginate(c, bs)
}
