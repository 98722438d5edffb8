package control

import (
	"context"
	"errors"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
)

// Backups reads backups within the actor's scope and queues their
// deletion. Backups themselves are written only by the results of tasks.
type Backups struct{ *base }

// List lists the backups the actor may see, of site siteID when it is not
// "", newest first.
func (s *Backups) List(ctx context.Context, a Actor, siteID string) ([]domain.Backup, error) {
	bs, err := s.st.ListBackups(ctx, siteID, a.Scope())
	for i := range bs {
		shapeBackup(a, &bs[i])
	}
	return bs, err
}

// Get loads a backup of a site the actor may see, as their role may see
// it (shapeBackup).
func (s *Backups) Get(ctx context.Context, a Actor, id string) (*domain.Backup, error) {
	b, err := s.Open(ctx, a, id)
	if err != nil {
		return nil, err
	}
	shapeBackup(a, b)
	return b, nil
}

// Open loads a backup of a site the actor may see with where its archive
// is, for a transport that streams the archive to them. The path is for
// opening the file, never to be shown to a client user.
func (s *Backups) Open(ctx context.Context, a Actor, id string) (*domain.Backup, error) {
	b, err := s.st.GetBackup(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := a.visible("backup", id, b.ClientID); err != nil {
		return nil, err
	}
	return b, nil
}

// shapeBackup leaves in a backup what the actor's role may see: where the
// archive lies on the server's disk (its path) is the operator's, as a
// platform's path is (shapePlatform), and is cleared for client users;
// they download it through the API.
func shapeBackup(a Actor, b *domain.Backup) {
	if !a.Admin() {
		b.Path = ""
	}
}

// Delete queues delete-backup on the backup's site, or, when the site is
// gone (its final backup and older ones, kept for site create
// -from-backup), delete-backup-of-deleted-site on the server holding the
// archive. Either removes the archive and then the record. When that
// server was deleted from aegir too, nothing can remove the archive: the
// record goes at once and the task returned is already succeeded, its
// summary saying so (store.RequestDeletedSiteBackupTask). A client user
// may delete only their own client's backups (Get: another's is not
// found).
func (s *Backups) Delete(ctx context.Context, a Actor, id string) (*domain.Task, error) {
	b, err := s.Get(ctx, a, id)
	if err != nil {
		return nil, err
	}
	if ctx, err = s.guard(ctx, a, b.ClientID); err != nil {
		return nil, err
	}
	gone, err := s.siteGone(ctx, b.SiteID)
	if err != nil {
		return nil, err
	}
	for tries := 1; ; tries++ {
		typ := domain.TaskDeleteBackup
		if gone {
			typ = domain.TaskDeleteBackupOfDeletedSite
		}
		rctx := a.recordTask(ctx, "backup", b.ID, b.ClientID, typ, nil)
		var task *domain.Task
		if gone {
			task, err = s.st.RequestDeletedSiteBackupTask(rctx, b.ID, typ, a.Name())
		} else {
			task, err = s.st.RequestSiteTask(rctx, b.SiteID, typ, map[string]string{"backup_id": b.ID}, a.Name())
		}
		if err == nil && task.Status.Done() {
			// The server is gone too: the record was removed at once, and
			// the task's summary says where the archive was (a path, which
			// a client user does not see).
			return task, (&Tasks{s.base}).redactOne(ctx, a, task)
		}
		if err == nil || tries == 2 {
			return task, err
		}
		// The site was deleted, or brought back, meanwhile: the other
		// task type, once.
		if now, nerr := s.siteGone(ctx, b.SiteID); nerr != nil || now == gone {
			return nil, err
		}
		gone = !gone
	}
}

// siteGone reports whether site id no longer exists.
func (s *Backups) siteGone(ctx context.Context, id string) (bool, error) {
	_, err := s.st.GetSite(ctx, id)
	if errors.Is(err, domain.ErrNotFound) {
		return true, nil
	}
	return false, err
}

// Packages lists packages, releases and where they are installed.
// Packages and releases are public to every user; instances are scoped.
type Packages struct{ *base }

// List lists the packages.
func (s *Packages) List(ctx context.Context, a Actor) ([]domain.Package, error) {
	return s.st.ListPackages(ctx)
}

// Releases lists the releases, of package packageID when it is not "".
func (s *Packages) Releases(ctx context.Context, a Actor, packageID string) ([]domain.PackageRelease, error) {
	all, err := s.st.ListReleases(ctx)
	if err != nil || packageID == "" {
		return all, err
	}
	out := all[:0]
	for _, r := range all {
		if r.PackageID == packageID {
			out = append(out, r)
		}
	}
	return out, nil
}

// Instances lists where packages are installed, of kind and target when
// they are not "". A client user sees only the instances on their own
// sites.
func (s *Packages) Instances(ctx context.Context, a Actor, kind, target string) ([]domain.PackageInstance, error) {
	all, err := s.st.ListInstances(ctx)
	if err != nil {
		return nil, err
	}
	var mine map[string]bool
	if scope := a.Scope(); scope != nil {
		mine = map[string]bool{}
		for off := 0; ; off += 1000 {
			p, err := s.st.ListSites(ctx, store.SiteFilter{ClientIDs: scope, Offset: off, Limit: 1000})
			if err != nil {
				return nil, err
			}
			for _, st := range p.Items {
				mine[st.ID] = true
			}
			if off+1000 >= p.Total {
				break
			}
		}
	}
	out := all[:0]
	for _, in := range all {
		if mine != nil && (in.TargetKind != domain.TargetSite || !mine[in.TargetID]) ||
			kind != "" && string(in.TargetKind) != kind || target != "" && in.TargetID != target {
			continue
		}
		out = append(out, in)
	}
	return out, nil
}
