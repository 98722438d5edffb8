package control

import (
	"context"
	"slices"
	"strings"

	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/domain"
)

// Clients reads clients within the actor's scope and changes them
// (admins).
type Clients struct{ *base }

// List lists the clients the actor may see, sorted by name.
func (s *Clients) List(ctx context.Context, a Actor) ([]domain.Client, error) {
	all, err := s.st.ListClients(ctx)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, cl := range all {
		if a.CanSee(cl.ID) {
			out = append(out, cl)
		}
	}
	slices.SortFunc(out, func(a, b domain.Client) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Get loads a client the actor may see.
func (s *Clients) Get(ctx context.Context, a Actor, id string) (*domain.Client, error) {
	cl, err := s.st.GetClient(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := a.visible("client", id, cl.ID); err != nil {
		return nil, err
	}
	return cl, nil
}

// Create creates a client (admins).
func (s *Clients) Create(ctx context.Context, a Actor, req apiv1.ClientCreate) (*domain.Client, error) {
	if err := a.admin("create clients"); err != nil {
		return nil, err
	}
	cl := &domain.Client{Name: req.Name, Title: req.Title, Email: req.Email, Quotas: req.Quotas}
	ctx = a.record(ctx, "create", "client", "", "", func(e *domain.AuditEntry) {
		e.ObjectID, e.ClientID, e.Fields = cl.ID, cl.ID, domain.AuditFields(nil, cl)
	})
	if err := s.st.CreateClient(ctx, cl); err != nil {
		return nil, err
	}
	return cl, nil
}

// Update changes client id to cl (admins; check-and-set on cl.Version).
func (s *Clients) Update(ctx context.Context, a Actor, id string, cl *domain.Client) error {
	if err := a.admin("change clients"); err != nil {
		return err
	}
	old, err := s.Get(ctx, a, id)
	if err != nil {
		return err
	}
	if cl.ID != "" && cl.ID != old.ID {
		return domain.Invalid("id", "does not match the client in the URL")
	}
	if err := needVersion(cl.Version); err != nil {
		return err
	}
	cl.ID = old.ID
	ctx = a.recordChange(ctx, "client", cl.ID, cl.ID, old, cl)
	return s.st.UpdateClient(ctx, cl)
}

// Delete deletes a client that owns no sites (admins), if it is still at
// version.
func (s *Clients) Delete(ctx context.Context, a Actor, id string, version uint64) error {
	if err := a.admin("delete clients"); err != nil {
		return err
	}
	cl, err := s.Get(ctx, a, id)
	if err != nil {
		return err
	}
	ctx = a.record(ctx, "delete", "client", cl.ID, cl.ID, nil)
	return s.st.DeleteClient(ctx, cl.ID, version)
}
