package provision

import (
	"context"
	"fmt"
	"os"
	"strings"
)

// releaseOldPlace removes what a migrate left at the site's old place
// (Context.Target: the old domain, platform and database server): the web
// config there, the site's directory, its database on the old server and
// the old domain's Unix user. The dispatcher starts it only once the
// router in front no longer sends the site there (taskspec
// WaitsForRouter), so no request meets a removed vhost.
//
// Whatever is also the site's current place is kept: the web config of the
// domain it is served as on the server it is served from, its directory,
// its database. A step that fails is named in a warning and the others
// still run; the task fails only when the old web config stays, since
// that is what would answer the old domain.
func releaseOldPlace(ctx context.Context, j *job) error {
	se, err := j.openSite(ctx)
	if err != nil {
		return err
	}
	old, web, db, err := j.openPlace(ctx, se)
	if err != nil {
		return err
	}
	cur := se.loc
	var done, kept []string
	if old.Domain != cur.Domain || web.svc.ID != se.web.svc.ID {
		if err := web.Remove(ctx, old.Domain); err != nil {
			return failf(CodeWebPublishFailed, fmt.Sprintf("Check %s and retry; remove the web config of %s there by hand if it stays.", j.c.Target.WebServer.Name, old.Domain), err,
				"The old web config of %s on %s could not be removed", old.Domain, j.c.Target.WebServer.Name)
		}
		done = append(done, "web config")
	}
	if old.Dir != cur.Dir && exists(old.Dir) {
		if err := os.RemoveAll(old.Dir); err != nil {
			j.log.Warn("the old site directory could not be removed; remove it by hand", "dir", old.Dir, "err", err)
			kept = append(kept, "files "+old.Dir)
		} else {
			done = append(done, "files")
		}
	}
	if db.svc.ID != se.db.svc.ID {
		sec, err := j.siteSecret(ctx, cur.ID, "site_db")
		if err == nil {
			err = db.Drop(ctx, creds(db, cur.ID, sec))
		}
		if err != nil {
			j.log.Warn("the old database could not be dropped; drop it by hand", "server", j.c.Target.DBServer.Name, "err", err)
			kept = append(kept, "database on "+j.c.Target.DBServer.Name)
		} else {
			done = append(done, "database")
		}
	}
	if old.Domain != cur.Domain && j.siteUsers(web) {
		if err := j.removeSiteUser(ctx, old.Domain); err != nil {
			j.log.Warn("the old Unix user could not be removed; remove it by hand", "domain", old.Domain, "err", err)
			kept = append(kept, "Unix user")
		} else {
			done = append(done, "Unix user")
		}
	}
	j.res.Summary = fmt.Sprintf("removed the old place of %s on %s (%s)", old.Domain, j.c.Target.WebServer.Name, strings.Join(done, ", "))
	if len(done) == 0 {
		j.res.Summary = fmt.Sprintf("nothing of %s left on %s", old.Domain, j.c.Target.WebServer.Name)
	}
	if len(kept) > 0 {
		j.res.Summary += "; kept, remove by hand: " + strings.Join(kept, ", ")
	}
	return nil
}
