package provision

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision/archive"
	"github.com/aegirhq/aegir/internal/provision/sitetree"
)

// verify-backup restores a site's backup into a throwaway site next to it,
// checks it, and removes the throwaway site, all in one run of the back
// end, so operators learn that their backups restore before they need
// them. The live site is only read (its platform and services); nothing of
// it is changed, and the task proposes no change to any record.
//
// The throwaway site is named after the task, so two verifications never
// collide and a leftover is easy to recognise and remove:
//
//	domain    verify-<task id>.invalid   (.invalid is reserved by RFC 2606:
//	                                      no DNS name ever resolves to it, so
//	                                      the vhost answers only to a request
//	                                      that sends that Host on purpose)
//	directory <platform>/sites/verify-<task id>.invalid
//	database  NameFor(<task id>), and a user of the same name, with a
//	          password generated for this run and never stored
//
// Steps: unpack the archive (every entry against the manifest's checksums and
// the archive against the backup's recorded sha256), check the manifest
// names this site, move the files into the throwaway directory and hash
// them again there against the manifest, create the database and load the
// dump, write the settings, publish the vhost and wait for a 2xx/3xx
// answer, then ask the platform for its figures (the php manifest's stats
// hook, the users table for drupal): the database must answer with data.
// Whatever happens, everything created is removed before the task ends;
// a removal that fails fails the task with rollback_incomplete and names
// what is left.

// CodeVerifyFailed: a backup did not restore into a working site.
const CodeVerifyFailed = "verify_backup_failed"

// VerifyDomain is the domain of the throwaway site a verify-backup task
// restores into.
func VerifyDomain(taskID string) string { return "verify-" + taskID + ".invalid" }

func verifyBackupTask(ctx context.Context, j *job) error {
	se, err := j.openSite(ctx)
	if err != nil {
		return err
	}
	if err := j.checkDB(ctx, se.db); err != nil {
		return err
	}
	b := j.c.Backup
	taskID := j.c.Task.ID
	if !domain.ValidID(taskID) {
		return failf(CodeContextInvalid, "Run a back end of the same aegir release as the front end.", nil,
			"The task id %q is not an aegir id, so no throwaway names can be derived from it", domain.Clip(taskID))
	}
	vdomain := VerifyDomain(taskID)
	if err := checkDomain("verify domain", vdomain); err != nil {
		return failf(CodeContextInvalid, "Report this as a bug.", err, "The throwaway domain %s is not valid", vdomain)
	}
	loc := siteLoc{ID: taskID, Domain: vdomain, Profile: se.loc.Profile, Plat: se.loc.Plat, Dir: se.loc.Plat.SiteDir(vdomain)}
	if exists(loc.Dir) {
		return failf(CodeSiteExists, fmt.Sprintf("Remove %s (a leftover of an earlier run of this task) and run it again.", loc.Dir), nil,
			"The throwaway site directory %s already exists", loc.Dir)
	}
	// If this task dies or cannot remove the throwaway site, a janitor
	// removes it (janitor.go).
	done, err := j.markPartial(loc.Dir, partialSite{SiteID: taskID, DBService: se.db.svc.ID, Domain: vdomain, WebService: se.web.svc.ID})
	if err != nil {
		return failf(CodeFilesFailed, "Check that aegir can write to the platform's directory.", err, "The sites directory of %s could not be written", loc.Plat.Path)
	}
	start := time.Now()
	u := &undo{}
	rep, err := j.verifySteps(ctx, se, b, loc, u)
	if err != nil {
		err = j.rollback(ctx, u, err) // the throwaway site goes whether the checks passed or not
		doneUnlessIncomplete(done, err)
		return err
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cmp.Or(j.runner.RollbackTimeout, 2*time.Minute))
	defer cancel()
	if err := u.run(rctx, j.log); err != nil {
		return failf(CodeRollbackIncomplete, "Remove what is named above by hand, or let aegir's janitor do it before a later task on this site; the backup itself restored and answered.", err,
			"The backup %s verified, but the throwaway site %s could not be removed completely: %v", b.Path, vdomain, err)
	}
	done()
	rep.Seconds = time.Since(start).Seconds()
	j.res.Report = rep
	j.res.Summary = fmt.Sprintf("backup %s of %s restores: %d files match the manifest, the database loaded, %s answered; throwaway site removed",
		b.ID, se.loc.Domain, int(rep.Figures["files"]), vdomain)
	return nil
}

func (j *job) verifySteps(ctx context.Context, se *siteEnvOf, b *BackupInfo, loc siteLoc, u *undo) (*QueueReport, error) {
	if err := os.MkdirAll(filepath.Dir(loc.Dir), 0o755); err != nil {
		return nil, failf(CodeFilesFailed, "Check that aegir can write to the platform's directory.", err, "The sites directory of %s could not be created", loc.Plat.Path)
	}
	// Unpacking checks the archive against the backup's recorded sha256
	// (which covers every byte) and its entries against the manifest;
	// checkAgainstManifest then hashes the unpacked files.
	staging := filepath.Join(filepath.Dir(loc.Dir), ".aegir-staging-"+j.c.Task.ID)
	_ = os.RemoveAll(staging)
	m, unpacked, err := j.unpack(ctx, b.Path, staging, b.SHA256, nil)
	if errors.Is(err, archive.ErrCorrupt) {
		return nil, failf(CodeBackupCorrupt, "Take a new backup now; this archive cannot be trusted for a restore.", err,
			"The backup %s does not verify", b.Path)
	}
	if err != nil {
		return nil, failf(CodeFilesFailed, "Check that the backup exists and that the platform's sites directory has room.", err,
			"The backup %s could not be unpacked", b.Path)
	}
	defer os.RemoveAll(staging)
	j.log.Info("backup unpacked and verified", append([]any{"path", b.Path, "entries", len(m.Entries)}, unpacked...)...)
	if !b.ownedBy(m.SiteID, se.loc.ID) {
		return nil, failf(CodeInvalidInput, "Verify one of this site's own backups.", nil,
			"The backup %s belongs to site %s (%s), not to %s", b.Path, m.SiteID, m.Domain, se.loc.Domain)
	}
	if err := os.Rename(filepath.Join(staging, "files"), loc.Dir); err != nil {
		return nil, failf(CodeFilesFailed, "Check the permissions of the platform's sites directory.", err, "The restored files could not be moved into %s", loc.Dir)
	}
	u.push("remove the throwaway site directory "+loc.Dir, func(context.Context) error { return os.RemoveAll(loc.Dir) })
	var hashed atomic.Int64
	check := j.startMeter("file check", nil, gauge{name: "checked", get: hashed.Load, total: manifestTotal(m), data: true})
	files, bytesOK, err := checkAgainstManifest(ctx, loc.Dir, m, &hashed)
	checked := check.stop()
	if err != nil {
		return nil, failf(CodeVerifyFailed, "Take a new backup and check the disk of the backup directory.", err,
			"The files restored from %s do not match the backup's manifest", b.Path)
	}
	j.log.Info("restored files match the manifest", append([]any{"files", files, "bytes", bytesOK}, checked...)...)

	sec := siteSecret{Password: randomToken(), HashSalt: randomToken()}
	j.red.Add(sec.Password, sec.HashSalt)
	cr := creds(se.db, loc.ID, sec)
	if err := se.db.Create(ctx, cr); err != nil {
		return nil, failf(CodeDBFailed, "Check the database server's log and that aegir's admin user may create databases and users.", err,
			"%s could not create the throwaway database %s", capital(se.db.String()), cr.Name)
	}
	u.push("drop the throwaway database "+cr.Name, func(ctx context.Context) error { return se.db.Drop(ctx, cr) })
	dump := filepath.Join(staging, archive.DatabaseName)
	fi, err := os.Stat(dump)
	if err != nil {
		return nil, failf(CodeVerifyFailed, "Take a new backup.", err, "The backup %s holds no database dump", b.Path)
	}
	loaded, err := j.loadDump(ctx, se.db, cr, dump)
	if err != nil {
		return nil, failf(CodeVerifyFailed, "Take a new backup and check the database server; this backup's dump does not load.", err,
			"%s could not load the database dump of %s", capital(se.db.String()), b.Path)
	}
	j.log.Info("database dump loaded", append([]any{"name", cr.Name, "bytes", fi.Size()}, loaded...)...)
	// The throwaway copy is the tenant's data: it belongs to the site's
	// own user (found, or made again), not to a new one.
	o, err := j.siteOwner(ctx, se.web, se.loc.Dir, se.loc.Domain, nil)
	if err != nil {
		return nil, err
	}
	loc.setOwner(o)
	if err := j.ownSite(ctx, o, loc.Dir, true); err != nil {
		return nil, ownFailed(err, loc.Dir)
	}
	if err := j.writeSettings(loc, cr, sec); err != nil {
		return nil, err
	}
	if err := j.publish(ctx, se.web, loc, false); err != nil {
		return nil, err
	}
	u.push("remove the throwaway web config of "+loc.Domain, func(ctx context.Context) error { return se.web.Remove(ctx, loc.Domain) })
	if err := j.waitAnswer(ctx, se.web, loc.Domain, false); err != nil {
		return nil, failf(CodeVerifyFailed, "Restore the backup into a clone by hand to see why it does not answer; take a new backup once fixed.", err,
			"The site restored from %s did not answer", b.Path)
	}
	figures, err := j.verifyFigures(ctx, loc, se, cr)
	if err != nil {
		return nil, err
	}
	figures["files"] = float64(files)
	figures["files_bytes"] = float64(bytesOK)
	figures["db_dump_bytes"] = float64(fi.Size())
	return &QueueReport{Figures: figures}, nil
}

// manifestTotal is the size of the files/ entries of m.
func manifestTotal(m *archive.Manifest) func() int64 {
	var n int64
	for _, e := range m.Entries {
		if e.Type == archive.TypeFile && strings.HasPrefix(e.Name, archive.FilesPrefix) {
			n += e.Size
		}
	}
	return func() int64 { return n }
}

// checkAgainstManifest hashes every file under dir and compares it with the
// manifest's files/ entries: same set of files, same sizes and checksums. The
// bytes hashed are added to hashed as they are read. dir is read with
// sitetree.Walk: no link in it is followed.
func checkAgainstManifest(ctx context.Context, dir string, m *archive.Manifest, hashed *atomic.Int64) (int, int64, error) {
	want := map[string]archive.Entry{}
	for _, e := range m.Entries {
		if e.Type == archive.TypeFile && strings.HasPrefix(e.Name, archive.FilesPrefix) {
			want[strings.TrimPrefix(e.Name, archive.FilesPrefix)] = e
		}
	}
	n, total := 0, int64(0)
	err := sitetree.Walk(ctx, dir, func(e *sitetree.Entry) error {
		if !e.Mode.IsRegular() {
			return nil
		}
		me, ok := want[e.Rel]
		if !ok {
			return fmt.Errorf("%s is not in the manifest", e.Rel)
		}
		delete(want, e.Rel)
		sum, size, err := fileSum(e, m.Format, hashed)
		if err != nil {
			return err
		}
		if name, want := archive.Checksum(m.Format, me); size != me.Size || sum != want {
			return fmt.Errorf("%s: %d bytes %s %s, the manifest says %d bytes %s %s", e.Rel, size, name, sum, me.Size, name, want)
		}
		n++
		total += size
		return nil
	})
	if err != nil {
		return n, total, err
	}
	for rel := range want {
		return n, total, fmt.Errorf("%s is in the manifest but was not restored", rel)
	}
	return n, total, nil
}

// fileSum is the checksum of a file as a manifest of format keeps it
// (archive.NewEntryHash), and its size.
func fileSum(e *sitetree.Entry, format int, hashed *atomic.Int64) (string, int64, error) {
	h, err := archive.NewEntryHash(format)
	if err != nil {
		return "", 0, err
	}
	f, err := e.Open()
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	n, err := io.Copy(countingWriter{h, hashed}, f)
	return hex.EncodeToString(h.Sum(nil)), n, err
}

// verifyFigures asks the restored site's platform what its database holds,
// as its type's RestoreCheck says: a stats hook (php) must print a JSON
// object of numbers, and tables (a drupal site's users) must have rows. A
// static site has no database content to ask about.
func (j *job) verifyFigures(ctx context.Context, loc siteLoc, se *siteEnvOf, cr DBCreds) (map[string]float64, error) {
	figures := map[string]float64{}
	check := loc.Plat.RestoreCheck()
	if argv := check.Hook; argv != nil {
		if err := j.verifyHookFigures(ctx, argv, loc, cr, figures); err != nil {
			return nil, err
		}
	}
	for _, name := range slices.Sorted(maps.Keys(check.Tables)) {
		table := check.Tables[name]
		n, err := se.db.Count(ctx, cr, table)
		if err != nil || n == 0 {
			return nil, failf(CodeVerifyFailed, "The restored database has no users; take a new backup and restore it into a clone to investigate.", err,
				"The %s table of the database restored from the backup is empty or missing", table)
		}
		figures[name] = float64(n)
	}
	return figures, nil
}

// verifyHookFigures runs the stats hook on the restored site and adds the
// figures it prints.
func (j *job) verifyHookFigures(ctx context.Context, argv []string, loc siteLoc, cr DBCreds, figures map[string]float64) error {
	ctx, cancel := context.WithTimeout(ctx, j.cronTimeout())
	defer cancel()
	var stdout bytes.Buffer
	errs := &tailBuffer{max: 4 << 10}
	if err := j.runStatsHook(ctx, argv, loc.Plat.Path, siteEnv(loc, cr), loc.Cred, &stdout, errs); err != nil {
		return failf(CodeVerifyFailed, "The restored database does not serve the application; take a new backup and restore it into a clone to investigate.", err,
			"The stats hook %q failed on the site restored from the backup: %s", argv, j.red.String(errs.String()))
	}
	var raw map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &raw); err != nil {
		return failf(CodeVerifyFailed, "The stats hook must print one JSON object of numbers.", err,
			"The stats hook printed no JSON object on the site restored from the backup")
	}
	for k, v := range raw {
		if f, ok := v.(float64); ok && figureName.MatchString(k) && len(figures) < MaxFigures-4 {
			figures[k] = f
		}
	}
	return nil
}
