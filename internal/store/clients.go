package store

import (
	"context"
	"fmt"

	"github.com/aegirhq/aegir/internal/domain"
)

func setClientVersion(c *domain.Client, v uint64) { c.Version = v }

// CreateClient validates c, gives it an id and stores it; its name must be
// unique.
func (s *Store) CreateClient(ctx context.Context, c *domain.Client) error {
	if err := c.Validate(); err != nil {
		return err
	}
	c.ID = domain.NewID()
	c.CreatedAt, c.UpdatedAt = s.now(), s.now()
	t := newTx()
	if err := t.create(prefixClients+c.ID, c, nil); err != nil {
		return err
	}
	t.claim("client", c.Name, c.ID)
	pairs, err := s.commit(ctx, t)
	if err != nil {
		return err
	}
	c.Version = versionOf(pairs, 0)
	return nil
}

// GetClient returns the client with id.
func (s *Store) GetClient(ctx context.Context, id string) (*domain.Client, error) {
	return get(ctx, s.kv, prefixClients+id, "client", id, setClientVersion)
}

// ListClients returns every client.
func (s *Store) ListClients(ctx context.Context) ([]domain.Client, error) {
	return list(ctx, s.kv, prefixClients, setClientVersion)
}

// ClientByName returns the client called name.
func (s *Store) ClientByName(ctx context.Context, name string) (*domain.Client, error) {
	id, err := s.lookupUnique(ctx, "client", name)
	if err != nil {
		return nil, err
	}
	if id == "" {
		return nil, domain.NotFound("client", name)
	}
	return s.GetClient(ctx, id)
}

// UpdateClient stores c if nobody changed it since c.Version was read.
func (s *Store) UpdateClient(ctx context.Context, c *domain.Client) error {
	if err := c.Validate(); err != nil {
		return err
	}
	old, err := s.GetClient(ctx, c.ID)
	if err != nil {
		return err
	}
	c.CreatedAt, c.UpdatedAt = old.CreatedAt, s.now()
	t := newTx()
	if err := t.update(prefixClients+c.ID, c, c.Version, nil); err != nil {
		return err
	}
	if old.Name != c.Name {
		t.release("client", old.Name)
		t.claim("client", c.Name, c.ID)
	}
	pairs, err := s.commit(ctx, t)
	if err != nil {
		return err
	}
	c.Version = versionOf(pairs, 0)
	return nil
}

// DeleteClient removes a client that owns no sites.
func (s *Store) DeleteClient(ctx context.Context, id string, version uint64) error {
	c, err := s.GetClient(ctx, id)
	if err != nil {
		return err
	}
	sites, err := s.ListSites(ctx, SiteFilter{ClientID: id, Limit: 1})
	if err != nil {
		return err
	}
	if sites.Total > 0 {
		return fmt.Errorf("client %s still owns %d sites; delete or move them first: %w", c.Name, sites.Total, domain.ErrConflict)
	}
	t := newTx()
	t.deleteCAS(prefixClients+id, version, nil)
	t.release("client", c.Name)
	t.add(Op{Verb: OpDelete, Key: prefixQuotaGuards + id}, nil)
	_, err = s.commit(ctx, t)
	return err
}
