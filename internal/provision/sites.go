package provision

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision/platform"
	"github.com/aegirhq/aegir/internal/provision/weberr"
)

// siteEnvOf opens what every site task needs: the platform, the site's
// location, and the web and database drivers.
type siteEnvOf struct {
	loc siteLoc
	web *webConn
	db  *dbConn
}

func (j *job) openSite(ctx context.Context) (*siteEnvOf, error) {
	c := j.c
	plat, err := j.openPlatform(c.Platform)
	if err != nil {
		return nil, err
	}
	web, err := j.web(c.WebService, c.WebServer)
	if err != nil {
		return nil, err
	}
	db, err := j.db(ctx, c.DBService, c.DBServer, "db_admin")
	if err != nil {
		return nil, err
	}
	if db.clientHosts, err = clientHosts(c.WebServer, db); err != nil {
		return nil, err
	}
	s := c.Site
	loc := siteLoc{ID: s.ID, Domain: s.Domain, Aliases: s.Aliases, Redirect: s.RedirectAliases, Profile: s.Profile,
		PHP: s.PHP, HTTPS: s.HTTPS, HSTS: s.HSTS, Plat: plat, Dir: plat.SiteDir(s.Domain)}
	return &siteEnvOf{loc: loc, web: web, db: siteDB(loc, db)}, nil
}

// proposeStatus sets the site status change unless the site is already in it.
func (j *job) proposeStatus(s domain.SiteStatus) {
	if j.c.Site == nil || j.c.Site.Status != s {
		j.res.Changes.SiteStatus = s
	}
}

func install(ctx context.Context, j *job) error {
	if j.c.Platform.Locked {
		return failf(CodePlatformLocked, "Unlock the platform, or install the site on another platform.", nil,
			"The platform %s is locked and takes no new sites", j.c.Platform.Name)
	}
	se, err := j.openSite(ctx)
	if err != nil {
		return j.installFailed(err)
	}
	if err := j.checkDB(ctx, se.db); err != nil {
		return j.installFailed(err)
	}
	if err := j.checkWeb(ctx, se.web); err != nil {
		return j.installFailed(err)
	}
	if err := j.preflightInstallStep(se.loc); err != nil {
		return j.installFailed(err)
	}
	if err := j.checkSiteUser(se.web, se.loc.Domain); err != nil {
		return j.installFailed(err)
	}
	if exists(se.loc.Dir) {
		return j.installFailed(failf(CodeSiteExists,
			fmt.Sprintf("If it belongs to a site aegir does not know, import the platform's sites; otherwise move %s away and retry.", se.loc.Dir), nil,
			"The site directory %s already exists; aegir will not overwrite it", se.loc.Dir))
	}
	u := &undo{}
	if j.c.Backup != nil {
		from, err := j.installFromBackup(ctx, se.loc, se.web, se.db, u)
		if err != nil {
			return j.installFailed(j.rollback(ctx, u, err))
		}
		j.proposeStatus(domain.SiteEnabled)
		j.res.Summary = fmt.Sprintf("installed %s on %s from backup %s (%s)", se.loc.Domain, j.c.Platform.Name, j.c.Backup.ID, from)
		return nil
	}
	if err := j.installAt(ctx, se.loc, se.web, se.db, u, nil); err != nil {
		return j.installFailed(j.rollback(ctx, u, err))
	}
	j.proposeStatus(domain.SiteEnabled)
	j.res.Summary = fmt.Sprintf("installed %s on %s", se.loc.Domain, j.c.Platform.Name)
	return nil
}

func (j *job) installFailed(err error) error {
	j.proposeStatus(domain.SiteFailed)
	return err
}

// installAt creates a site at loc: its directory, database and user,
// settings, the platform's install step, and web config, then checks that
// it answers. Every step pushes its undo onto u. When filesFrom is set,
// the site directory is copied from there instead of created.
func (j *job) installAt(ctx context.Context, loc siteLoc, web *webConn, db *dbConn, u *undo, reuse *siteSecret) error {
	if err := os.MkdirAll(filepath.Dir(loc.Dir), 0o755); err != nil {
		return failf(CodeFilesFailed, "Check that aegir can write to the platform's directory.", err, "The sites directory of %s could not be created", loc.Plat.Path)
	}
	if err := os.Mkdir(loc.Dir, 0o755); err != nil {
		return failf(CodeFilesFailed, "Check that aegir can write to the platform's sites directory.", err, "The site directory %s could not be created", loc.Dir)
	}
	u.push("remove site directory "+loc.Dir, func(context.Context) error { return os.RemoveAll(loc.Dir) })
	if err := os.Mkdir(filepath.Join(loc.Dir, "files"), 0o755); err != nil {
		return failf(CodeFilesFailed, "Check the disk.", err, "The site's files directory could not be created")
	}
	if tmpl := loc.Plat.SiteTemplate(); tmpl != "" {
		if err := copyTree(ctx, filepath.Join(loc.Plat.Path, tmpl), filepath.Join(loc.Dir, tmpl)); err != nil {
			return failf(CodeFilesFailed, fmt.Sprintf("Check that the platform's %s/ directory is readable and the disk has room.", tmpl), err,
				"The platform's pages could not be copied into the site")
		}
	}
	o, err := j.siteOwner(ctx, web, loc.Dir, loc.Domain, u)
	if err != nil {
		return err
	}
	loc.setOwner(o)
	if err := j.ownSite(ctx, o, loc.Dir, true); err != nil {
		return ownFailed(err, loc.Dir)
	}
	j.reportSiteUser(o)
	sec, err := j.newSiteSecret(ctx, loc.ID, reuse)
	if err != nil {
		return err
	}
	u.push("delete the site's stored password", func(ctx context.Context) error { return j.deleteSiteSecret(ctx, loc.ID) })
	cr := creds(db, loc.ID, sec)
	if err := db.Create(ctx, cr); err != nil {
		return failf(CodeDBFailed, "Check the database server's log and that aegir's admin user may create databases and users.", err,
			"%s could not create the database and user %s", capital(db.String()), cr.Name)
	}
	u.push("drop database "+cr.Name, func(ctx context.Context) error { return db.Drop(ctx, cr) })
	j.log.Info("database created", "name", cr.Name, "server", db.srv.Name)
	if err := j.writeSettings(loc, cr, sec); err != nil {
		return err
	}
	pool := j.startPool(ctx, web, loc, u)
	if err := j.runInstallStep(ctx, loc, cr); err != nil {
		<-pool // the undo steps run once the pool is in place or refused
		return err
	}
	if err := <-pool; err != nil {
		return err
	}
	if o != nil { // the install step still runs as root: what it wrote is the site's too
		if err := j.ownSite(ctx, o, loc.Dir, true); err != nil {
			return ownFailed(err, loc.Dir)
		}
	}
	if err := j.publish(ctx, web, loc, false); err != nil {
		return err
	}
	u.push("remove web config of "+loc.Domain, func(ctx context.Context) error { return web.Remove(ctx, loc.Domain) })
	return j.waitAnswer(ctx, web, loc.Domain, false)
}

// startPool puts the site's own php-fpm pool in place while the
// platform's installer runs, when the web driver can do that alone
// (PoolPublisher) and the site has a pool: php-fpm's test, reload and
// the wait for the new socket overlap the installer instead of following
// it. Nothing routes requests to the pool until publish writes the
// vhost, after the installer, so no one reaches a half-installed site;
// publish then finds the pool unchanged. The channel gets the pool's
// result (nil at once when there is nothing to do). A refused pool was
// rolled back by the driver and fails the install; the undo step removes
// a pool that was loaded when a later step fails.
func (j *job) startPool(ctx context.Context, web *webConn, loc siteLoc, u *undo) <-chan error {
	done := make(chan error, 1)
	pp, ok := web.WebDriver.(PoolPublisher)
	site := j.webSite(loc, web, false)
	if !ok || site.Pool == nil {
		done <- nil
		return done
	}
	u.push("remove the php-fpm pool of "+loc.Domain, func(ctx context.Context) error { return web.Remove(ctx, loc.Domain) })
	start := time.Now()
	go func() {
		err := pp.PublishPool(ctx, site)
		if err != nil {
			err = failf(cmp.Or(weberr.Code(err), CodeWebPublishFailed),
				"Read the web server's error above; its previous config for the site was kept, and the other sites are unaffected.",
				err, "%s refused the php-fpm pool for %s", capital(web.String()), loc.Domain)
		} else {
			j.log.Info("php-fpm pool ready while the installer runs", "domain", loc.Domain, "elapsed", time.Since(start).Round(time.Millisecond).String())
		}
		done <- err
	}()
	return done
}

// preflightInstallStep fails before anything is created when the install
// command cannot be built (drush missing).
func (j *job) preflightInstallStep(loc siteLoc) error {
	_, err := j.installArgv(loc)
	return err
}

func (j *job) installArgv(loc siteLoc) ([]string, error) {
	argv, err := loc.Plat.InstallArgv(loc.Domain, loc.Profile)
	if errors.Is(err, platform.ErrDrushMissing) {
		return nil, failf(CodeDrushMissing,
			"Install drush in the platform (composer require drush/drush, giving vendor/bin/drush) or on the PATH of the user running aegir, then retry.", nil,
			"drush not found: a Drupal site is installed with drush site:install, and neither %s/vendor/bin/drush nor drush on the PATH exists", loc.Plat.Path)
	}
	if errors.Is(err, platform.ErrPHPMissing) {
		return nil, failf(CodePHPMissing, phpMissingHint, err, "Neither drush nor php for aegir's own Drupal installer was found")
	}
	if err != nil {
		return nil, failf(CodeContextInvalid, "Fix the site's install profile.", err, "The install command could not be built")
	}
	return argv, nil
}

func (j *job) runInstallStep(ctx context.Context, loc siteLoc, cr DBCreds) error {
	argv, err := j.installArgv(loc)
	if err != nil {
		return err
	}
	if argv == nil {
		return nil
	}
	if err := j.runCommandAs(ctx, "install", argv, loc.Plat.Path, siteEnv(loc, cr), loc.Cred); err != nil {
		return failf(CodeInstallHookFailed,
			"Read the command's output in the task log above, fix the platform or the database, and retry the install.", err,
			"The platform's install command %q failed", platform.ShowArgv(argv))
	}
	return nil
}

// verify re-renders the settings and web config and checks the site answers.
func verify(ctx context.Context, j *job) error {
	se, err := j.openSite(ctx)
	if err != nil {
		return err
	}
	if !exists(se.loc.Dir) {
		return failf(CodeSiteMissing, "Restore the site from a backup, or delete it and install it again.", nil,
			"The site directory %s is missing", se.loc.Dir)
	}
	sec, err := j.siteSecret(ctx, se.loc.ID, "site_db")
	if err != nil {
		return err
	}
	if err := j.keepOwner(ctx, se.web, &se.loc, false); err != nil {
		return err
	}
	if err := j.writeSettings(se.loc, creds(se.db, se.loc.ID, sec), sec); err != nil {
		return err
	}
	disabled := j.c.Site.Status == domain.SiteDisabled
	if err := j.publish(ctx, se.web, se.loc, disabled); err != nil {
		return err
	}
	if err := j.waitAnswer(ctx, se.web, se.loc.Domain, disabled); err != nil {
		return err
	}
	if err := j.runSiteHook(ctx, platform.HookVerify, se.loc, creds(se.db, se.loc.ID, sec)); err != nil {
		return err
	}
	if j.c.Site.Status == domain.SiteFailed {
		j.proposeStatus(domain.SiteEnabled)
	}
	pkgs, err := j.sitePackages(ctx, se)
	if err != nil {
		j.log.Warn("package scan failed", "err", err)
	}
	j.res.Changes.Packages = pkgs
	j.res.Summary = fmt.Sprintf("verified %s", se.loc.Domain)
	if ext, err := externalLinks(ctx, se.loc.Dir); err != nil {
		j.log.Warn("symlink scan failed", "err", err)
	} else if len(ext) > 0 {
		j.warnExternalLinks("symlink points outside the site: backups keep it as the link, not what it points to", "", ext)
		j.res.Summary += fmt.Sprintf("; %d symlinks point outside the site (see the log)", len(ext))
	}
	return nil
}

func disable(ctx context.Context, j *job) error { return j.setDisabled(ctx, true) }
func enable(ctx context.Context, j *job) error  { return j.setDisabled(ctx, false) }

func (j *job) setDisabled(ctx context.Context, disabled bool) error {
	se, err := j.openSite(ctx)
	if err != nil {
		return err
	}
	if !exists(se.loc.Dir) {
		return failf(CodeSiteMissing, "Restore the site from a backup, or delete it and install it again.", nil,
			"The site directory %s is missing", se.loc.Dir)
	}
	if err := j.publish(ctx, se.web, se.loc, disabled); err != nil {
		return err
	}
	if err := j.waitAnswer(ctx, se.web, se.loc.Domain, disabled); err != nil {
		// Put the previous state back so the site is as it was.
		_ = j.publish(context.WithoutCancel(ctx), se.web, se.loc, !disabled)
		return err
	}
	if disabled {
		j.proposeStatus(domain.SiteDisabled)
		j.res.Summary = fmt.Sprintf("disabled %s: it answers 503", se.loc.Domain)
	} else {
		j.proposeStatus(domain.SiteEnabled)
		j.res.Summary = fmt.Sprintf("enabled %s", se.loc.Domain)
	}
	return nil
}

// deleteSite takes a final backup, then removes the web config, the
// database and its user, the site directory and its stored password. Every
// removal treats "already gone" as done, so a failed delete can be retried.
func deleteSite(ctx context.Context, j *job) error {
	se, err := j.openSite(ctx)
	if err != nil {
		return err
	}
	if err := j.checkDB(ctx, se.db); err != nil {
		return err
	}
	sec, err := j.siteSecret(ctx, se.loc.ID, "site_db")
	if err != nil && j.c.Site.Status != domain.SiteFailed {
		return err
	}
	cr := creds(se.db, se.loc.ID, sec)
	if exists(se.loc.Dir) {
		if err := j.preDeleteHook(ctx, se, cr); err != nil { // before anything is removed
			return err
		}
		b, err := j.writeBackup(ctx, se.loc, se.db, cr, "pre-delete")
		if err != nil {
			return err
		}
		j.res.Changes.Backups = append(j.res.Changes.Backups, b)
	} else {
		j.log.Warn("the site directory is already gone; no final backup taken", "dir", se.loc.Dir)
	}
	if err := se.web.Remove(ctx, se.loc.Domain); err != nil && !errors.Is(err, os.ErrNotExist) {
		return failf(CodeWebPublishFailed, "Fix the web server, then run delete again; the final backup is kept.", err,
			"%s could not remove the config of %s", capital(se.web.String()), se.loc.Domain)
	}
	if err := se.db.Drop(ctx, cr); err != nil {
		return failf(CodeDBFailed, "Fix the database server, then run delete again; the final backup is kept.", err,
			"%s could not drop the database and user %s", capital(se.db.String()), cr.Name)
	}
	if err := os.RemoveAll(se.loc.Dir); err != nil {
		return failf(CodeFilesFailed, "Fix the permissions, then run delete again; the final backup is kept.", err,
			"The site directory %s could not be removed", se.loc.Dir)
	}
	if j.siteUsers(se.web) {
		if err := j.removeSiteUser(ctx, se.loc.Domain); err != nil {
			return failf(CodeSiteUserFailed, "Remove the user by hand (userdel) if aegir made it, then run delete again; the final backup is kept.", err,
				"The Unix user of %s could not be removed", se.loc.Domain)
		}
	}
	if err := j.deleteSiteSecret(ctx, se.loc.ID); err != nil {
		return failf(CodeSecretsUnavailable, "Fix the secrets backend, then run delete again.", err, "The site's stored password could not be deleted")
	}
	j.forgetSiteRole(ctx, se.loc.ID) // vaultcreds.go
	j.deleteCert(ctx, se.loc.ID)     // certificates.go
	j.res.Changes.RemoveSite = true
	j.res.Summary = fmt.Sprintf("deleted %s (web config, database %s, files, Unix user, password); final backup kept", se.loc.Domain, cr.Name)
	return nil
}

// preDeleteHook runs the platform's pre-delete hook as the site's user.
// A site whose user is already gone (a delete retried after it removed
// the user, an install that failed half way) skips the hook with a
// warning instead of running it as root or refusing the delete.
func (j *job) preDeleteHook(ctx context.Context, se *siteEnvOf, cr DBCreds) error {
	if se.loc.Plat.HookArgv(platform.HookPreDelete) == nil {
		return nil
	}
	if err := j.asSite(se.web, &se.loc); err != nil {
		if errors.Is(err, ErrSiteUserGone) {
			j.log.Warn("pre-delete hook not run: the site's Unix user is gone, and a site's hook never runs as root", "domain", se.loc.Domain)
			return nil
		}
		return err
	}
	return j.runSiteHook(ctx, platform.HookPreDelete, se.loc, cr)
}

func rotateCredentials(context.Context, *job) error {
	return failf(CodeNotSupported,
		"Nothing was changed. Credential rotation arrives with the Vault integration; until then the site keeps its generated password.", nil,
		"rotate-credentials is not supported yet by this back end")
}
