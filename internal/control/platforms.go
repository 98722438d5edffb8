package control

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/taskspec"
)

// Platforms reads platforms (everyone may) and changes them (admins).
type Platforms struct{ *base }

// List lists the platforms on web server ws and in status (each "" for
// any), sorted by name.
func (p *Platforms) List(ctx context.Context, a Actor, ws, status string) ([]domain.Platform, error) {
	all, err := p.st.ListPlatforms(ctx)
	if err != nil {
		return nil, err
	}
	all = slices.DeleteFunc(all, func(p domain.Platform) bool {
		return ws != "" && p.WebServerID != ws || status != "" && string(p.Status) != status
	})
	slices.SortFunc(all, func(a, b domain.Platform) int { return strings.Compare(a.Name, b.Name) })
	for i := range all {
		shapePlatform(a, &all[i])
	}
	return all, nil
}

// Get loads a platform.
func (p *Platforms) Get(ctx context.Context, a Actor, id string) (*domain.Platform, error) {
	pl, err := p.st.GetPlatform(ctx, id)
	if err != nil {
		return nil, err
	}
	shapePlatform(a, pl)
	return pl, nil
}

// shapePlatform leaves in a platform what the actor's role may see. A
// client user chooses platforms for their sites by name, type, status
// and release; where a platform lives on the web server (its path) is
// the operator's, and tells a tenant about the machine they share, so it
// is cleared. Servers and services, with their addresses and settings,
// are admins' altogether (Servers, Services).
func shapePlatform(a Actor, p *domain.Platform) {
	if !a.Admin() {
		p.Path = ""
	}
}

// Create creates a platform and queues verify-platform (admins).
func (p *Platforms) Create(ctx context.Context, a Actor, req apiv1.PlatformCreate) (*domain.Platform, *domain.Task, error) {
	if err := a.admin("create platforms"); err != nil {
		return nil, nil, err
	}
	pl := &domain.Platform{Name: req.Name, Path: req.Path, Type: domain.PlatformType(req.Type)}
	// Check the fields that need no lookup first (the store checks the
	// allowed roots), so a bad path is reported as such even when the
	// server reference is also wrong.
	probe := *pl
	probe.WebServerID = domain.NewID()
	if err := probe.Validate(nil); err != nil {
		return nil, nil, err
	}
	var err error
	if pl.WebServerID, err = p.resolveServer(ctx, "web_server", req.WebServerID, req.WebServer); err != nil {
		return nil, nil, err
	}
	ctx = a.record(ctx, "create", "platform", "", "", func(e *domain.AuditEntry) {
		e.ObjectID, e.Fields = pl.ID, domain.AuditFields(nil, pl)
	})
	task, err := p.st.CreatePlatform(ctx, pl, a.Name())
	if err != nil {
		return nil, nil, err
	}
	return pl, task, nil
}

// PlatformTaskType names a platform task as requested, by its type or an
// alias its spec declares ("delete" and "verify", the site tasks' names,
// mean delete-platform and verify-platform). A name of no platform task is
// returned as it is, for the store to refuse once it has found the
// platform.
func PlatformTaskType(typ string) domain.TaskType {
	typ = strings.TrimSpace(typ)
	if s, err := taskspec.Resolve(domain.TargetPlatform, typ); err == nil {
		return s.Type
	}
	return domain.TaskType(typ)
}

// Task queues a task on platform id (admins); see PlatformTaskType.
func (p *Platforms) Task(ctx context.Context, a Actor, id string, req apiv1.TaskRequest) (*domain.Task, error) {
	if err := a.admin("run platform tasks"); err != nil {
		return nil, err
	}
	typ := PlatformTaskType(req.Type)
	if typ == domain.TaskMigrateSites {
		args := maps.Clone(req.Args)
		if args == nil {
			args = map[string]string{}
		}
		if err := p.checkMigrateSites(ctx, id, args); err != nil {
			return nil, err
		}
		req.Args = args
	}
	ctx = a.recordTask(ctx, "platform", id, "", typ, req.Args)
	return p.st.RequestPlatformTask(ctx, id, typ, req.Args, a.Name())
}

// checkMigrateSites refuses at the request what would make a batch migrate
// fail at once: a target platform that is the source, deleted, locked or
// of another type; a named site that is not on the source; a source with
// no installed site. It resolves a target platform given by name, and
// normalises the named domains.
func (p *Platforms) checkMigrateSites(ctx context.Context, id string, args map[string]string) error {
	from, err := p.st.GetPlatform(ctx, id)
	if err != nil {
		return err
	}
	to := strings.TrimSpace(args["to_platform_id"])
	if to == "" {
		return domain.Invalid("args.to_platform_id", "migrate-sites needs the platform to move the sites to")
	}
	if !domain.ValidID(to) {
		if to, err = p.resolvePlatform(ctx, "args.to_platform", "", to); err != nil {
			return err
		}
	}
	args["to_platform_id"] = to
	dest, err := p.st.GetPlatform(ctx, to)
	if err != nil {
		return refError("args.to_platform_id", err)
	}
	switch {
	case dest.ID == from.ID:
		return domain.Invalid("args.to_platform_id", "platform %s is the one the sites are on; name another", dest.Name)
	case dest.Status == domain.PlatformDeleted:
		return domain.Invalid("args.to_platform_id", "platform %s is deleted", dest.Name)
	case dest.Type != from.Type:
		return domain.Invalid("args.to_platform_id", "platform %s is of type %s; the sites of %s need a %s platform", dest.Name, dest.Type, from.Name, from.Type)
	case dest.Locked:
		return fmt.Errorf("platform %s is locked and takes no new sites; unlock it first: %w", dest.Name, domain.ErrConflict)
	}
	if list := strings.TrimSpace(args["sites"]); list != "" {
		var names []string
		for _, d := range strings.Split(list, ",") {
			if d = strings.TrimSpace(d); d == "" {
				continue
			}
			site, err := p.st.SiteByDomain(ctx, d)
			if err != nil {
				return domain.Invalid("args.sites", "no site %q", Clip(d))
			}
			if site.PlatformID != from.ID {
				return domain.Invalid("args.sites", "site %s is not on platform %s", site.Domain, from.Name)
			}
			if !slices.Contains(names, site.Domain) {
				names = append(names, site.Domain)
			}
		}
		if len(names) == 0 {
			return domain.Invalid("args.sites", "names no site; leave it empty to migrate every site of %s", from.Name)
		}
		args["sites"] = strings.Join(names, ",")
		return nil
	}
	delete(args, "sites")
	for _, st := range []domain.SiteStatus{domain.SiteEnabled, domain.SiteDisabled} {
		page, err := p.st.ListSites(ctx, store.SiteFilter{PlatformID: from.ID, Status: st, Limit: 1})
		if err != nil {
			return err
		}
		if page.Total > 0 {
			return nil
		}
	}
	return fmt.Errorf("platform %s has no installed site to migrate: %w", from.Name, domain.ErrConflict)
}
