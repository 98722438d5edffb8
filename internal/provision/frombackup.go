package provision

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aegirhq/aegir/internal/provision/archive"
	"github.com/aegirhq/aegir/internal/provision/platform"
)

// installFromBackup is the install of a site brought back from a backup (a
// deleted site's final backup, or an archive imported through the API):
// the archive is unpacked and verified beside the platform's sites
// directory before anything of the site exists, so a missing, corrupt or
// foreign archive changes nothing. Then the files are moved into place,
// the site gets its Unix user, a new database and password (the archive's
// dump loaded into it), its settings and web config, and must answer. Every
// step pushes its undo onto u. It returns where the files came from, for
// the summary.
//
// The archive's manifest may name another site (an import): the backup
// record the dispatcher resolved is checked to be this site's, and the
// archive against the record's sha256, so the record is the authority.
func (j *job) installFromBackup(ctx context.Context, loc siteLoc, web *webConn, db *dbConn, u *undo) (string, error) {
	b := j.c.Backup
	if err := os.MkdirAll(filepath.Dir(loc.Dir), 0o755); err != nil {
		return "", failf(CodeFilesFailed, "Check that aegir can write to the platform's directory.", err, "The sites directory of %s could not be created", loc.Plat.Path)
	}
	staging, m, err := j.stageArchive(ctx, loc, b.Path, b.SHA256, nil)
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(staging)
	if m.PlatformType != "" && m.PlatformType != string(loc.Plat.Type) {
		return "", failf(CodePlatformType, "Bring the site back on a platform of the backup's type.", nil,
			"The backup %s is of a %s site; the platform %s is of type %s, so nothing was changed", b.Path, m.PlatformType, j.c.Platform.Name, loc.Plat.Type)
	}
	if kind := string(j.c.DBService.Kind); m.DBKind != "" && m.DBKind != kind {
		return "", failf(CodeInvalidInput, "Bring the site back with a database server of the backup's kind.", nil,
			"The backup %s holds a %s database dump; the database server %s runs %s, so nothing was changed", b.Path, m.DBKind, j.c.DBServer.Name, kind)
	}
	if err := os.Rename(filepath.Join(staging, "files"), loc.Dir); err != nil {
		return "", failf(CodeFilesFailed, "Check the permissions of the platform's sites directory.", err, "The backup's files could not be moved into %s", loc.Dir)
	}
	u.push("remove site directory "+loc.Dir, func(context.Context) error { return os.RemoveAll(loc.Dir) })
	o, err := j.siteOwner(ctx, web, loc.Dir, loc.Domain, u)
	if err != nil {
		return "", err
	}
	loc.setOwner(o)
	if err := j.ownSite(ctx, o, loc.Dir, true); err != nil {
		return "", ownFailed(err, loc.Dir)
	}
	j.reportSiteUser(o)
	sec, err := j.newSiteSecret(ctx, loc.ID, nil)
	if err != nil {
		return "", err
	}
	u.push("delete the site's stored password", func(ctx context.Context) error { return j.deleteSiteSecret(ctx, loc.ID) })
	cr := creds(db, loc.ID, sec)
	if err := db.Create(ctx, cr); err != nil {
		return "", failf(CodeDBFailed, "Check the database server's log and that aegir's admin user may create databases and users.", err,
			"%s could not create the database and user %s", capital(db.String()), cr.Name)
	}
	u.push("drop database "+cr.Name, func(ctx context.Context) error { return db.Drop(ctx, cr) })
	summary, err := j.loadDump(ctx, db, cr, filepath.Join(staging, archive.DatabaseName))
	if err != nil {
		return "", failf(CodeDBFailed, "Check that the backup's database kind matches the database server's; nothing of the site was kept.", err,
			"%s could not load the backup's database dump", capital(db.String()))
	}
	j.log.Info("database loaded", append([]any{"name", cr.Name}, summary...)...)
	if err := j.writeSettings(loc, cr, sec); err != nil {
		return "", err
	}
	if err := j.runSiteHook(ctx, platform.HookPostRestore, loc, cr); err != nil {
		return "", err
	}
	if err := j.publish(ctx, web, loc, false); err != nil {
		return "", err
	}
	u.push("remove web config of "+loc.Domain, func(ctx context.Context) error { return web.Remove(ctx, loc.Domain) })
	if err := j.waitAnswer(ctx, web, loc.Domain, false); err != nil {
		return "", err
	}
	return fmt.Sprintf("the files and database of %s as of %s", m.Domain, m.Created.UTC().Format("2006-01-02 15:04 UTC")), nil
}
