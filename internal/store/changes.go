package store

import (
	"context"
	"fmt"

	"github.com/aegirhq/aegir/internal/domain"
)

// Change is one state change a task's result carries, applied by
// FinishTask in the same transaction that finishes the task. Each reads the
// entity's current version and writes it check-and-set.
type Change struct {
	name  string
	apply func(ctx context.Context, s *Store, t *tx) error
}

func (c Change) String() string { return c.name }

// EditSite applies edits, in order, to the current site and stores it
// once: a site is written at most once per transaction (its write is
// check-and-set on the version read), so every change a result makes to one
// site goes through a single EditSite. Names that came and went are claimed
// and freed in the same transaction.
func EditSite(id string, edits ...SiteEdit) Change {
	return Change{"edit site", func(ctx context.Context, s *Store, t *tx) error {
		site, err := s.GetSite(ctx, id)
		if err != nil {
			return err
		}
		old := *site
		old.Aliases = append([]string(nil), site.Aliases...)
		for _, e := range edits {
			if err := e(site); err != nil {
				return err
			}
		}
		if err := site.Normalize(); err != nil {
			return err
		}
		site.UpdatedAt = s.now()
		return s.putSiteOps(t, &old, site)
	}}
}

// SiteEdit is one edit of EditSite.
type SiteEdit func(*domain.Site) error

// StatusEdit moves a site through its state machine (no-op when it is
// already there).
func StatusEdit(to domain.SiteStatus) SiteEdit {
	return func(site *domain.Site) error {
		if site.Status == to {
			return nil
		}
		return site.Transition(to)
	}
}

// MoveEdit rewrites a site's domain, aliases, platform and database server
// (migrate).
func MoveEdit(newDomain string, aliases []string, platformID, dbServerID string) SiteEdit {
	return func(site *domain.Site) error {
		site.Domain, site.Aliases, site.PlatformID, site.DBServerID = newDomain, aliases, platformID, dbServerID
		return nil
	}
}

// UnixUserEdit records the site's Unix user on its web server, as the back
// end reported it (install, verify, restore, migrate keep or make it).
func UnixUserEdit(u *domain.UnixUser) SiteEdit {
	return func(site *domain.Site) error {
		c := *u
		site.UnixUser = &c
		return nil
	}
}

// CertificateEdit records the state of the site's certificate, as the
// back end reported it.
func CertificateEdit(c *domain.Certificate) SiteEdit {
	return func(site *domain.Site) error {
		v := *c
		site.Certificate = &v
		return nil
	}
}

// SetSiteStatus moves a site through its state machine.
func SetSiteStatus(id string, to domain.SiteStatus) Change { return EditSite(id, StatusEdit(to)) }

// MoveSite rewrites a site's domain, aliases, platform and database server.
func MoveSite(id, newDomain string, aliases []string, platformID, dbServerID string) Change {
	return EditSite(id, MoveEdit(newDomain, aliases, platformID, dbServerID))
}

// QueueTask queues a task of type typ on a target in the same transaction:
// the work a result leaves for later (release-old-place after a migrate).
// The target's state is not checked again; the task's spec checks its
// arguments.
func QueueTask(typ domain.TaskType, kind domain.TargetKind, targetID, targetName, clientID string, args map[string]string, by string) Change {
	return Change{"queue " + string(typ), func(_ context.Context, s *Store, t *tx) error {
		_, err := s.enqueue(t, typ, kind, targetID, targetName, clientID, args, by)
		return err
	}}
}

// AddSite creates a site that a task brought into being (clone, import),
// claiming its names. Its status is taken as given.
func AddSite(site *domain.Site) Change {
	return Change{"add site " + site.Domain, func(ctx context.Context, s *Store, t *tx) error {
		if site.ID == "" {
			site.ID = domain.NewID()
		}
		if err := site.Normalize(); err != nil {
			return err
		}
		site.CreatedAt, site.UpdatedAt = s.now(), s.now()
		t.touches[&s.sites.mirrorBase] = true
		if err := t.create(prefixSites+site.ID, site, nil); err != nil {
			return err
		}
		for _, n := range site.Names() {
			claimDomain(t, n, site.ID)
		}
		return nil
	}}
}

// ImportSite creates a site an import found on its platform, unless one of
// its names already belongs to a site aegir knows: an import proposes every
// site it finds, known ones included, and skips those instead of failing.
func ImportSite(site *domain.Site) Change {
	return Change{"import site " + site.Domain, func(ctx context.Context, s *Store, t *tx) error {
		if err := site.Normalize(); err != nil {
			return err
		}
		for _, n := range site.Names() {
			owner, err := s.lookupUnique(ctx, "domain", n)
			if err != nil {
				return err
			}
			if owner != "" {
				return nil
			}
		}
		return AddSite(site).apply(ctx, s, t)
	}}
}

// RemoveSite deletes a site record and frees its names.
func RemoveSite(id string) Change {
	return Change{"remove site", func(ctx context.Context, s *Store, t *tx) error {
		site, err := s.GetSite(ctx, id)
		if err != nil {
			return err
		}
		s.deleteSiteOps(t, site)
		return nil
	}}
}

// AddBackup records a backup archive.
func AddBackup(b *domain.Backup) Change {
	return Change{"add backup", func(ctx context.Context, s *Store, t *tx) error {
		if b.ID == "" {
			b.ID = domain.NewID()
		}
		if b.CreatedAt.IsZero() {
			b.CreatedAt = s.now()
		}
		return t.create(prefixBackups+b.ID, b, nil)
	}}
}

// RemoveBackup deletes a backup record (its archive is removed by the task).
func RemoveBackup(id string) Change {
	return Change{"remove backup", func(ctx context.Context, s *Store, t *tx) error {
		b, err := s.GetBackup(ctx, id)
		if err != nil {
			return err
		}
		t.deleteCAS(prefixBackups+b.ID, b.Version, nil)
		return nil
	}}
}

// UpdatePlatform applies fn to the current platform and stores it.
func UpdatePlatform(id string, fn func(*domain.Platform) error) Change {
	return Change{"update platform", func(ctx context.Context, s *Store, t *tx) error {
		p, err := s.GetPlatform(ctx, id)
		if err != nil {
			return err
		}
		if err := fn(p); err != nil {
			return err
		}
		return s.putPlatform(ctx, t, p)
	}}
}

// RemovePlatform deletes a platform record; it refuses while sites remain.
func RemovePlatform(id string) Change {
	return Change{"remove platform", func(ctx context.Context, s *Store, t *tx) error {
		p, err := s.GetPlatform(ctx, id)
		if err != nil {
			return err
		}
		sites, err := s.ListSites(ctx, SiteFilter{PlatformID: id, Limit: 1})
		if err != nil {
			return err
		}
		if sites.Total > 0 {
			return fmt.Errorf("platform %s still has %d sites: %w", p.Name, sites.Total, domain.ErrConflict)
		}
		s.deletePlatform(t, p)
		return nil
	}}
}

// SetServerStatusChange moves a server through its state machine.
func SetServerStatusChange(id string, to domain.ServerStatus) Change {
	return Change{"server status " + string(to), func(ctx context.Context, s *Store, t *tx) error {
		srv, err := s.GetServer(ctx, id)
		if err != nil {
			return err
		}
		if srv.Status == to {
			return nil
		}
		if err := srv.Transition(to); err != nil {
			return err
		}
		srv.UpdatedAt = s.now()
		return t.update(prefixServers+id, srv, srv.Version, nil)
	}}
}
