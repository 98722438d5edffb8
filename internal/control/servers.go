package control

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/taskspec"
)

// Servers reads and changes servers; all of it is for admins, and a server
// is not found to anyone else.
type Servers struct{ *base }

// List lists the servers, sorted by name.
func (s *Servers) List(ctx context.Context, a Actor) ([]domain.Server, error) {
	if err := a.admin("list servers"); err != nil {
		return nil, err
	}
	all, err := s.st.ListServers(ctx)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(all, func(a, b domain.Server) int { return strings.Compare(a.Name, b.Name) })
	return all, nil
}

// Get loads a server.
func (s *Servers) Get(ctx context.Context, a Actor, id string) (*domain.Server, error) {
	if err := a.adminEntity("server", id); err != nil {
		return nil, err
	}
	return s.st.GetServer(ctx, id)
}

// Create creates a server with its services and queues verify-server.
func (s *Servers) Create(ctx context.Context, a Actor, req apiv1.ServerCreate) (*apiv1.ServerCreated, error) {
	if err := a.admin("create servers"); err != nil {
		return nil, err
	}
	srv := &domain.Server{Name: req.Name, Address: req.Address, NomadNode: req.NomadNode}
	services := make([]domain.Service, 0, len(req.Services))
	for i, sc := range req.Services {
		if sc.ServerID != "" || sc.Server != "" {
			return nil, domain.Invalid("services", "service %d: leave out server_id and server; the services belong to the new server", i)
		}
		svc := serviceOf(sc)
		if err := checkSettings(fmt.Sprintf("services[%d].settings", i), svc.Kind, svc.Settings); err != nil {
			return nil, err
		}
		services = append(services, svc)
	}
	ctx = a.record(ctx, "create", "server", "", "", func(e *domain.AuditEntry) {
		e.ObjectID, e.Fields = srv.ID, domain.AuditFields(nil, srv)
	})
	task, err := s.st.CreateServer(ctx, srv, services, a.Name())
	if err != nil {
		return nil, err
	}
	return &apiv1.ServerCreated{Server: srv, Services: services, Task: task}, nil
}

// Update changes server id to srv (check-and-set on srv.Version) and
// queues verify-server.
func (s *Servers) Update(ctx context.Context, a Actor, id string, srv *domain.Server) (*domain.Task, error) {
	if err := a.adminEntity("server", id); err != nil {
		return nil, err
	}
	if srv.ID != "" && srv.ID != id {
		return nil, domain.Invalid("id", "does not match the server in the URL")
	}
	if err := needVersion(srv.Version); err != nil {
		return nil, err
	}
	srv.ID = id
	if old, err := s.st.GetServer(ctx, id); err == nil {
		ctx = a.recordChange(ctx, "server", id, "", old, srv)
	}
	return s.st.UpdateServer(ctx, srv, a.Name())
}

// Delete deletes an unused server and its services, if it is still at
// version.
func (s *Servers) Delete(ctx context.Context, a Actor, id string, version uint64) error {
	if err := a.adminEntity("server", id); err != nil {
		return err
	}
	ctx = a.record(ctx, "delete", "server", id, "", nil)
	return s.st.DeleteServer(ctx, id, version)
}

// Task queues a server task (verify-server), which takes no arguments.
func (s *Servers) Task(ctx context.Context, a Actor, id string, req apiv1.TaskRequest) (*domain.Task, error) {
	if err := a.adminEntity("server", id); err != nil {
		return nil, err
	}
	if len(req.Args) > 0 {
		return nil, domain.Invalid("args", "server tasks take no arguments")
	}
	spec, err := taskspec.Resolve(domain.TargetServer, req.Type)
	if err != nil {
		return nil, err
	}
	ctx = a.recordTask(ctx, "server", id, "", spec.Type, nil)
	return s.st.RequestServerTask(ctx, id, spec.Type, a.Name())
}
