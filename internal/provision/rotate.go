package provision

import (
	"context"
	"fmt"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/secrets"
)

// rotateSiteCredentials is the rotate-credentials task: a new password for
// the site's own database user, changed in the secrets backend, in the
// database and in the site's settings file, then the site must answer.
//
// The order keeps the site working at every point a crash could stop it:
//  1. the secrets backend gets the new password (Vault's KV v2 keeps the
//     old one as the previous version); the database and settings still
//     hold the old one, so the site runs;
//  2. the database user's password changes (as admin, which needs no old
//     password, so running the task again always repairs a half rotation);
//  3. the settings file is rewritten (atomic rename);
//  4. the site must answer as before.
//
// If any step fails, the steps already taken are undone in reverse (old
// settings, old database password, old secret), so the old password keeps
// working.
func rotateSiteCredentials(ctx context.Context, j *job) error {
	se, err := j.openSite(ctx)
	if err != nil {
		return err
	}
	loc := se.loc
	if !exists(loc.Dir) {
		return failf(CodeSiteMissing, "Restore the site from a backup, or delete it and install it again.", nil,
			"The site directory %s is missing", loc.Dir)
	}
	if err := j.checkDB(ctx, se.db); err != nil {
		return err
	}
	old, err := j.siteSecret(ctx, loc.ID, "site_db")
	if err != nil {
		return err
	}
	st, err := j.openSecrets()
	if err != nil {
		return err
	}
	oldCreds := creds(se.db, loc.ID, old)
	next := siteSecret{Password: randomToken(), HashSalt: old.HashSalt}
	j.red.Add(next.Password)
	newCreds := creds(se.db, loc.ID, next)
	ref := j.secretRef("site_db", secrets.SiteDBRef(loc.ID))
	put := func(ctx context.Context, s siteSecret) error {
		return st.Put(ctx, ref, map[string]string{"username": NameFor(loc.ID), "password": s.Password, "hash_salt": s.HashSalt})
	}

	u := &undo{}
	err = func() error {
		if err := put(ctx, next); err != nil {
			hint := secretsHint(err, "Check that the secrets backend is reachable and writable; nothing was changed.")
			return failf(CodeSecretsUnavailable, hint, err, "The new password could not be stored, so nothing was changed")
		}
		u.push("put the old password back in the secrets backend", func(ctx context.Context) error { return put(ctx, old) })
		j.log.Info("new password stored", "ref", ref)

		if err := se.db.SetPassword(ctx, oldCreds, next.Password); err != nil {
			return failf(CodeDBFailed, "Check the database server and aegir's admin privileges; the old password still works.", err,
				"%s could not change the password of %s", capital(se.db.String()), oldCreds.User)
		}
		u.push("set the old password back in the database", func(ctx context.Context) error {
			return se.db.SetPassword(ctx, newCreds, old.Password)
		})
		j.log.Info("database password changed", "user", newCreds.User, "server", se.db.srv.Name)

		if err := j.writeSettings(loc, newCreds, next); err != nil {
			return err
		}
		u.push("write the settings file with the old password", func(context.Context) error { return j.writeSettings(loc, oldCreds, old) })

		return j.waitAnswer(ctx, se.web, loc.Domain, j.c.Site.Status == domain.SiteDisabled)
	}()
	if err != nil {
		return j.rollback(ctx, u, err)
	}
	j.res.Summary = fmt.Sprintf("rotated the database password of %s (database user %s, secrets backend, settings file)", loc.Domain, newCreds.User)
	return nil
}
