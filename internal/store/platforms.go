package store

import (
	"context"
	"fmt"

	"github.com/aegirhq/aegir/internal/domain"
)

func setPlatformVersion(v *domain.Platform, n uint64) { v.Version = n }

// CreatePlatform stores a platform on a web server and queues its
// verify-platform task in the same transaction.
func (s *Store) CreatePlatform(ctx context.Context, p *domain.Platform, by string) (task *domain.Task, err error) {
	err = withRefRetry(func() error {
		task, err = s.createPlatform(ctx, p, by)
		return err
	})
	return task, err
}

func (s *Store) createPlatform(ctx context.Context, p *domain.Platform, by string) (*domain.Task, error) {
	p.ID = domain.NewID()
	p.Status = domain.PlatformPending
	if err := p.Validate(s.cfg.PlatformRoots); err != nil {
		return nil, err
	}
	srv, err := s.GetServer(ctx, p.WebServerID)
	if err != nil {
		return nil, fmt.Errorf("web_server_id: %w", err)
	}
	if _, err := s.ServiceOf(ctx, srv.ID, domain.ServiceHTTP); err != nil {
		return nil, domain.Invalid("web_server_id", "server %s has no http service; add one first", srv.Name)
	}
	p.CreatedAt, p.UpdatedAt = s.now(), s.now()
	t := newTx()
	if err := t.create(prefixPlatforms+p.ID, p, nil); err != nil {
		return nil, err
	}
	t.claim("platform", p.Name, p.ID)
	t.add(Op{Verb: OpCheckIndex, Key: prefixServers + srv.ID, Index: srv.Version}, errRefChanged)
	task, err := s.enqueue(t, domain.TaskVerifyPlatform, domain.TargetPlatform, p.ID, p.Name, "", nil, by)
	if err != nil {
		return nil, err
	}
	pairs, err := s.commit(ctx, t)
	if err != nil {
		return nil, err
	}
	p.Version = versionOf(pairs, 0)
	return task, nil
}

// GetPlatform returns the platform with id.
func (s *Store) GetPlatform(ctx context.Context, id string) (*domain.Platform, error) {
	return get(ctx, s.kv, prefixPlatforms+id, "platform", id, setPlatformVersion)
}

// PlatformByName returns the platform called name.
func (s *Store) PlatformByName(ctx context.Context, name string) (*domain.Platform, error) {
	id, err := s.lookupUnique(ctx, "platform", name)
	if err != nil {
		return nil, err
	}
	if id == "" {
		return nil, domain.NotFound("platform", name)
	}
	return s.GetPlatform(ctx, id)
}

// ListPlatforms returns every platform.
func (s *Store) ListPlatforms(ctx context.Context) ([]domain.Platform, error) {
	return list(ctx, s.kv, prefixPlatforms, setPlatformVersion)
}

// PutPlatform stores a changed platform (status, lock, release), check-and-set
// on its version. Name, path, server and type never change: a platform is an
// immutable release.
func (s *Store) PutPlatform(ctx context.Context, p *domain.Platform) error {
	t := newTx()
	if err := s.putPlatform(ctx, t, p); err != nil {
		return err
	}
	pairs, err := s.commit(ctx, t)
	if err != nil {
		return err
	}
	p.Version = versionOf(pairs, 0)
	return nil
}

func (s *Store) putPlatform(ctx context.Context, t *tx, p *domain.Platform) error {
	old, err := s.GetPlatform(ctx, p.ID)
	if err != nil {
		return err
	}
	if old.Name != p.Name || old.Path != p.Path || old.WebServerID != p.WebServerID || old.Type != p.Type {
		return domain.Invalid("platform", "name, path, web server and type of a platform cannot change; create a new platform and migrate sites to it")
	}
	p.CreatedAt, p.UpdatedAt = old.CreatedAt, s.now()
	return t.update(prefixPlatforms+p.ID, p, p.Version, nil)
}

// deletePlatform removes the platform record and its name.
func (s *Store) deletePlatform(t *tx, p *domain.Platform) {
	t.deleteCAS(prefixPlatforms+p.ID, p.Version, nil)
	t.release("platform", p.Name)
}
