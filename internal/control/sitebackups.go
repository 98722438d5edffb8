package control

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision/archive"
)

// CreateFromBackup brings a deleted site back from one of its backups: a
// site with the backup's site id (so its older backups and tasks are its
// own again), on the platform and database server req names, whose
// install restores the backup. The domain defaults to the backup's and the
// owner to the backup's client. A site of that id that still exists is a
// conflict (restore it instead), and so is a domain another site has now.
func (s *Sites) CreateFromBackup(ctx context.Context, a Actor, req apiv1.SiteCreate) (*domain.Site, *domain.Task, error) {
	b, err := (&Backups{s.base}).Get(ctx, a, req.FromBackup)
	if err != nil {
		if errors.Is(err, domain.ErrNotFound) {
			return nil, nil, domain.Invalid("from_backup", "no backup %q (aegir backup list shows the backups you may see)", Clip(req.FromBackup))
		}
		return nil, nil, err
	}
	req.Domain = cmp.Or(req.Domain, b.Domain)
	if req.ClientID == "" && req.Client == "" {
		req.ClientID = b.ClientID
	}
	site, err := s.newSite(ctx, a, req)
	if err != nil {
		return nil, nil, err
	}
	if ctx, err = s.guard(ctx, a, site.ClientID); err != nil {
		return nil, nil, err
	}
	ctx = a.record(ctx, "create", "site", b.SiteID, site.ClientID, func(e *domain.AuditEntry) {
		if e.Fields = domain.AuditFields(nil, site); e.Fields == nil {
			e.Fields = map[string]string{}
		}
		e.Fields["from_backup"] = b.ID
	})
	task, err := s.st.CreateSiteFromBackup(ctx, site, b, a.Name())
	if err != nil {
		return nil, nil, err
	}
	return site, task, nil
}

// Import makes a new site from an uploaded backup archive, read from body:
// the archive is streamed into the import directory (at most
// Config.MaxImportSize bytes, or domain.ErrTooLarge), then read whole and
// checked entry by entry against its manifest (no entry outside files/, no
// "..", no link followed, every checksum) before anything else is written.
// A bad archive is a *domain.ValidationError and leaves nothing behind. The
// archive's site type and database kind must match the platform's and the
// database server's. The new site gets a new id and the archive's domain
// unless req names another; its install restores the archive, which is
// recorded as a backup of the site (reason "import") in the same store
// transaction.
func (s *Sites) Import(ctx context.Context, a Actor, req apiv1.SiteImport, body io.Reader) (*domain.Site, *domain.Task, error) {
	if s.importDir == "" {
		return nil, nil, Unavailable("An import directory")
	}
	// Where the site goes is checked before the upload is read: a typo
	// costs no transfer.
	probeDomain := cmp.Or(req.Domain, "import.invalid")
	site, err := s.newSite(ctx, a, apiv1.SiteCreate{Domain: probeDomain, PlatformID: req.PlatformID, Platform: req.Platform,
		DBServerID: req.DBServerID, DBServer: req.DBServer, ClientID: req.ClientID, Client: req.Client})
	if err != nil {
		return nil, nil, err
	}
	if req.Domain != "" {
		if owner, err := s.st.SiteByDomain(ctx, site.Domain); err == nil {
			return nil, nil, &domain.DuplicateError{Kind: "domain", Value: site.Domain, OwnerID: owner.ID}
		}
	}
	p, err := s.st.GetPlatform(ctx, site.PlatformID)
	if err != nil {
		return nil, nil, err
	}
	dbSvc, err := s.st.ServiceOf(ctx, site.DBServerID, domain.ServiceDB)
	if err != nil {
		return nil, nil, domain.Invalid("db_server", "the server has no database service")
	}
	if err := os.MkdirAll(s.importDir, 0o750); err != nil {
		return nil, nil, fmt.Errorf("import directory: %w", err)
	}
	s.sweepUploads(time.Now())
	tmp, sum, size, err := s.receive(body)
	if err != nil {
		return nil, nil, err
	}
	keep := false
	defer func() {
		if !keep {
			_ = os.Remove(tmp)
		}
	}()
	m, err := archive.Verify(ctx, tmp, sum, nil)
	if errors.Is(err, archive.ErrCorrupt) {
		return nil, nil, domain.Invalid("archive", "not a site archive aegir can restore: %v", err)
	}
	if err != nil {
		return nil, nil, err
	}
	if m.PlatformType != "" && m.PlatformType != string(p.Type) {
		return nil, nil, domain.Invalid("platform", "the archive is of a %s site; platform %s is of type %s", m.PlatformType, p.Name, p.Type)
	}
	if m.DBKind != "" && m.DBKind != string(dbSvc.Kind) {
		return nil, nil, domain.Invalid("db_server", "the archive holds a %s database dump; that server's database service is %s", m.DBKind, dbSvc.Kind)
	}
	if req.Domain == "" {
		if site.Domain, err = domain.NormalizeDomain(m.Domain); err != nil {
			return nil, nil, domain.Invalid("domain", "the archive's domain %q is not usable (%v); give one", Clip(m.Domain), err)
		}
	}
	if owner, err := s.st.SiteByDomain(ctx, site.Domain); err == nil {
		return nil, nil, &domain.DuplicateError{Kind: "domain", Value: site.Domain, OwnerID: owner.ID}
	}
	b := &domain.Backup{ID: domain.NewID(), SiteID: domain.NewID(), ServerID: p.WebServerID, Size: size, SHA256: sum, Reason: domain.BackupImported}
	b.Path = filepath.Join(s.importDir, b.ID+".tar.zst")
	if err := os.Rename(tmp, b.Path); err != nil {
		return nil, nil, fmt.Errorf("import directory: %w", err)
	}
	tmp = b.Path
	if ctx, err = s.guard(ctx, a, site.ClientID); err != nil {
		return nil, nil, err
	}
	ctx = a.record(ctx, "import", "site", b.SiteID, site.ClientID, func(e *domain.AuditEntry) {
		if e.Fields = domain.AuditFields(nil, site); e.Fields == nil {
			e.Fields = map[string]string{}
		}
		e.Fields["archive_domain"], e.Fields["archive_bytes"] = Clip(m.Domain), fmt.Sprint(size)
	})
	task, err := s.st.CreateSiteFromBackup(ctx, site, b, a.Name())
	if err != nil {
		return nil, nil, err
	}
	keep = true
	return site, task, nil
}

// ImportLimit is the largest archive Import takes, in bytes
// (Config.MaxImportSize): a transport refuses a request that declares a
// longer body before reading it.
func (s *Sites) ImportLimit() int64 { return s.maxImportSize }

// staleUpload is how long an upload's file may go unwritten before the
// next import takes it for one a crashed API process left behind: a
// transfer in progress writes its file all the time.
const staleUpload = time.Hour

// sweepUploads removes the upload files (.upload-*) of the import
// directory that nobody has written to for staleUpload: an API process
// killed mid-upload never removes its own. Each removal is logged.
func (s *Sites) sweepUploads(now time.Time) {
	entries, err := os.ReadDir(s.importDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), ".upload-") {
			continue
		}
		info, err := e.Info()
		if err != nil || now.Sub(info.ModTime()) < staleUpload {
			continue
		}
		path := filepath.Join(s.importDir, e.Name())
		if err := os.Remove(path); err == nil {
			s.log.Info("removed an upload a stopped API process left behind", "path", path, "bytes", info.Size(), "last_written", info.ModTime().UTC())
		}
	}
}

// receive streams body into a new file of the import directory, hashing
// it, and returns the file, its sha256 and size. A body larger than
// maxImportSize is refused with domain.ErrTooLarge, its file removed.
func (s *Sites) receive(body io.Reader) (path, sum string, size int64, err error) {
	f, err := os.CreateTemp(s.importDir, ".upload-*.tar.zst")
	if err != nil {
		return "", "", 0, fmt.Errorf("import directory: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(f.Name())
		}
	}()
	h := sha256.New()
	size, err = io.Copy(io.MultiWriter(f, h), io.LimitReader(body, s.maxImportSize+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", "", 0, fmt.Errorf("receive the archive: %w", err)
	}
	if size > s.maxImportSize {
		return "", "", 0, fmt.Errorf("the archive is larger than the %d bytes an import may be (max_import_mb): %w", s.maxImportSize, domain.ErrTooLarge)
	}
	if size == 0 {
		return "", "", 0, domain.Invalid("archive", "the request has no body; send the archive's bytes")
	}
	return f.Name(), hex.EncodeToString(h.Sum(nil)), size, nil
}
