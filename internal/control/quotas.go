package control

import (
	"context"
	"maps"

	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
)

// guard returns ctx carrying the quota guard of client clientID when the
// actor is one of its users: the store write made with it is checked
// against the client's quotas in its own transaction (store.WithQuota),
// so parallel requests cannot together go over them. Admins are not held
// to quotas; what they make still counts.
func (b *base) guard(ctx context.Context, a Actor, clientID string) (context.Context, error) {
	if a.Admin() {
		return ctx, nil
	}
	cl, err := b.st.GetClient(ctx, clientID)
	if err != nil {
		return nil, err
	}
	defaults, err := b.quotaDefaults(ctx)
	if err != nil {
		return nil, err
	}
	return store.WithQuota(ctx, store.QuotaGuard{
		ClientID: cl.ID, ClientName: cl.Name, Limits: defaults.Over(cl.Quotas),
	}), nil
}

// quotaDefaults are every client's default quotas: the configuration's
// (Config.Quotas) with those an admin stored over them.
func (b *base) quotaDefaults(ctx context.Context) (domain.Quotas, error) {
	stored, _, err := b.st.QuotaDefaults(ctx)
	if err != nil {
		return nil, err
	}
	return b.quotas.Over(stored), nil
}

// Defaults returns the quota defaults (admins).
func (s *Clients) Defaults(ctx context.Context, a Actor) (*apiv1.QuotaDefaults, error) {
	if err := a.admin("read the quota defaults"); err != nil {
		return nil, err
	}
	stored, version, err := s.st.QuotaDefaults(ctx)
	if err != nil {
		return nil, err
	}
	return &apiv1.QuotaDefaults{Config: s.quotas.Over(nil), Overrides: cmpOr(stored, domain.Quotas{}),
		Defaults: s.quotas.Over(stored), Version: version}, nil
}

// SetDefaults stores the quota defaults that override the configuration's
// (admins; check-and-set on req.Version, 0 when never set). The change is
// on the audit log.
func (s *Clients) SetDefaults(ctx context.Context, a Actor, req apiv1.QuotaDefaultsUpdate) (*apiv1.QuotaDefaults, error) {
	if err := a.admin("change the quota defaults"); err != nil {
		return nil, err
	}
	old, _, err := s.st.QuotaDefaults(ctx)
	if err != nil {
		return nil, err
	}
	type defaults struct {
		Quotas domain.Quotas `json:"quotas"`
	}
	ctx = a.recordChange(ctx, "quota_defaults", "", "", defaults{old}, defaults{req.Overrides})
	if _, err := s.st.SetQuotaDefaults(ctx, req.Overrides, req.Version); err != nil {
		return nil, err
	}
	return s.Defaults(ctx, a)
}

// Quota returns client id's quotas and what it holds of them.
func (s *Clients) Quota(ctx context.Context, a Actor, id string) (*apiv1.ClientQuota, error) {
	cl, err := s.Get(ctx, a, id)
	if err != nil {
		return nil, err
	}
	usage, err := s.st.QuotaUsage(ctx, cl.ID)
	if err != nil {
		return nil, err
	}
	defaults, err := s.quotaDefaults(ctx)
	if err != nil {
		return nil, err
	}
	return &apiv1.ClientQuota{
		Defaults:  defaults,
		Overrides: cmpOr(maps.Clone(cl.Quotas), domain.Quotas{}),
		Limits:    defaults.Over(cl.Quotas),
		Usage:     usage,
	}, nil
}

// checkBackupReason refuses a client user's backup that claims to be
// other than manual: the other reasons are the system's (scheduled
// backups, which retention prunes, and those tasks make before a
// restore, delete or migrate), and claiming one would escape the backups
// quota.
func checkBackupReason(a Actor, typ domain.TaskType, args map[string]string) error {
	if a.Admin() || typ != domain.TaskBackup {
		return nil
	}
	if r := args["reason"]; r != "" && r != "manual" {
		return domain.Invalid("args.reason", "only the server makes %s backups; leave reason empty for a manual backup", domain.Clip(r))
	}
	return nil
}

func cmpOr(q, or domain.Quotas) domain.Quotas {
	if q == nil {
		return or
	}
	return q
}
