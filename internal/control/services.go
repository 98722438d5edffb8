package control

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/servicekind"
)

// Services reads and changes the services of servers; like servers, all
// of it is for admins.
type Services struct{ *base }

// List lists the services, of server serverID when it is not "".
func (s *Services) List(ctx context.Context, a Actor, serverID string) ([]domain.Service, error) {
	if err := a.admin("list services"); err != nil {
		return nil, err
	}
	all, err := s.st.ListServices(ctx)
	if err != nil {
		return nil, err
	}
	if serverID != "" {
		all = slices.DeleteFunc(all, func(v domain.Service) bool { return v.ServerID != serverID })
	}
	slices.SortFunc(all, func(a, b domain.Service) int {
		return cmp.Or(strings.Compare(a.ServerID, b.ServerID), strings.Compare(string(a.Type), string(b.Type)))
	})
	return all, nil
}

// Of lists the services of one server.
func (s *Services) Of(ctx context.Context, a Actor, serverID string) ([]domain.Service, error) {
	if err := a.adminEntity("server", serverID); err != nil {
		return nil, err
	}
	return s.st.ServicesOf(ctx, serverID)
}

// Get loads a service.
func (s *Services) Get(ctx context.Context, a Actor, id string) (*domain.Service, error) {
	if err := a.adminEntity("service", id); err != nil {
		return nil, err
	}
	return s.st.GetService(ctx, id)
}

// Create adds a service to the server given by id or name.
func (s *Services) Create(ctx context.Context, a Actor, req apiv1.ServiceCreate) (*domain.Service, error) {
	if err := a.admin("create services"); err != nil {
		return nil, err
	}
	sid, err := s.resolveServer(ctx, "server", req.ServerID, req.Server)
	if err != nil {
		return nil, err
	}
	svc := serviceOf(req)
	svc.ServerID = sid
	if err := checkSettings("settings", svc.Kind, svc.Settings); err != nil {
		return nil, err
	}
	ctx = a.record(ctx, "create", "service", "", "", func(e *domain.AuditEntry) {
		e.ObjectID, e.Fields = svc.ID, domain.AuditFields(nil, svc)
	})
	if err := s.st.CreateService(ctx, &svc); err != nil {
		return nil, err
	}
	return &svc, nil
}

// Update changes service id's port and settings to svc's (check-and-set
// on svc.Version).
func (s *Services) Update(ctx context.Context, a Actor, id string, svc *domain.Service) error {
	if err := a.adminEntity("service", id); err != nil {
		return err
	}
	if svc.ID != "" && svc.ID != id {
		return domain.Invalid("id", "does not match the service in the URL")
	}
	if err := needVersion(svc.Version); err != nil {
		return err
	}
	old, err := s.st.GetService(ctx, id)
	if err != nil {
		return err
	}
	// The kind cannot change (the store keeps the stored one), so the
	// settings are checked against the stored kind's.
	if err := checkSettings("settings", old.Kind, svc.Settings); err != nil {
		return err
	}
	svc.ID = id
	ctx = a.recordChange(ctx, "service", id, "", old, svc)
	return s.st.UpdateService(ctx, svc)
}

// Delete deletes a service, if it is still at version.
func (s *Services) Delete(ctx context.Context, a Actor, id string, version uint64) error {
	if err := a.adminEntity("service", id); err != nil {
		return err
	}
	ctx = a.record(ctx, "delete", "service", id, "", nil)
	return s.st.DeleteService(ctx, id, version)
}

// PutCredentials hands a database service's admin credentials to the
// secrets backend. Validation messages never quote the password.
func (s *Services) PutCredentials(ctx context.Context, a Actor, id string, req apiv1.Credentials) error {
	if err := a.adminEntity("service", id); err != nil {
		return err
	}
	if s.secrets == nil {
		return Unavailable("the secrets backend")
	}
	svc, err := s.st.GetService(ctx, id)
	if err != nil {
		return err
	}
	if svc.Type != domain.ServiceDB {
		return domain.Invalid("service", "only database services take admin credentials")
	}
	if err := domain.ValidateName("username", req.Username); err != nil {
		return err
	}
	if req.Password == "" || len(req.Password) > 1024 {
		return domain.Invalid("password", "must be 1 to 1024 characters")
	}
	if strings.ContainsFunc(req.Password, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return domain.Invalid("password", "must not contain control characters")
	}
	if err := s.secrets.PutServiceCredentials(ctx, svc.ID, req.Username, req.Password); err != nil {
		return err
	}
	// The credentials live in the secrets backend, not the store: the
	// entry is written after them, alone.
	e := a.entry("set_credentials", "service", svc.ID, "")
	e.Fields = map[string]string{"username": req.Username, "password": "(secret)"}
	return s.st.AppendAudit(ctx, e)
}

// checkSettings checks the settings a person sets on a service of kind,
// as its descriptor in internal/servicekind declares them: a key the
// driver does not read is refused, and each value set must pass the
// setting's check (absolute paths; a program named as the kind expects,
// so nginx's binary cannot be /bin/sh). Required keys left unset are
// verify-server's to report, so a service can be added before it is
// configured. An unknown kind is left to domain validation, which names
// the kinds there are. Errors are on field "<field>.<key>".
func checkSettings(field string, kind domain.ServiceKind, settings map[string]string) error {
	d, ok := servicekind.Lookup(kind)
	if !ok {
		return nil
	}
	keys := slices.Sorted(maps.Keys(settings))
	for _, k := range keys {
		// Every key a driver reads is a name; anything else is refused
		// before it is quoted back.
		if err := domain.ValidateName(field, k); err != nil {
			return err
		}
		if err := d.CheckValue(k, settings[k]); err != nil {
			return domain.Invalid(field+"."+domain.Clip(k), "%v", err)
		}
	}
	return nil
}

// serviceOf is the service a request describes.
func serviceOf(sc apiv1.ServiceCreate) domain.Service {
	return domain.Service{
		ServerID: sc.ServerID, Kind: domain.ServiceKind(sc.Kind), Type: domain.ServiceType(sc.Type),
		Port: sc.Port, Settings: sc.Settings,
	}
}
