package provision

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision/archive"
	"github.com/aegirhq/aegir/internal/provision/platform"
)

// target opens the destination of a clone or migrate: its platform (same
// type as the source, not locked) and its drivers, reusing the source's
// drivers when the service is the same.
func (j *job) openTarget(ctx context.Context, se *siteEnvOf) (siteLoc, *webConn, *dbConn, error) {
	t := j.c.Target
	if t.Platform.Locked {
		return siteLoc{}, nil, nil, failf(CodePlatformLocked, "Unlock the target platform or choose another.", nil,
			"The target platform %s is locked and takes no new sites", t.Platform.Name)
	}
	return j.openPlace(ctx, se)
}

// openPlace opens the place Context.Target names, locked or not: a clone's
// or migrate's destination (openTarget), or a migrated site's old place
// (release-old-place).
func (j *job) openPlace(ctx context.Context, se *siteEnvOf) (siteLoc, *webConn, *dbConn, error) {
	t := j.c.Target
	plat := se.loc.Plat
	if t.Platform.Path != se.loc.Plat.Path {
		p, err := j.openPlatform(t.Platform)
		if err != nil {
			return siteLoc{}, nil, nil, err
		}
		plat = p
	}
	if plat.Type != se.loc.Plat.Type {
		return siteLoc{}, nil, nil, failf(CodePlatformType, "Choose a target platform of the same type as the site's.", nil,
			"The site runs on a %s platform and cannot move to the %s platform %s", se.loc.Plat.Type, plat.Type, t.Platform.Name)
	}
	web := se.web
	if t.WebService.ID != j.c.WebService.ID {
		w, err := j.web(t.WebService, t.WebServer)
		if err != nil {
			return siteLoc{}, nil, nil, err
		}
		web = w
	}
	db := se.db
	if t.DBService.ID != j.c.DBService.ID || t.WebServer.ID != j.c.WebServer.ID {
		d, err := j.db(ctx, t.DBService, t.DBServer, "target_db_admin")
		if err != nil {
			return siteLoc{}, nil, nil, err
		}
		if d.clientHosts, err = clientHosts(t.WebServer, d); err != nil {
			return siteLoc{}, nil, nil, err
		}
		db = d
	}
	loc := siteLoc{ID: j.c.Site.ID, Domain: t.Domain, Aliases: t.Aliases, Redirect: j.c.Site.RedirectAliases,
		Profile: j.c.Site.Profile, PHP: j.c.Site.PHP, HTTPS: j.c.Site.HTTPS, HSTS: j.c.Site.HSTS, Plat: plat, Dir: plat.SiteDir(t.Domain)}
	if hasDatabase(loc) != hasDatabase(se.loc) { // aegir.hcl's database = false on one side only
		return siteLoc{}, nil, nil, failf(CodePlatformType, "Choose a target platform that, like the site's, declares a database (or, like it, database = false).", nil,
			"The site cannot move between a platform with a database and one without (%s)", t.Platform.Name)
	}
	return loc, web, siteDB(loc, db), nil
}

// cloneSite copies a site to a new domain with a new database (same
// platform or another): files copied, database dumped and loaded through a
// pipe, settings and web config for the new site. On failure everything
// created for the clone is removed; the source is never modified.
func cloneSite(ctx context.Context, j *job) error {
	se, err := j.openSite(ctx)
	if err != nil {
		return err
	}
	loc, web, db, err := j.openTarget(ctx, se)
	if err != nil {
		return err
	}
	loc.ID = j.c.Target.SiteID
	loc.HTTPS, loc.HSTS = "", false // the clone starts on HTTP
	if err := j.checkDB(ctx, se.db); err != nil {
		return err
	}
	if err := j.checkDB(ctx, db); err != nil {
		return err
	}
	if !exists(se.loc.Dir) {
		return failf(CodeSiteMissing, "Restore the source site first.", nil, "The source site directory %s is missing", se.loc.Dir)
	}
	if exists(loc.Dir) {
		return failf(CodeSiteExists, fmt.Sprintf("Choose another domain, or move %s away.", loc.Dir), nil,
			"The directory %s for the clone already exists", loc.Dir)
	}
	if err := j.checkSiteUser(web, loc.Domain); err != nil {
		return err
	}
	srcSec, err := j.siteSecret(ctx, se.loc.ID, "site_db")
	if err != nil {
		return err
	}
	srcCreds := creds(se.db, se.loc.ID, srcSec)
	// If this task dies, a janitor removes the clone (janitor.go). Its web
	// config is not named: by then another site may hold the domain.
	done, err := j.markPartial(loc.Dir, partialSite{SiteID: loc.ID, DBService: db.svc.ID, Secret: true})
	if err != nil {
		return failf(CodeFilesFailed, "Check that aegir can write to the target platform.", err, "The target sites directory could not be written")
	}
	u := &undo{}
	if err := j.cloneSteps(ctx, se, srcCreds, loc, web, db, u); err != nil {
		err = j.rollback(ctx, u, err)
		doneUnlessIncomplete(done, err)
		return err
	}
	done()
	j.res.Changes.NewSites = append(j.res.Changes.NewSites, NewSite{
		ID: loc.ID, Domain: loc.Domain, Aliases: loc.Aliases, RedirectAliases: loc.Redirect, PHP: loc.PHP,
		PlatformID: j.c.Target.Platform.ID, DBServerID: j.c.Target.DBServer.ID, ClientID: clientID(j.c), Status: domain.SiteEnabled,
		UnixUser: j.res.Changes.SiteUser,
	})
	j.res.Changes.SiteUser = nil // the clone's, not the source's
	j.res.Summary = fmt.Sprintf("cloned %s to %s on %s", se.loc.Domain, loc.Domain, j.c.Target.Platform.Name)
	return nil
}

func clientID(c *Context) string {
	if c.Client != nil {
		return c.Client.ID
	}
	return ""
}

func (j *job) cloneSteps(ctx context.Context, se *siteEnvOf, srcCreds DBCreds, loc siteLoc, web *webConn, db *dbConn, u *undo) error {
	if err := os.MkdirAll(filepath.Dir(loc.Dir), 0o755); err != nil {
		return failf(CodeFilesFailed, "Check that aegir can write to the target platform.", err, "The target sites directory could not be created")
	}
	u.push("remove the clone's directory "+loc.Dir, func(context.Context) error { return os.RemoveAll(loc.Dir) })
	if err := j.copyFiles(ctx, se.loc.Dir, loc.Dir); err != nil {
		return failf(CodeFilesFailed, filesHint(err, "Check the disk space and permissions of the target platform."), err, "The site's files could not be copied")
	}
	o, err := j.siteOwner(ctx, web, loc.Dir, loc.Domain, u) // a new user of its own
	if err != nil {
		return err
	}
	loc.setOwner(o)
	if err := j.ownSite(ctx, o, loc.Dir, true); err != nil {
		return ownFailed(err, loc.Dir)
	}
	j.reportSiteUser(o)
	sec, err := j.newSiteSecret(ctx, loc.ID, nil)
	if err != nil {
		return err
	}
	u.push("delete the clone's stored password", func(ctx context.Context) error { return j.deleteSiteSecret(ctx, loc.ID) })
	cr := creds(db, loc.ID, sec)
	if err := db.Create(ctx, cr); err != nil {
		return failf(CodeDBFailed, "Check the database server's log and aegir's admin privileges.", err,
			"%s could not create the database %s", capital(db.String()), cr.Name)
	}
	u.push("drop the clone's database "+cr.Name, func(ctx context.Context) error { return db.Drop(ctx, cr) })
	dumper, release, err := j.dumpConn(ctx, se.db, se.loc.ID) // a throwaway user with Vault (vaultcreds.go)
	if err != nil {
		return err
	}
	defer release()
	summary, err := j.copyDatabase(ctx, dumper, srcCreds, db, cr)
	if err != nil {
		return failf(CodeDBFailed, "Check both database servers; nothing of the clone was kept.", err,
			"The database could not be copied from %s to %s", srcCreds.Name, cr.Name)
	}
	j.log.Info("database copied", append([]any{"from", srcCreds.Name, "to", cr.Name}, summary...)...)
	if err := j.writeSettings(loc, cr, sec); err != nil {
		return err
	}
	if err := j.runSiteHook(ctx, platform.HookPostClone, loc, cr); err != nil {
		return err
	}
	if err := j.publish(ctx, web, loc, false); err != nil {
		return err
	}
	u.push("remove the clone's web config", func(ctx context.Context) error { return web.Remove(ctx, loc.Domain) })
	if err := j.syncSite(loc, cr); err != nil {
		return err
	}
	return j.waitAnswer(ctx, web, loc.Domain, false)
}

// copyFiles copies a site's files to dst (which must not exist), logging
// its progress against their size and a final line.
func (j *job) copyFiles(ctx context.Context, src, dst string) error {
	wctx, cancelWalk := context.WithCancel(ctx)
	defer cancelWalk()
	var n atomic.Int64
	m := j.startMeter("file copy", nil, gauge{name: "files", get: n.Load, total: treeTotal(wctx, src), data: true})
	err := copyTreeCounting(ctx, src, dst, &n)
	summary := m.stop()
	if err == nil {
		j.log.Info("files copied", summary...)
	}
	return err
}

// copyDatabase streams a dump of one database into another, logging the
// bytes copied so far (a dump's size is not known before it ends); it
// returns the fields of the step's final line.
func (j *job) copyDatabase(ctx context.Context, from *dbConn, fc DBCreds, to *dbConn, tc DBCreds) ([]any, error) {
	var n atomic.Int64
	m := j.startMeter("database copy", nil, gauge{name: "database", get: n.Load, data: true})
	defer m.stop()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := from.Dump(ctx, fc, countingWriter{pw, &n})
		pw.CloseWithError(err)
		done <- err
	}()
	err := to.Load(ctx, tc, pr)
	pr.CloseWithError(io.ErrClosedPipe)
	if derr := <-done; derr != nil {
		return nil, fmt.Errorf("dump: %w", derr)
	}
	return m.stop(), err
}

// migrate moves a site to another platform and/or domain and/or database
// server: backup, unpack the backup at the new place, load the database on
// the new server if it changes, publish and check the site at its new
// place, and only then remove the old place. Until that point the old site
// is untouched and keeps serving; any failure removes what was created at
// the new place and puts the old web config back.
func migrate(ctx context.Context, j *job) error {
	se, err := j.openSite(ctx)
	if err != nil {
		return err
	}
	loc, web, db, err := j.openTarget(ctx, se)
	if err != nil {
		return err
	}
	old := se.loc
	sameDir := loc.Dir == old.Dir
	sameDB := db.svc.ID == se.db.svc.ID
	if sameDir && sameDB && web.svc.ID == se.web.svc.ID && slices.Equal(loc.Aliases, old.Aliases) {
		return failf(CodeNothingToDo, "Choose another platform, domain or database server.", nil,
			"The site is already on %s as %s", j.c.Target.Platform.Name, loc.Domain)
	}
	if err := j.checkDB(ctx, se.db); err != nil {
		return err
	}
	if !sameDB {
		if err := j.checkDB(ctx, db); err != nil {
			return err
		}
	}
	if !exists(old.Dir) {
		return failf(CodeSiteMissing, "Restore the site first.", nil, "The site directory %s is missing", old.Dir)
	}
	if !sameDir && exists(loc.Dir) {
		return failf(CodeSiteExists, fmt.Sprintf("Move %s away or choose another domain.", loc.Dir), nil,
			"The directory %s at the migration target already exists", loc.Dir)
	}
	if err := j.checkSiteUser(web, loc.Domain); err != nil {
		return err
	}
	sec, err := j.siteSecret(ctx, old.ID, "site_db")
	if err != nil {
		return err
	}
	oldCreds := creds(se.db, old.ID, sec)
	b, err := j.writeBackup(ctx, old, se.db, oldCreds, "pre-migrate")
	if err != nil {
		return err
	}
	j.res.Changes.Backups = append(j.res.Changes.Backups, b)

	done := func() {}
	if !sameDir { // a janitor removes the new place if this task dies before the commit (janitor.go)
		if done, err = j.markPartial(loc.Dir, partialSite{}); err != nil {
			return failf(CodeFilesFailed, "Check that aegir can write to the target platform.", err, "The target sites directory could not be written")
		}
	}
	defer done()
	u := &undo{}
	_, err = j.migrateSteps(ctx, se, oldCreds, sec, loc, web, db, b, u)
	if err != nil {
		return j.rollback(ctx, u, err)
	}
	done() // committed: the new place is the site's now
	j.res.Changes.Move = &SiteMove{Domain: loc.Domain, Aliases: loc.Aliases, PlatformID: j.c.Target.Platform.ID, DBServerID: j.c.Target.DBServer.ID}
	j.res.Summary = fmt.Sprintf("migrated %s to %s on %s", old.Domain, loc.Domain, j.c.Target.Platform.Name)
	// Committed: the site answers at its new place. With a router in
	// front that still sends requests to the old place until it has
	// followed the move, the old place stays for release-old-place
	// (release.go), which the dispatcher starts once the router has let
	// it go.
	if j.c.Env.ReleaseLater && (loc.Domain != old.Domain || web.svc.ID != se.web.svc.ID) {
		j.res.Changes.Release = &OldPlace{Domain: old.Domain, PlatformID: j.c.Platform.ID, DBServerID: j.c.DBServer.ID}
		j.res.Summary += "; the old place is removed once the router no longer sends the site there"
		j.log.Info("the old place stays until the router has moved the site", "domain", old.Domain, "server", j.c.WebServer.Name)
		return nil
	}
	if loc.Domain != old.Domain || web.svc.ID != se.web.svc.ID {
		if err := se.web.Remove(ctx, old.Domain); err != nil {
			j.log.Warn("the old web config could not be removed; remove it by hand", "domain", old.Domain, "err", err)
		}
	}
	if !sameDir {
		if err := os.RemoveAll(old.Dir); err != nil {
			j.log.Warn("the old site directory could not be removed; remove it by hand", "dir", old.Dir, "err", err)
		}
	}
	if !sameDB {
		if err := se.db.Drop(ctx, oldCreds); err != nil {
			j.log.Warn("the old database could not be dropped; drop it by hand", "name", oldCreds.Name, "err", err)
		}
	}
	if loc.Domain != old.Domain && j.siteUsers(se.web) {
		if err := j.removeSiteUser(ctx, old.Domain); err != nil {
			j.log.Warn("the old Unix user could not be removed; remove it by hand", "domain", old.Domain, "err", err)
		}
	}
	return nil
}

func (j *job) migrateSteps(ctx context.Context, se *siteEnvOf, oldCreds DBCreds, sec siteSecret, loc siteLoc, web *webConn, db *dbConn, b NewBackup, u *undo) (DBCreds, error) {
	old := se.loc
	disabled := j.c.Site.Status == domain.SiteDisabled
	var dump string
	if loc.Dir != old.Dir {
		if err := os.MkdirAll(filepath.Dir(loc.Dir), 0o755); err != nil {
			return DBCreds{}, failf(CodeFilesFailed, "Check that aegir can write to the target platform.", err, "The target sites directory could not be created")
		}
		staging, err := j.stage(ctx, loc, b.Path, b.SHA256, old.ID)
		if err != nil {
			return DBCreds{}, err
		}
		defer os.RemoveAll(staging)
		if err := os.Rename(filepath.Join(staging, "files"), loc.Dir); err != nil {
			return DBCreds{}, failf(CodeFilesFailed, "Check the permissions of the target platform.", err, "The site's files could not be moved into place")
		}
		u.push("remove the new site directory "+loc.Dir, func(context.Context) error { return os.RemoveAll(loc.Dir) })
		dump = filepath.Join(staging, archive.DatabaseName)
	}
	o, err := j.siteOwner(ctx, web, loc.Dir, loc.Domain, u) // kept when the domain is; made (and undone on failure) when not
	if err != nil {
		return DBCreds{}, err
	}
	loc.setOwner(o)
	if err := j.ownSite(ctx, o, loc.Dir, loc.Dir != old.Dir); err != nil {
		return DBCreds{}, ownFailed(err, loc.Dir)
	}
	j.reportSiteUser(o)
	cr := creds(db, loc.ID, sec)
	if db.svc.ID != se.db.svc.ID {
		if err := db.Create(ctx, cr); err != nil {
			return cr, failf(CodeDBFailed, "Check the target database server and aegir's admin privileges.", err,
				"%s could not create the database %s", capital(db.String()), cr.Name)
		}
		u.push("drop the database on the target server", func(ctx context.Context) error { return db.Drop(ctx, cr) })
		var summary []any
		var err error
		if dump != "" {
			summary, err = j.loadDump(ctx, db, cr, dump)
		} else {
			summary, err = j.loadFromArchive(ctx, db, cr, b.Path, b.SHA256)
		}
		if err != nil {
			return cr, failf(CodeDBFailed, "Check the target database server; the site still runs at its old place.", err,
				"%s could not load the site's database", capital(db.String()))
		}
		j.log.Info("database loaded", append([]any{"name", cr.Name}, summary...)...)
	}
	if err := j.writeSettings(loc, cr, sec); err != nil {
		return cr, err
	}
	if loc.Dir == old.Dir {
		u.push("put the old settings back", func(context.Context) error { return j.writeSettings(old, oldCreds, sec) })
	}
	if err := j.runSiteHook(ctx, platform.HookPostMigrate, loc, cr); err != nil {
		return cr, err
	}
	if err := j.publish(ctx, web, loc, disabled); err != nil {
		return cr, err
	}
	if loc.Domain == old.Domain && web.svc.ID == se.web.svc.ID {
		u.push("put the old web config back", func(ctx context.Context) error { return j.publish(ctx, se.web, old, disabled) })
	} else {
		u.push("remove the new web config", func(ctx context.Context) error { return web.Remove(ctx, loc.Domain) })
	}
	if err := j.syncSite(loc, cr); err != nil {
		return cr, err
	}
	return cr, j.waitAnswer(ctx, web, loc.Domain, disabled)
}
