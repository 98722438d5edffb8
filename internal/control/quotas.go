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
	return store.WithQuota(ctx, store.QuotaGuard{
		ClientID: cl.ID, ClientName: cl.Name, Limits: b.quotas.Over(cl.Quotas),
	}), nil
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
	return &apiv1.ClientQuota{
		Defaults:  s.quotas.Over(nil),
		Overrides: cmpOr(maps.Clone(cl.Quotas), domain.Quotas{}),
		Limits:    s.quotas.Over(cl.Quotas),
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
