package control

import (
	"context"
	"slices"
	"strings"

	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/domain"
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
	ctx = a.recordTask(ctx, "platform", id, "", PlatformTaskType(req.Type), req.Args)
	return p.st.RequestPlatformTask(ctx, id, PlatformTaskType(req.Type), req.Args, a.Name())
}
