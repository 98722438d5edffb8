package provision

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision/archive"
)

// LiveTasks is the dispatcher's list of the tasks that may be running
// (queued or running, on any server) when it built the context, taken at
// AsOf. The janitor removes only what belongs to a task not in it.
type LiveTasks struct {
	AsOf time.Time `json:"as_of"`
	IDs  []string  `json:"ids"`
	// Unrecorded are finished tasks of the context's site that have no
	// backup record: an archive in the site's backup directory named
	// with one of them (<time>-<task>[-reason].tar.zst) is an orphan.
	Unrecorded []string `json:"unrecorded,omitempty"`
}

// JanitorReport counts what the janitor did before the task ran.
type JanitorReport struct {
	// Removed is the number of leftovers removed, Bytes their size.
	Removed int   `json:"removed"`
	Bytes   int64 `json:"bytes"`
	// Kept counts the leftovers of dead tasks left for an operator: a
	// restore's moved-aside site directory (.aegir-old-<task>) may be the
	// only copy of a site's files.
	Kept int `json:"kept,omitempty"`
	// Failed counts the leftovers that could not be removed (logged).
	Failed int `json:"failed,omitempty"`
}

// Names of what a task leaves beside the sites it works on, each ending
// in the owning task's id.
const (
	stagingPrefix  = ".aegir-staging-"  // restore, migrate, verify-backup: an unpacked archive
	oldPrefix      = ".aegir-old-"      // restore: the live site moved aside during the swap
	replacedPrefix = ".aegir-replaced-" // restore: the site directory it replaced, once it succeeded
	partialPrefix  = ".aegir-partial-"  // clone, migrate: a file naming the site directory being built
	janitorStamp   = ".aegir-janitor"   // in the backup directory: when it was last swept
)

// Defaults of the Runner's janitor settings.
const (
	DefaultJanitorInterval = 10 * time.Minute
	DefaultClockSkew       = 2 * time.Minute
	// legacyTempAge is how old an archive temp file without an owner in
	// its name (written by an older back end) must be to be removed.
	legacyTempAge = 24 * time.Hour
	// replacedAge is how long ago a restore must have left the directory
	// it replaced (.aegir-replaced-<task>, its ctime: the rename) for the
	// janitor to remove it: remove-replaced-files, queued with the
	// restore's result, normally does it first.
	replacedAge = time.Hour
)

// sweep is the janitor: before each task it removes what dead tasks left
// on this server (see doc.go). It never fails the task; what it cannot
// remove is logged.
func (j *job) sweep(ctx context.Context) {
	l := j.c.Live
	if l == nil || l.AsOf.IsZero() {
		return
	}
	skew := cmp.Or(j.runner.ClockSkew, DefaultClockSkew)
	if skew < 0 {
		skew = 0
	}
	s := &sweeper{j: j, live: map[string]bool{j.c.Task.ID: true}, cutoff: l.AsOf.Add(-skew)}
	for _, id := range l.IDs {
		s.live[id] = true
	}
	for _, dir := range j.sitesParents() {
		s.sites(ctx, dir)
	}
	if len(l.Unrecorded) > 0 && j.c.Site != nil {
		s.orphans(filepath.Join(j.c.Env.BackupDir, j.c.Site.Domain), l.Unrecorded)
	}
	if j.janitorDue() {
		s.backups(j.c.Env.BackupDir)
	}
	if s.rep != (JanitorReport{}) {
		r := s.rep
		j.res.Janitor = &r
		j.log.Info("janitor: leftovers of dead tasks", "removed", r.Removed, "bytes", r.Bytes, "kept", r.Kept, "failed", r.Failed)
	}
}

// sitesParents are the P/sites directories of the platforms the context
// names: where staging directories and clones are made.
func (j *job) sitesParents() []string {
	var out []string
	add := func(p *PlatformInfo) {
		if p == nil || p.Path == "" {
			return
		}
		d := filepath.Join(p.Path, "sites")
		for _, o := range out {
			if o == d {
				return
			}
		}
		out = append(out, d)
	}
	add(j.c.Platform)
	if j.c.Target != nil {
		add(j.c.Target.Platform)
	}
	return out
}

// janitorDue reports whether the backup directory is due a sweep (its
// stamp file is older than Runner.JanitorInterval), and restamps it.
func (j *job) janitorDue() bool {
	dir := j.c.Env.BackupDir
	if dir == "" {
		return false
	}
	if _, err := os.Stat(dir); err != nil {
		return false
	}
	every := cmp.Or(j.runner.JanitorInterval, DefaultJanitorInterval)
	stamp := filepath.Join(dir, janitorStamp)
	now := time.Now()
	if fi, err := os.Stat(stamp); err == nil && every > 0 && now.Sub(fi.ModTime()) < every {
		return false
	}
	if err := os.WriteFile(stamp, nil, 0o600); err != nil {
		j.log.Warn("janitor: the stamp file could not be written", "path", stamp, "err", err)
	}
	_ = os.Chtimes(stamp, now, now)
	return true
}

type sweeper struct {
	j      *job
	live   map[string]bool
	cutoff time.Time
	rep    JanitorReport
}

// dead reports whether owner is a task id not live and fi is older than
// the live list (a task started after the list was taken is not in it,
// but everything it made is newer).
func (s *sweeper) dead(owner string, fi fs.FileInfo) bool {
	return domain.ValidID(owner) && !s.live[owner] && fi.ModTime().Before(s.cutoff)
}

// sites sweeps one P/sites directory.
func (s *sweeper) sites(ctx context.Context, dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if !os.IsNotExist(err) {
			s.j.log.Warn("janitor: the sites directory could not be listed", "dir", dir, "err", err)
		}
		return
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, ".aegir-") {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		path := filepath.Join(dir, name)
		switch {
		case strings.HasPrefix(name, stagingPrefix):
			owner := strings.TrimPrefix(name, stagingPrefix)
			if e.IsDir() && s.dead(owner, fi) {
				s.remove(path, owner, "staging directory")
			}
		case strings.HasPrefix(name, partialPrefix):
			owner := strings.TrimPrefix(name, partialPrefix)
			if e.Type().IsRegular() && s.dead(owner, fi) {
				s.partial(ctx, dir, path, owner)
			}
		case strings.HasPrefix(name, replacedPrefix):
			owner := strings.TrimPrefix(name, replacedPrefix)
			if e.IsDir() && s.dead(owner, fi) && changedBefore(fi, s.cutoff.Add(-replacedAge)) {
				s.remove(path, owner, "site directory a restore replaced")
			}
		case strings.HasPrefix(name, oldPrefix):
			owner := strings.TrimPrefix(name, oldPrefix)
			if s.dead(owner, fi) {
				s.rep.Kept++
				s.j.log.Warn("janitor: a restore that did not finish left a site directory aside; kept, as it may be the only copy of the site's files: compare it with the site and remove it by hand",
					"path", path, "owner_task", owner)
			}
		}
	}
}

// partialSite is what a clone, migrate or verify-backup writes in its
// marker (.aegir-partial-<task>) before it builds a site directory: the
// directory and, for a site id no record can own yet (a clone's new site,
// verify-backup's throwaway), the database, stored password and web
// config that go with it. A migrate names only the directory: its site id
// and domain are the live site's.
type partialSite struct {
	Dir        string `json:"dir"`                   // base name under the sites directory
	SiteID     string `json:"site_id,omitempty"`     // database and user NameFor(SiteID) on DBService
	DBService  string `json:"db_service,omitempty"`  // "" when the task made no database
	Secret     bool   `json:"secret,omitempty"`      // the password stored as SiteDBRef(SiteID)
	Domain     string `json:"domain,omitempty"`      // web config on WebService
	WebService string `json:"web_service,omitempty"` // "" when the domain is not the task's alone
}

// partial undoes what a dead clone, migrate or verify-backup built, as
// its marker names it, then removes the marker. A marker whose services
// this task's context does not name is left for a task that does.
func (s *sweeper) partial(ctx context.Context, dir, marker, owner string) {
	b, err := os.ReadFile(marker)
	if os.IsNotExist(err) {
		return // another task's janitor got there first
	}
	if err != nil {
		s.failed(marker, owner, err)
		return
	}
	var p partialSite
	if err := json.Unmarshal(b, &p); err != nil || !normalDomain(p.Dir) || p.SiteID != "" && !domain.ValidID(p.SiteID) ||
		p.Domain != "" && !normalDomain(p.Domain) || (p.DBService != "" || p.Secret) && p.SiteID == "" {
		s.j.log.Warn("janitor: a partial-site marker is not understood; kept", "path", marker, "owner_task", owner)
		s.rep.Kept++
		return
	}
	j := s.j
	var web *webConn
	var db *dbConn
	if p.WebService != "" && p.Domain != "" {
		svc, srv := j.serviceByID(p.WebService)
		if svc == nil {
			return
		}
		if web, err = j.web(svc, srv); err != nil {
			s.failed(marker, owner, err)
			return
		}
	}
	if p.DBService != "" {
		svc, srv := j.serviceByID(p.DBService)
		if svc == nil {
			return
		}
		if db, err = j.db(ctx, svc, srv, j.adminPurposeOf(svc)); err != nil {
			s.failed(marker, owner, err)
			return
		}
	}
	if web != nil {
		if err := web.Remove(ctx, p.Domain); err != nil {
			s.failed(marker, owner, fmt.Errorf("remove the web config of %s: %w", p.Domain, err))
			return
		}
		j.log.Info("janitor: removed the web config of a dead task's unfinished site", "domain", p.Domain, "owner_task", owner)
	}
	if db != nil {
		cr := db.Locate(NameFor(p.SiteID))
		if err := db.Drop(ctx, cr); err != nil {
			s.failed(marker, owner, fmt.Errorf("drop the database %s: %w", cr.Name, err))
			return
		}
		j.log.Info("janitor: dropped the database of a dead task's unfinished site", "name", cr.Name, "owner_task", owner)
	}
	if p.Secret {
		if err := j.deleteSiteSecret(ctx, p.SiteID); err != nil {
			s.failed(marker, owner, fmt.Errorf("delete the stored password of %s: %w", p.SiteID, err))
			return
		}
	}
	if target := filepath.Join(dir, p.Dir); exists(target) {
		if !s.remove(target, owner, "site directory of an unfinished clone, migrate or verify-backup") {
			return
		}
	}
	if err := os.Remove(marker); err != nil && !os.IsNotExist(err) {
		s.failed(marker, owner, err)
	}
}

func normalDomain(name string) bool {
	d, err := domain.NormalizeDomain(name)
	return err == nil && d == name
}

// serviceByID finds a service the context names, with its server.
func (j *job) serviceByID(id string) (*ServiceInfo, *ServerInfo) {
	type on struct {
		svc *ServiceInfo
		srv *ServerInfo
	}
	c := j.c
	all := []on{{c.WebService, c.WebServer}, {c.DBService, c.DBServer}}
	if t := c.Target; t != nil {
		all = append(all, on{t.WebService, t.WebServer}, on{t.DBService, t.DBServer})
	}
	for _, p := range all {
		if p.svc != nil && p.srv != nil && p.svc.ID == id {
			return p.svc, p.srv
		}
	}
	return nil, nil
}

// adminPurposeOf is the Secrets purpose of svc's admin credentials: a
// clone's or migrate's target database service has its own.
func (j *job) adminPurposeOf(svc *ServiceInfo) string {
	if t := j.c.Target; t != nil && t.DBService == svc && (j.c.DBService == nil || j.c.DBService.ID != svc.ID) {
		return "target_db_admin"
	}
	return "db_admin"
}

// backups sweeps BackupDir/<domain>/ for archive temp files.
func (s *sweeper) backups(dir string) {
	subs, err := os.ReadDir(dir)
	if err != nil {
		s.j.log.Warn("janitor: the backup directory could not be listed", "dir", dir, "err", err)
		return
	}
	for _, sub := range subs {
		if !sub.IsDir() {
			continue
		}
		entries, err := os.ReadDir(filepath.Join(dir, sub.Name()))
		if err != nil {
			s.j.log.Warn("janitor: a backup directory could not be listed", "dir", filepath.Join(dir, sub.Name()), "err", err)
			continue
		}
		for _, e := range entries {
			owner, ok := archive.ParseTempName(e.Name())
			if !ok || !e.Type().IsRegular() {
				continue
			}
			fi, err := e.Info()
			if err != nil {
				continue
			}
			path := filepath.Join(dir, sub.Name(), e.Name())
			switch {
			case owner == "" && fi.ModTime().Before(s.cutoff.Add(-legacyTempAge)):
				s.remove(path, "(unknown: named by an older aegir)", "archive temp file")
			case owner != "" && s.dead(owner, fi):
				s.remove(path, owner, "archive temp file")
			}
		}
	}
}

// orphans removes the archives in dir written by the given finished
// tasks, which have no backup record.
func (s *sweeper) orphans(dir string, tasks []string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if !os.IsNotExist(err) {
			s.j.log.Warn("janitor: the site's backup directory could not be listed", "dir", dir, "err", err)
		}
		return
	}
	for _, e := range entries {
		owner := archiveTask(e.Name())
		if owner == "" || !e.Type().IsRegular() || s.live[owner] {
			continue
		}
		for _, t := range tasks {
			if t == owner {
				s.remove(filepath.Join(dir, e.Name()), owner, "archive with no backup record (its task ended without recording it)")
				break
			}
		}
	}
}

// archiveTask is the task id in a committed archive's name
// (<UTC time>-<task id>[-reason].tar.zst, backupPath), or "".
func archiveTask(name string) string {
	const stamp = len("20060102T150405Z-")
	if !strings.HasSuffix(name, ".tar.zst") || len(name) < stamp+domain.IDLen || name[stamp-1] != '-' {
		return ""
	}
	id := name[stamp : stamp+domain.IDLen]
	if rest := name[stamp+domain.IDLen:]; !strings.HasPrefix(rest, "-") && rest != ".tar.zst" || !domain.ValidID(id) {
		return ""
	}
	return id
}

// remove removes path (without following links) and logs it.
func (s *sweeper) remove(path, owner, what string) bool {
	n := diskBytes(path)
	if err := os.RemoveAll(path); err != nil {
		s.failed(path, owner, err)
		return false
	}
	s.rep.Removed++
	s.rep.Bytes += n
	s.j.log.Info("janitor: removed the leftover of a dead task", "path", path, "owner_task", owner, "bytes", n, "what", what)
	return true
}

func (s *sweeper) failed(path, owner string, err error) {
	s.rep.Failed++
	s.j.log.Warn("janitor: a dead task's leftover could not be removed", "path", path, "owner_task", owner, "err", err)
}

// diskBytes is the size of path's regular files, links not followed.
func diskBytes(path string) int64 {
	var n int64
	_ = filepath.WalkDir(path, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// markPartial writes a marker beside dir, a site directory this task is
// about to build (clone, migrate, verify-backup), naming it and what goes
// with it (p; Dir is set from dir): if the task dies before it calls
// done, the janitor removes them. done is idempotent.
func (j *job) markPartial(dir string, p partialSite) (done func(), err error) {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, err
	}
	p.Dir = filepath.Base(dir)
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	marker := filepath.Join(filepath.Dir(dir), partialPrefix+j.c.Task.ID)
	if err := os.WriteFile(marker, b, 0o600); err != nil {
		return nil, err
	}
	return func() { _ = os.Remove(marker) }, nil
}

// doneUnlessIncomplete removes a partial-site marker unless err says the
// rollback did not finish: then the marker stays, and the janitor finishes
// the job before a later task.
func doneUnlessIncomplete(done func(), err error) {
	var f *Failure
	if errors.As(err, &f) && f.Code == CodeRollbackIncomplete {
		return
	}
	done()
}

// partialDirs are the site directories the partial-site markers in
// sitesDir name: being built, or left by a task that died. Import skips
// them.
func partialDirs(sitesDir string) map[string]bool {
	out := map[string]bool{}
	markers, _ := filepath.Glob(filepath.Join(sitesDir, partialPrefix+"*"))
	for _, m := range markers {
		b, err := os.ReadFile(m)
		if err != nil {
			continue
		}
		var p partialSite
		if json.Unmarshal(b, &p) == nil && p.Dir != "" {
			out[p.Dir] = true
		}
	}
	return out
}
