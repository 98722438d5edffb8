package provision

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision/archive"
	"github.com/aegirhq/aegir/internal/provision/dberr"
	"github.com/aegirhq/aegir/internal/provision/platform"
)

// BackupReasons are the reasons a backup can be recorded with.
var BackupReasons = []string{"manual", "scheduled", "pre-restore", "pre-delete", "pre-migrate"}

// backupPath is BackupDir/<domain>/<UTC timestamp>-<task id>[-reason].tar.zst.
func (j *job) backupPath(domainName, reason string) string {
	name := time.Now().UTC().Format("20060102T150405Z") + "-" + j.c.Task.ID
	if reason != "manual" && reason != "scheduled" {
		name += "-" + reason
	}
	return filepath.Join(j.c.Env.BackupDir, domainName, name+".tar.zst")
}

// writeBackup archives the site directory and a streamed dump of its
// database, taken while the files are archived, and returns the backup
// record. The archive is verified after it is written. Its progress is
// logged while it runs, against the size of the site's files.
func (j *job) writeBackup(ctx context.Context, loc siteLoc, db *dbConn, cr DBCreds, reason string) (NewBackup, error) {
	path := j.backupPath(loc.Domain, reason)
	fail := func(err error) (NewBackup, error) {
		return NewBackup{}, failf(CodeBackupFailed,
			filesHint(err, fmt.Sprintf("Check the free space and permissions of %s, and the database server; then run the backup again.", j.c.Env.BackupDir)), err,
			"The backup of %s could not be written", loc.Domain)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fail(err)
	}
	var p archive.Progress
	w, err := archive.Create(path, archive.Options{Progress: &p, Owner: j.c.Task.ID, Format: archiveFormat(j.c.Env)})
	if err != nil {
		return fail(err)
	}
	defer w.Abort()
	wctx, cancelWalk := context.WithCancel(ctx)
	defer cancelWalk()
	m := j.startMeter("backup", []slog.Attr{slog.String("reason", reason)},
		gauge{name: "files", get: p.Files.Load, total: treeTotal(wctx, loc.Dir), data: true},
		gauge{name: "database", get: p.Database.Load, data: true},
		gauge{name: "archive", get: p.Archive.Load})
	defer m.stop()
	dumper, release, err := j.dumpConn(ctx, db, loc.ID) // a throwaway user with Vault (vaultcreds.go)
	if err != nil {
		return NewBackup{}, err
	}
	defer release()
	// The dump streams into the archive between the site's files (in
	// parts, as they come), so it runs while the files are compressed.
	pr, pw := io.Pipe()
	dumped := make(chan error, 1)
	go func() {
		err := dumper.Dump(ctx, cr, pw)
		pw.CloseWithError(err)
		dumped <- err
	}()
	err = w.AddTreeAndStream(ctx, loc.Dir, archive.FilesPrefix, archive.DatabaseName, pr)
	pr.CloseWithError(errors.New("archive stopped reading"))
	// A failed dump ends the stream with its error; any other error is
	// the archive's, and the dump only failed because it stopped reading.
	if derr := <-dumped; derr != nil && (err == nil || errors.Is(err, derr)) {
		return NewBackup{}, failf(CodeDBFailed, "Check that the database server is running; then run the backup again.", derr,
			"%s could not dump the database %s", capital(db.String()), cr.Name)
	}
	if err != nil {
		return fail(fmt.Errorf("site files or database dump: %w", err))
	}
	info, err := w.Commit(archive.Manifest{
		SiteID: loc.ID, Domain: loc.Domain, PlatformID: j.platformIDFor(loc), PlatformType: string(loc.Plat.Type),
		DBKind: cr.Kind, TaskID: j.c.Task.ID, AegirVersion: j.deps.Version,
	})
	if err != nil {
		return fail(err)
	}
	j.log.Info("backup written", append([]any{"path", info.Path, "bytes", info.Size, "sha256", info.SHA256,
		"entries", len(info.Manifest.Entries), "reason", reason}, m.stop()...)...)
	ext := info.Manifest.ExternalLinks
	j.warnExternalLinks("symlink points outside the site: backed up as the link, not what it points to; a restore puts the link back", archive.FilesPrefix, ext)
	return NewBackup{Path: info.Path, Size: info.Size, SHA256: info.SHA256, ServerID: j.c.WebServer.ID, Reason: reason, ExternalLinks: len(ext)}, nil
}

// archiveFormat is the archive format a backup is written in: the one
// the context asks for (EnvInfo.ArchiveFormat), at most the newest this
// back end writes, and format 1 when the context names none.
func archiveFormat(env EnvInfo) int {
	if env.ArchiveFormat <= 0 {
		return archive.Format1
	}
	return min(env.ArchiveFormat, archive.FormatVersion)
}

func (j *job) platformIDFor(loc siteLoc) string {
	if t := j.c.Target; t != nil && t.Platform != nil && t.Platform.Path == loc.Plat.Path {
		return t.Platform.ID
	}
	return j.c.Platform.ID
}

func backupTask(ctx context.Context, j *job) error {
	reason := j.c.Task.Args["reason"]
	if reason == "" {
		reason = "manual"
	}
	known := false
	for _, r := range BackupReasons {
		known = known || r == reason
	}
	if !known {
		return failf(CodeInvalidInput, fmt.Sprintf("Use one of %v.", BackupReasons), nil, "Unknown backup reason %q", domain.Clip(reason))
	}
	se, err := j.openSite(ctx)
	if err != nil {
		return err
	}
	if !exists(se.loc.Dir) {
		return failf(CodeSiteMissing, "There is nothing to back up; restore from an older backup or reinstall the site.", nil,
			"The site directory %s is missing", se.loc.Dir)
	}
	sec, err := j.siteSecret(ctx, se.loc.ID, "site_db")
	if err != nil {
		return err
	}
	b, err := j.writeBackup(ctx, se.loc, se.db, creds(se.db, se.loc.ID, sec), reason)
	if err != nil {
		return err
	}
	j.res.Changes.Backups = append(j.res.Changes.Backups, b)
	j.res.Summary = fmt.Sprintf("backed up %s: %s (%d bytes)", se.loc.Domain, b.Path, b.Size)
	if b.ExternalLinks > 0 {
		j.res.Summary += fmt.Sprintf("; %d symlinks point outside the site (see the log)", b.ExternalLinks)
	}
	return nil
}

// stagingDir is where a task unpacks an archive: beside the site (same
// filesystem, so the files can be renamed into place).
func (j *job) stagingDir(loc siteLoc) string {
	return filepath.Join(filepath.Dir(loc.Dir), stagingPrefix+j.c.Task.ID)
}

// stage extracts and verifies an archive into a new directory beside the
// site (stagingDir).
func (j *job) stage(ctx context.Context, loc siteLoc, archivePath, sha, siteID string) (string, error) {
	return j.stageWith(ctx, loc, archivePath, sha, siteID, nil)
}

// stageWith is stage; when db is not nil the database dump goes to db as
// it is read instead of into the staging directory
// (archive.ExtractWith).
func (j *job) stageWith(ctx context.Context, loc siteLoc, archivePath, sha, siteID string, db io.Writer) (string, error) {
	staging, m, err := j.stageArchive(ctx, loc, archivePath, sha, db)
	if err != nil {
		return "", err
	}
	if !j.c.Backup.ownedBy(m.SiteID, siteID) {
		_ = os.RemoveAll(staging)
		return "", failf(CodeInvalidInput, "Restore one of this site's own backups; use clone to copy another site.", nil,
			"The backup %s belongs to site %s (%s), not to this site", archivePath, m.SiteID, m.Domain)
	}
	return staging, nil
}

// stageArchive extracts and verifies an archive into a new directory
// beside loc's (same filesystem, so the files can be renamed into place)
// and returns it with the archive's manifest. A missing or corrupt
// archive fails before anything of a site is touched.
func (j *job) stageArchive(ctx context.Context, loc siteLoc, archivePath, sha string, db io.Writer) (string, *archive.Manifest, error) {
	if _, err := os.Stat(archivePath); errors.Is(err, os.ErrNotExist) {
		return "", nil, failf(CodeBackupMissing, "Use another backup, or put the archive back where its record says and retry.", err,
			"The backup archive %s is gone from its server (deleted from disk?), so nothing was changed", archivePath)
	}
	staging := j.stagingDir(loc)
	_ = os.RemoveAll(staging) // left by an earlier run of this task
	m, summary, err := j.unpack(ctx, archivePath, staging, sha, db)
	if errors.Is(err, archive.ErrCorrupt) {
		return "", nil, failf(CodeBackupCorrupt, "Restore from another backup; this archive cannot be trusted.", err,
			"The backup %s does not verify, so nothing was changed", archivePath)
	}
	if err != nil {
		return "", nil, failf(CodeFilesFailed, "Check that the backup exists and that the platform's sites directory has room.", err,
			"The backup %s could not be unpacked, so nothing was changed", archivePath)
	}
	j.log.Info("backup unpacked and verified", append([]any{"path", archivePath, "entries", len(m.Entries)}, summary...)...)
	return staging, m, nil
}

// unpack is archive.Extract with its progress logged, against the
// archive's size; it returns the fields of the step's final line.
func (j *job) unpack(ctx context.Context, archivePath, dest, sha string, db io.Writer) (*archive.Manifest, []any, error) {
	var size int64
	if fi, err := os.Stat(archivePath); err == nil {
		size = fi.Size()
	}
	var p archive.Progress
	meter := j.startMeter("unpack", nil, archiveGauges(&p, size)...)
	m, err := archive.ExtractWith(ctx, archivePath, dest, sha, &p, db)
	summary := meter.stop()
	if err == nil {
		j.warnExternalLinks("the backup holds a symlink pointing outside the site: restored as the link, never followed", archive.FilesPrefix, m.ExternalLinks)
	}
	return m, summary, err
}

// loadDump replaces the database's contents from a dump file, logging its
// progress against the file's size, and returns the fields of the step's
// final line.
func (j *job) loadDump(ctx context.Context, db *dbConn, cr DBCreds, file string) ([]any, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var size int64
	if fi, err := f.Stat(); err == nil {
		size = fi.Size()
	}
	m := j.startMeter("database load", nil,
		gauge{name: "dump", get: fileOffset(f), total: func() int64 { return size }, data: true})
	err = db.Load(ctx, cr, f)
	return m.stop(), err
}

// loadFromArchive replaces the database's contents with the dump inside an
// archive, streamed without unpacking the archive, logging its progress
// against the archive's size; it returns the fields of the step's final
// line.
func (j *job) loadFromArchive(ctx context.Context, db *dbConn, cr DBCreds, archivePath, sha string) ([]any, error) {
	var size int64
	if fi, err := os.Stat(archivePath); err == nil {
		size = fi.Size()
	}
	var p archive.Progress
	m := j.startMeter("database load", nil,
		gauge{name: "archive", get: p.Archive.Load, total: func() int64 { return size }},
		gauge{name: "database", get: p.Database.Load, data: true})
	pr, pw := io.Pipe()
	go func() {
		_, err := archive.ReadDatabase(ctx, archivePath, sha, pw, &p)
		pw.CloseWithError(err)
	}()
	err := db.Load(ctx, cr, pr)
	pr.CloseWithError(errors.New("load stopped reading"))
	return m.stop(), err
}

// restore puts a site back as one of its backups has it. The live
// database is set aside first (DBSetAside: renamed into a holding place
// on a server, a second link of an SQLite file), then the backup's database
// loads in its place while the archive unpacks and verifies beside the
// site (its dump goes to the load through a spool file as it is read).
// Once both are done, the site directory is swapped with the unpacked one
// by rename, settings and web config are re-rendered, everything is
// synced to disk, and the site must answer. If any step fails (a corrupt
// archive included) the old directory is renamed back and the database
// put back from its holding place, so the site is as it was; on success
// the held database and the old directory are removed.
//
// Its time is about max(unpack, load), the final sync and removing the
// old files, where the baseline `zstd -d | tar -x` into an empty
// directory then a load takes unpack + load (BenchmarkBackupRestore). A database the driver cannot set aside
// (MariaDB views, triggers, routines), or a driver without DBSetAside,
// gets the slower path: a full, verified safety backup first
// (restoreWithSafetyBackup).
func restore(ctx context.Context, j *job) error {
	se, err := j.openSite(ctx)
	if err != nil {
		return err
	}
	loc := se.loc
	if err := j.checkDB(ctx, se.db); err != nil {
		return err
	}
	sec, err := j.siteSecret(ctx, loc.ID, "site_db")
	if err != nil {
		return err
	}
	cr := creds(se.db, loc.ID, sec)
	if !exists(loc.Dir) {
		return j.restoreMissing(ctx, se, cr, sec)
	}
	if sa, ok := se.db.DBDriver.(DBSetAside); ok {
		err := j.restoreAside(ctx, se, cr, sec, sa)
		if !errors.Is(err, ErrSetAsideUnsupported) {
			return err
		}
		j.log.Info("the database cannot be set aside: taking a safety backup first", "err", err)
	}
	return j.restoreWithSafetyBackup(ctx, se, cr, sec)
}

// spoolGrace is how long restoreAside waits, once the archive is
// unpacked, for the load to finish before it starts flushing the files
// anyway (a server's load runs on while they are flushed).
const spoolGrace = 50 * time.Millisecond

// restoreAside is restore with the live database set aside. It returns an
// error wrapping ErrSetAsideUnsupported, with nothing changed, when the
// driver cannot set this database aside.
func (j *job) restoreAside(ctx context.Context, se *siteEnvOf, cr DBCreds, sec siteSecret, sa DBSetAside) error {
	loc := se.loc
	key := j.c.Task.ID
	u := &undo{}

	// The database is set aside, then loaded from the dump as the unpack
	// writes it into the staging directory, while the unpack runs; the
	// load sees the end of the dump only once the whole archive has
	// verified (a corrupt archive ends it with an error instead).
	sp := newSpool(filepath.Join(j.stagingDir(loc), archive.DatabaseName))
	type loadResult struct {
		aside   error // from SetAside: nothing was loaded
		summary []any
		err     error
	}
	loaded := make(chan loadResult, 1)
	go func() {
		r := sp.reader()
		defer r.Close()
		defer func() { _, _ = io.Copy(io.Discard, r) }() // a load that stopped early must not hold the spool
		if err := sa.SetAside(ctx, cr, key); err != nil {
			loaded <- loadResult{aside: err}
			return
		}
		m := j.startMeter("database load", nil, gauge{name: "dump", get: sp.read.Load, data: true})
		err := se.db.Load(ctx, cr, r)
		loaded <- loadResult{summary: m.stop(), err: err}
	}()
	staging, err := j.stageWith(ctx, loc, j.c.Backup.Path, j.c.Backup.SHA256, loc.ID, sp)
	sp.closeWrite(err)
	var lr loadResult
	haveLR := false
	if err == nil {
		// A load that ends soon after the unpack (an SQLite file) lets go
		// of the spool file, which is then removed before the flush below,
		// so its pages are never written to disk: a second copy of the
		// dump is as much to write as the database.
		select {
		case lr = <-loaded:
			haveLR = true
			_ = os.Remove(sp.path)
		case <-time.After(spoolGrace):
		}
		// Start flushing the unpacked files while the load finishes and
		// the site is swapped in: the sync before success (syncSite) then
		// finds little left to write.
		early := make(chan struct{})
		go func() { defer close(early); _ = syncFS(staging) }()
		defer func() { <-early }()
	}
	if !haveLR {
		lr = <-loaded
	}
	if staging != "" {
		defer os.RemoveAll(staging) // on failure; gone already on success
	}
	if lr.aside != nil {
		if errors.Is(lr.aside, ErrSetAsideUnsupported) {
			return lr.aside
		}
		return failf(CodeDBFailed, "Check the database server; then run the restore again.", lr.aside,
			"%s could not set the site's database aside, so nothing was changed", capital(se.db.String()))
	}
	u.push("put the database back as it was", func(ctx context.Context) error { return sa.PutBack(ctx, cr, key) })
	if err != nil {
		return j.rollback(ctx, u, err)
	}
	if lr.err != nil {
		return j.rollback(ctx, u, failf(CodeDBFailed, "Check the database server; the site was put back as it was.", lr.err,
			"%s could not load the backup's database dump", capital(se.db.String())))
	}
	j.log.Info("database loaded", append([]any{"name", cr.Name}, lr.summary...)...)

	old, err := j.swapIn(loc, staging, u)
	if err != nil {
		return j.rollback(ctx, u, err)
	}
	if err := j.finishRestore(ctx, se, cr, sec); err != nil {
		return j.rollback(ctx, u, err)
	}
	// The held database and what is left of the staging directory go
	// at the same time; the old directory is left for
	// remove-replaced-files.
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := sa.DropAside(context.WithoutCancel(ctx), cr, key); err != nil {
			j.log.Warn("the database's held copy could not be dropped", "name", cr.Name, "err", err)
		}
	})
	wg.Go(func() { _ = removeTree(staging) })
	j.leaveReplaced(old)
	wg.Wait()
	j.res.Summary = fmt.Sprintf("restored %s from %s", loc.Domain, j.c.Backup.Path)
	return nil
}

// swapIn moves the site directory aside and the unpacked one into its
// place, pushing the undo of both; it returns where the old one went.
func (j *job) swapIn(loc siteLoc, staging string, u *undo) (string, error) {
	old := filepath.Join(filepath.Dir(loc.Dir), oldPrefix+j.c.Task.ID)
	if err := os.Rename(loc.Dir, old); err != nil {
		return "", failf(CodeFilesFailed, "Check the permissions of the platform's sites directory.", err, "The site directory could not be moved aside")
	}
	u.push("put the old site directory back", func(context.Context) error {
		if err := removeTree(loc.Dir); err != nil {
			return err
		}
		return os.Rename(old, loc.Dir)
	})
	if err := os.Rename(filepath.Join(staging, "files"), loc.Dir); err != nil {
		return old, failf(CodeFilesFailed, "Check the permissions of the platform's sites directory.", err, "The restored files could not be moved into place")
	}
	return old, nil
}

// leaveReplaced renames the site directory a restore replaced (old, at
// .aegir-old-<task>) to .aegir-replaced-<task> once the restore has
// succeeded, and proposes ReplacedFiles: the dispatcher queues
// remove-replaced-files with the result, and the janitor removes the
// directory should that task never run. Removing as many files as the
// restore wrote costs about as long again on some filesystems (ext4
// discarding each file's blocks as it goes), and the site is back
// already. Should the rename fail, old is removed here.
func (j *job) leaveReplaced(old string) {
	dst := filepath.Join(filepath.Dir(old), replacedPrefix+j.c.Task.ID)
	err := os.Rename(old, dst)
	if err == nil {
		j.res.Changes.ReplacedFiles = true
		j.log.Info("the replaced site files are left for remove-replaced-files", "dir", dst)
		return
	}
	j.log.Warn("the replaced site directory could not be renamed; removing it now", "dir", old, "err", err)
	if err := removeTree(old); err != nil {
		j.log.Warn("the old site directory could not be removed", "dir", old, "err", err)
	}
}

// removeReplacedFiles is remove-replaced-files: it removes the site
// directory the restore args.task_id replaced (P/sites/.aegir-replaced-
// <task_id> on the site's platform). Nothing there is not an error: the
// janitor may have removed it, or the restore removed it itself.
func removeReplacedFiles(ctx context.Context, j *job) error {
	id := j.c.Task.Args["task_id"]
	if !domain.ValidID(id) {
		return failf(CodeInvalidInput, "Queue it again with the id of the restore task.", nil, "%q is not a task id", domain.Clip(id))
	}
	if j.c.Platform == nil || j.c.Platform.Path == "" {
		return failf(CodeContextInvalid, "This is a bug in the context builder; report it.", nil, "The context names no platform for the site")
	}
	dir := filepath.Join(j.c.Platform.Path, "sites", replacedPrefix+id)
	fi, err := os.Lstat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		j.res.Summary = fmt.Sprintf("nothing to remove: the files restore %s replaced are gone already", id)
		return nil
	case err != nil:
		return failf(CodeFilesFailed, "Check the permissions of the platform's sites directory.", err, "%s could not be read", dir)
	case !fi.IsDir():
		return failf(CodeFilesFailed, "Look at it and remove it by hand.", nil, "%s is not a directory", dir)
	}
	j.log.Info("removing the site files a restore replaced", "dir", dir, "restore_task", id)
	t0 := time.Now()
	var prog removeProgress
	m := j.startMeter("remove replaced files", nil, gauge{name: "entries", get: prog.Done.Load, total: prog.Total.Load, count: true})
	err = removeTreeWith(dir, removeWorkers, &prog)
	summary := m.stop()
	if err != nil {
		return failf(CodeFilesFailed, "Check the disk and the permissions of the platform's sites directory, then queue the task again or remove the directory by hand.", err,
			"The files restore %s replaced could not all be removed from %s", id, dir)
	}
	secs := time.Since(t0).Seconds()
	j.log.Info("removed the site files a restore replaced", append([]any{"dir", dir}, summary...)...)
	j.res.Summary = fmt.Sprintf("removed the files restore %s replaced in %.1f s", id, secs)
	return nil
}

// finishRestore is what follows the database load and the swap: the
// files' owner, settings, the post-restore hook, the web config, a sync
// of the files (and an SQLite database) to disk, and the answer check.
func (j *job) finishRestore(ctx context.Context, se *siteEnvOf, cr DBCreds, sec siteSecret) error {
	loc := se.loc
	if err := j.keepOwner(ctx, se.web, &loc, true); err != nil {
		return err
	}
	if err := j.writeSettings(loc, cr, sec); err != nil {
		return err
	}
	if err := j.runSiteHook(ctx, platform.HookPostRestore, loc, cr); err != nil {
		return err
	}
	disabled := j.c.Site.Status == domain.SiteDisabled
	if err := j.publish(ctx, se.web, loc, disabled); err != nil {
		return err
	}
	if err := j.syncSite(loc, cr); err != nil {
		return err
	}
	return j.waitAnswer(ctx, se.web, loc.Domain, disabled)
}

// syncSite flushes the site's files, and its database when it is an
// SQLite file, to disk (syncFS), logging how long it took.
func (j *job) syncSite(loc siteLoc, cr DBCreds) error {
	t0 := time.Now()
	if err := syncFS(loc.Dir, cr.Path); err != nil {
		return failf(CodeFilesFailed, "Check the disk holding the site.", err, "The site's files could not be synced to disk")
	}
	j.log.Info("synced to disk", "dir", loc.Dir, "ms", time.Since(t0).Milliseconds())
	return nil
}

// restoreWithSafetyBackup verifies and unpacks the backup first (nothing
// is touched if it is corrupt), takes a safety backup, swaps the site
// directory with the unpacked one by rename, loads the database,
// re-renders settings and web config, and checks the site answers. If any
// step after the swap fails, the old directory is renamed back and the
// database reloaded from the safety backup.
//
// Its time is max(unpack, safety backup) + database load: the safety
// backup compresses the whole live site, which costs more than unpacking
// it. It is the path for a database that cannot be set aside.
func (j *job) restoreWithSafetyBackup(ctx context.Context, se *siteEnvOf, cr DBCreds, sec siteSecret) error {
	loc := se.loc
	// Unpack-and-verify and the safety backup only read the live site, so
	// they run at the same time (one decompresses, the other compresses).
	// If the archive does not verify, the safety backup is discarded and
	// nothing was changed.
	var staging string
	var stageErr error
	staged := make(chan struct{})
	go func() {
		defer close(staged)
		staging, stageErr = j.stage(ctx, loc, j.c.Backup.Path, j.c.Backup.SHA256, loc.ID)
	}()
	safety, safetyErr := j.writeBackup(ctx, loc, se.db, cr, "pre-restore")
	<-staged
	if staging != "" {
		defer os.RemoveAll(staging)
	}
	if stageErr != nil {
		if safetyErr == nil {
			_ = os.Remove(safety.Path)
		}
		return stageErr
	}
	if safetyErr != nil {
		return safetyErr
	}
	j.res.Changes.Backups = append(j.res.Changes.Backups, safety)

	u := &undo{}
	old, err := j.swapIn(loc, staging, u)
	if err == nil {
		err = j.restoreSteps(ctx, se, cr, sec, staging, safety, u)
	}
	if err != nil {
		return j.rollback(ctx, u, err)
	}
	j.leaveReplaced(old)
	j.res.Summary = fmt.Sprintf("restored %s from %s (safety backup %s)", loc.Domain, j.c.Backup.Path, safety.Path)
	return nil
}

// restoreMissing restores a site whose directory is gone (its web server
// was rebuilt, its disk lost: aegir admin rebuild after a disaster): there
// is nothing to back up first, so the archive is verified and put in
// place, the site's database is created if it is missing too (the site's
// password comes from the secrets backend, as for any task) and loaded,
// and the site is published. A failure removes the directory again; a
// database it created is left, empty or loaded, for the next try.
func (j *job) restoreMissing(ctx context.Context, se *siteEnvOf, cr DBCreds, sec siteSecret) error {
	loc := se.loc
	j.log.Info("the site directory is missing: restoring into a new one", "dir", loc.Dir)
	if err := os.MkdirAll(filepath.Dir(loc.Dir), 0o755); err != nil {
		return failf(CodeFilesFailed, "Check that aegir can write to the platform's directory.", err, "The sites directory of %s could not be created", loc.Plat.Path)
	}
	staging, err := j.stage(ctx, loc, j.c.Backup.Path, j.c.Backup.SHA256, loc.ID)
	if staging != "" {
		defer os.RemoveAll(staging)
	}
	if err != nil {
		return err
	}
	if !se.db.none {
		if err := se.db.Create(ctx, cr); err != nil && !errors.Is(err, dberr.ErrExists) {
			return failf(CodeDBFailed, "Check the database server's log and that aegir's admin user may create databases and users.", err,
				"%s could not create the database and user %s", capital(se.db.String()), cr.Name)
		}
	}
	if err := os.Rename(filepath.Join(staging, "files"), loc.Dir); err != nil {
		return failf(CodeFilesFailed, "Check the permissions of the platform's sites directory.", err, "The restored files could not be moved into place")
	}
	u := &undo{}
	u.push("remove the restored site directory", func(context.Context) error { return os.RemoveAll(loc.Dir) })
	if err := j.restoreSteps(ctx, se, cr, sec, staging, NewBackup{}, u); err != nil {
		return j.rollback(ctx, u, err)
	}
	j.res.Summary = fmt.Sprintf("restored %s from %s into a new site directory (it was missing)", loc.Domain, j.c.Backup.Path)
	return nil
}

func (j *job) restoreSteps(ctx context.Context, se *siteEnvOf, cr DBCreds, sec siteSecret, staging string, safety NewBackup, u *undo) error {
	if safety.Path != "" { // none when the site directory was missing
		u.push("reload the database from the safety backup", func(ctx context.Context) error {
			_, err := j.loadFromArchive(ctx, se.db, cr, safety.Path, safety.SHA256)
			return err
		})
	}
	summary, err := j.loadDump(ctx, se.db, cr, filepath.Join(staging, archive.DatabaseName))
	if err != nil {
		return failf(CodeDBFailed, "Check the database server; the site was put back as it was.", err,
			"%s could not load the backup's database dump", capital(se.db.String()))
	}
	j.log.Info("database loaded", append([]any{"name", cr.Name}, summary...)...)
	return j.finishRestore(ctx, se, cr, sec)
}
