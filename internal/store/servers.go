package store

import (
	"context"
	"fmt"

	"github.com/aegirhq/aegir/internal/domain"
)

func setServerVersion(v *domain.Server, n uint64)   { v.Version = n }
func setServiceVersion(v *domain.Service, n uint64) { v.Version = n }

// CreateServer stores a server with its services and queues its
// verify-server task, all in one transaction.
func (s *Store) CreateServer(ctx context.Context, srv *domain.Server, services []domain.Service, by string) (*domain.Task, error) {
	srv.ID = domain.NewID()
	srv.Status = domain.ServerPending
	if err := srv.Validate(); err != nil {
		return nil, err
	}
	srv.CreatedAt, srv.UpdatedAt = s.now(), s.now()
	t := newTx()
	if err := t.create(prefixServers+srv.ID, srv, nil); err != nil {
		return nil, err
	}
	t.claim("server", srv.Name, srv.ID)
	for i := range services {
		svc := &services[i]
		svc.ServerID = srv.ID
		if err := s.addService(t, svc); err != nil {
			return nil, err
		}
	}
	task, err := s.enqueue(t, domain.TaskVerifyServer, domain.TargetServer, srv.ID, srv.Name, "", nil, by)
	if err != nil {
		return nil, err
	}
	pairs, err := s.commit(ctx, t)
	if err != nil {
		return nil, err
	}
	srv.Version = versionOf(pairs, 0)
	return task, nil
}

func (s *Store) addService(t *tx, svc *domain.Service) error {
	svc.ID = domain.NewID()
	if err := svc.Validate(); err != nil {
		return err
	}
	svc.CreatedAt, svc.UpdatedAt = s.now(), s.now()
	if err := t.create(prefixServices+svc.ID, svc, nil); err != nil {
		return err
	}
	t.add(Op{Verb: OpCAS, Key: uniqueKey("service", svc.ServerID+"/"+string(svc.Type)), Value: []byte(svc.ID)},
		&domain.DuplicateError{Kind: "service", Value: string(svc.Type) + " service on server " + svc.ServerID})
	return nil
}

// GetServer returns the server with id.
func (s *Store) GetServer(ctx context.Context, id string) (*domain.Server, error) {
	return get(ctx, s.kv, prefixServers+id, "server", id, setServerVersion)
}

// ServerByName returns the server called name.
func (s *Store) ServerByName(ctx context.Context, name string) (*domain.Server, error) {
	id, err := s.lookupUnique(ctx, "server", name)
	if err != nil {
		return nil, err
	}
	if id == "" {
		return nil, domain.NotFound("server", name)
	}
	return s.GetServer(ctx, id)
}

// ListServers returns every server.
func (s *Store) ListServers(ctx context.Context) ([]domain.Server, error) {
	return list(ctx, s.kv, prefixServers, setServerVersion)
}

// UpdateServer stores srv (name, address, node) and queues a verify-server.
func (s *Store) UpdateServer(ctx context.Context, srv *domain.Server, by string) (*domain.Task, error) {
	old, err := s.GetServer(ctx, srv.ID)
	if err != nil {
		return nil, err
	}
	srv.Status, srv.CreatedAt, srv.UpdatedAt = old.Status, old.CreatedAt, s.now()
	if err := srv.Validate(); err != nil {
		return nil, err
	}
	t := newTx()
	if err := t.update(prefixServers+srv.ID, srv, srv.Version, nil); err != nil {
		return nil, err
	}
	if old.Name != srv.Name {
		t.release("server", old.Name)
		t.claim("server", srv.Name, srv.ID)
	}
	task, err := s.enqueue(t, domain.TaskVerifyServer, domain.TargetServer, srv.ID, srv.Name, "", nil, by)
	if err != nil {
		return nil, err
	}
	pairs, err := s.commit(ctx, t)
	if err != nil {
		return nil, err
	}
	srv.Version = versionOf(pairs, 0)
	return task, nil
}

// DeleteServer removes a server, and its services, that no platform or
// site uses.
func (s *Store) DeleteServer(ctx context.Context, id string, version uint64) error {
	srv, err := s.GetServer(ctx, id)
	if err != nil {
		return err
	}
	platforms, err := s.ListPlatforms(ctx)
	if err != nil {
		return err
	}
	for _, p := range platforms {
		if p.WebServerID == id {
			return fmt.Errorf("server %s still hosts platform %s; delete it first: %w", srv.Name, p.Name, domain.ErrConflict)
		}
	}
	sites, err := s.ListSites(ctx, SiteFilter{DBServerID: id, Limit: 1})
	if err != nil {
		return err
	}
	if sites.Total > 0 {
		return fmt.Errorf("server %s still holds the databases of %d sites: %w", srv.Name, sites.Total, domain.ErrConflict)
	}
	services, err := s.ServicesOf(ctx, id)
	if err != nil {
		return err
	}
	t := newTx()
	t.deleteCAS(prefixServers+id, version, nil)
	t.release("server", srv.Name)
	for _, svc := range services {
		t.deleteCAS(prefixServices+svc.ID, svc.Version, nil)
		t.add(Op{Verb: OpDelete, Key: uniqueKey("service", id+"/"+string(svc.Type))}, nil)
	}
	_, err = s.commit(ctx, t)
	return err
}

// SetServerStatus moves a server to status (check-and-set on its version).
func (s *Store) SetServerStatus(ctx context.Context, id string, status domain.ServerStatus) error {
	srv, err := s.GetServer(ctx, id)
	if err != nil {
		return err
	}
	if srv.Status == status {
		return nil
	}
	if err := srv.Transition(status); err != nil {
		return err
	}
	srv.UpdatedAt = s.now()
	t := newTx()
	if err := t.update(prefixServers+id, srv, srv.Version, nil); err != nil {
		return err
	}
	_, err = s.commit(ctx, t)
	return err
}

// CreateService adds a service to an existing server.
func (s *Store) CreateService(ctx context.Context, svc *domain.Service) error {
	return withRefRetry(func() error { return s.createService(ctx, svc) })
}

func (s *Store) createService(ctx context.Context, svc *domain.Service) error {
	srv, err := s.GetServer(ctx, svc.ServerID)
	if err != nil {
		return err
	}
	t := newTx()
	if err := s.addService(t, svc); err != nil {
		return err
	}
	t.add(Op{Verb: OpCheckIndex, Key: prefixServers + srv.ID, Index: srv.Version}, errRefChanged)
	pairs, err := s.commit(ctx, t)
	if err != nil {
		return err
	}
	svc.Version = versionOf(pairs, 0)
	return nil
}

// GetService returns the service with id.
func (s *Store) GetService(ctx context.Context, id string) (*domain.Service, error) {
	return get(ctx, s.kv, prefixServices+id, "service", id, setServiceVersion)
}

// ListServices returns every service.
func (s *Store) ListServices(ctx context.Context) ([]domain.Service, error) {
	return list(ctx, s.kv, prefixServices, setServiceVersion)
}

// ServicesOf returns the services of one server.
func (s *Store) ServicesOf(ctx context.Context, serverID string) ([]domain.Service, error) {
	all, err := s.ListServices(ctx)
	if err != nil {
		return nil, err
	}
	var out []domain.Service
	for _, svc := range all {
		if svc.ServerID == serverID {
			out = append(out, svc)
		}
	}
	return out, nil
}

// ServiceOf returns the service of type typ on a server.
func (s *Store) ServiceOf(ctx context.Context, serverID string, typ domain.ServiceType) (*domain.Service, error) {
	p, err := s.kv.Get(ctx, uniqueKey("service", serverID+"/"+string(typ)))
	if err != nil {
		return nil, fmt.Errorf("server %s has no %s service: %w", serverID, typ, domain.NotFound("service", serverID+"/"+string(typ)))
	}
	return s.GetService(ctx, string(p.Value))
}

// UpdateService stores svc (port, settings); kind and server are fixed.
func (s *Store) UpdateService(ctx context.Context, svc *domain.Service) error {
	old, err := s.GetService(ctx, svc.ID)
	if err != nil {
		return err
	}
	svc.ServerID, svc.Type, svc.Kind, svc.CreatedAt, svc.UpdatedAt = old.ServerID, old.Type, old.Kind, old.CreatedAt, s.now()
	if err := svc.Validate(); err != nil {
		return err
	}
	t := newTx()
	if err := t.update(prefixServices+svc.ID, svc, svc.Version, nil); err != nil {
		return err
	}
	pairs, err := s.commit(ctx, t)
	if err != nil {
		return err
	}
	svc.Version = versionOf(pairs, 0)
	return nil
}

// DeleteService removes a service.
func (s *Store) DeleteService(ctx context.Context, id string, version uint64) error {
	svc, err := s.GetService(ctx, id)
	if err != nil {
		return err
	}
	t := newTx()
	t.deleteCAS(prefixServices+id, version, nil)
	t.add(Op{Verb: OpDelete, Key: uniqueKey("service", svc.ServerID+"/"+string(svc.Type))}, nil)
	_, err = s.commit(ctx, t)
	return err
}
