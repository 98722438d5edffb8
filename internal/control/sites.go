package control

import (
	"context"
	"errors"
	"strings"

	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/taskspec"
)

// Sites reads and changes sites within the actor's client scope.
type Sites struct{ *base }

// List lists the sites matching f that the actor may see (f.ClientIDs is
// replaced by the actor's scope).
func (s *Sites) List(ctx context.Context, a Actor, f store.SiteFilter) (*store.SitePage, error) {
	f.ClientIDs = a.Scope()
	return s.st.ListSites(ctx, f)
}

// Get loads a site by id or by domain (or alias); a site the actor may not
// see is not found.
func (s *Sites) Get(ctx context.Context, a Actor, ref string) (*domain.Site, error) {
	var (
		site *domain.Site
		err  error
	)
	if domain.ValidID(ref) {
		site, err = s.st.GetSite(ctx, ref)
	} else {
		site, err = s.st.SiteByDomain(ctx, ref)
	}
	if err != nil {
		return nil, err
	}
	if err := a.visible("site", ref, site.ClientID); err != nil {
		return nil, err
	}
	return site, nil
}

// Create creates a site and queues its install; with req.FromBackup, the
// site comes back from that backup (CreateFromBackup).
func (s *Sites) Create(ctx context.Context, a Actor, req apiv1.SiteCreate) (*domain.Site, *domain.Task, error) {
	if req.FromBackup != "" {
		return s.CreateFromBackup(ctx, a, req)
	}
	site, err := s.newSite(ctx, a, req)
	if err != nil {
		return nil, nil, err
	}
	if ctx, err = s.guard(ctx, a, site.ClientID); err != nil {
		return nil, nil, err
	}
	ctx = a.record(ctx, "create", "site", "", site.ClientID, func(e *domain.AuditEntry) {
		e.ObjectID, e.Fields = site.ID, domain.AuditFields(nil, site)
	})
	task, err := s.st.CreateSite(ctx, site, a.Name())
	if err != nil {
		return nil, nil, err
	}
	return site, task, nil
}

// newSite checks req's names and resolves where the site goes and who
// owns it, for a store write.
func (s *Sites) newSite(ctx context.Context, a Actor, req apiv1.SiteCreate) (*domain.Site, error) {
	site := &domain.Site{
		Domain: req.Domain, Aliases: req.Aliases, RedirectAliases: req.RedirectAliases, Profile: req.Profile,
		PHP: req.PHP, HTTPS: req.HTTPS, HSTS: req.HSTS,
	}
	// Validate the names first: a bad domain is the likeliest mistake and
	// says the most.
	probe := *site
	probe.PlatformID, probe.DBServerID, probe.ClientID = domain.NewID(), domain.NewID(), domain.NewID()
	if err := probe.Normalize(); err != nil {
		return nil, err
	}
	var err error
	if site.PlatformID, err = s.resolvePlatform(ctx, "platform", req.PlatformID, req.Platform); err != nil {
		return nil, err
	}
	if site.DBServerID, err = s.resolveServer(ctx, "db_server", req.DBServerID, req.DBServer); err != nil {
		return nil, err
	}
	if site.ClientID, err = s.resolveClient(ctx, a, req.ClientID, req.Client); err != nil {
		return nil, err
	}
	return site, nil
}

// Update changes the site named by ref to site (check-and-set on
// site.Version) and queues verify. Empty references and domain keep the
// stored ones; a new owner must be one of the actor's clients.
func (s *Sites) Update(ctx context.Context, a Actor, ref string, site *domain.Site) (*domain.Task, error) {
	old, err := s.Get(ctx, a, ref)
	if err != nil {
		return nil, err
	}
	if site.ID != "" && site.ID != old.ID {
		return nil, domain.Invalid("id", "does not match the site in the URL")
	}
	if err := needVersion(site.Version); err != nil {
		return nil, err
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
	if err := a.ownClient("client_id", site.ClientID); err != nil {
		return nil, err
	}
	if ctx, err = s.guard(ctx, a, site.ClientID); err != nil {
		return nil, err
	}
	ctx = a.recordChange(ctx, "site", site.ID, site.ClientID, old, site)
	return s.st.UpdateSite(ctx, site, a.Name())
}

// Task queues a task on the site named by ref. An argument its spec
// declares as the id of a platform or a server (clone's and migrate's
// platform_id and db_server_id) may name its target instead.
func (s *Sites) Task(ctx context.Context, a Actor, ref string, req apiv1.TaskRequest) (*domain.Task, error) {
	site, err := s.Get(ctx, a, ref)
	if err != nil {
		return nil, err
	}
	typ := domain.TaskType(strings.TrimSpace(req.Type))
	args := map[string]string{}
	for k, v := range req.Args {
		args[k] = v
	}
	// A type of no site task is the store's to refuse.
	if spec, ok := taskspec.Lookup(typ); ok && spec.Kind == domain.TargetSite {
		if err := s.resolveArgs(ctx, spec, args); err != nil {
			return nil, err
		}
		if err := s.domainsFree(ctx, spec, site, args); err != nil {
			return nil, err
		}
	}
	if err := checkBackupReason(a, typ, args); err != nil {
		return nil, err
	}
	if len(args) == 0 {
		args = nil
	}
	if ctx, err = s.guard(ctx, a, site.ClientID); err != nil {
		return nil, err
	}
	ctx = a.recordTask(ctx, "site", site.ID, site.ClientID, typ, args)
	return s.st.RequestSiteTask(ctx, site.ID, typ, args, a.Name())
}

// resolveArgs replaces the names given for the platform and server ids
// spec's arguments take with their ids.
func (s *Sites) resolveArgs(ctx context.Context, spec *taskspec.Spec, args map[string]string) error {
	for _, arg := range spec.Args {
		v := args[arg.Name]
		if arg.Type != taskspec.ArgID || v == "" || domain.ValidID(v) {
			continue
		}
		field := "args." + arg.Name
		var (
			id  string
			err error
		)
		switch arg.Of {
		case "platform":
			id, err = s.resolvePlatform(ctx, field, "", v)
		case "server":
			id, err = s.resolveServer(ctx, field, "", v)
		default:
			continue
		}
		if err != nil {
			return err
		}
		args[arg.Name] = id
	}
	return nil
}

// domainsFree fails fast, with a *domain.DuplicateError (409), when a
// domain argument of spec (clone's and migrate's domain) is already a
// site's name, so the request is refused at once rather than queued to
// fail. It is a read before the write, not the guarantee: the task's
// result claims the name in the store's uniqueness index in the same
// transaction that applies it. A migrate may keep its own domain or
// take one of its own aliases; a clone needs a name no site has. A value
// that is not a domain is left to the spec's validation in the store.
func (s *Sites) domainsFree(ctx context.Context, spec *taskspec.Spec, site *domain.Site, args map[string]string) error {
	for _, arg := range spec.Args {
		v := args[arg.Name]
		if arg.Type != taskspec.ArgDomain || v == "" {
			continue
		}
		n, err := domain.NormalizeDomain(v)
		if err != nil {
			continue
		}
		owner, err := s.st.SiteByDomain(ctx, n)
		if errors.Is(err, domain.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if spec.Type == domain.TaskMigrate && owner.ID == site.ID {
			continue
		}
		return &domain.DuplicateError{Kind: "domain", Value: n, OwnerID: owner.ID, OwnerName: owner.Domain}
	}
	return nil
}

// Backups lists the backups of the site named by ref, newest first.
func (s *Sites) Backups(ctx context.Context, a Actor, ref string) ([]domain.Backup, error) {
	site, err := s.Get(ctx, a, ref)
	if err != nil {
		return nil, err
	}
	bs, err := s.st.ListBackups(ctx, site.ID, a.Scope())
	for i := range bs {
		shapeBackup(a, &bs[i])
	}
	return bs, err
}
