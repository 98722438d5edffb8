package provision

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aegirhq/aegir/internal/servicekind"
	"github.com/aegirhq/aegir/secrets"
)

// Throwaway database users (issue 6). When the secrets backend can lease
// database users (Vault's database secrets engine: secrets.DynamicIssuer)
// and the site's database kind can lease users (its servicekind descriptor
// has the dynamic-credentials capability: MariaDB, PostgreSQL), a dump -
// backup, the backups that restore, migrate and delete take, and the copy
// of a clone - runs as a user that exists only for this task:
//
//   - the user is leased for the task (named "t-<task id>-<random>", so the
//     database server's logs tie what it did to the task), can read only
//     the site's database, and is revoked - dropped from the server - when
//     the dump ends, success or failure; Main's context is cancelled on
//     SIGTERM/SIGINT, so a signalled back end still unwinds and revokes;
//   - if the process is killed outright, the lease's TTL (the task's
//     deadline plus a margin, else DefaultLeaseTTL) drops the user;
//   - Vault's connection for the service (database/config/<service id>)
//     and the site's role (database/roles/site-<site id>) are written from
//     the admin credentials the task holds anyway, the first time a site
//     needs them.
//
// Every other store (the embedded file store) keeps dumping with the
// admin credentials.

// DefaultLeaseTTL is a throwaway user's lease when the task's context has
// no deadline.
const DefaultLeaseTTL = 2 * time.Hour

// dumpConn returns what to dump siteID's database on d with, and a release
// function the caller defers. With a DynamicIssuer store and a service
// whose kind has dynamic credentials it is a driver logged in as a
// throwaway user, and release revokes the lease; otherwise d itself and a
// no-op.
func (j *job) dumpConn(ctx context.Context, d *dbConn, siteID string) (*dbConn, func(), error) {
	noop := func() {}
	if d.none { // the site has no database to dump
		return d, noop, nil
	}
	if desc, ok := servicekind.Lookup(d.svc.Kind); !ok || !desc.Has(servicekind.DynamicCredentials) {
		return d, noop, nil
	}
	st, err := j.openSecrets()
	if err != nil {
		return nil, noop, err
	}
	issuer, ok := st.(secrets.DynamicIssuer)
	if !ok {
		return d, noop, nil
	}
	fail := func(err error, what string) (*dbConn, func(), error) {
		hint := secretsHint(err, "Check Vault and its database secrets engine (ops/vault/setup-dev.sh), then run the task again.")
		return nil, noop, failf(CodeSecretsUnavailable, hint, err, "%s for the database %s on %s", what, NameFor(siteID), d.srv.Name)
	}
	if err := j.ensureSiteRole(ctx, issuer, d, siteID, false); err != nil {
		return fail(err, "Vault's database secrets engine could not be set up")
	}
	ttl := DefaultLeaseTTL
	if dl, ok := ctx.Deadline(); ok {
		ttl = time.Until(dl) + 5*time.Minute
	}
	user, pass, lease, err := issuer.DynamicCredsForTask(ctx, secrets.SiteRoleName(siteID), j.c.Task.ID, ttl)
	if errors.Is(err, secrets.ErrVaultRequest) {
		// Vault could not create the user: its connection may hold admin
		// credentials changed since, or the role an older form. Write both
		// again from what this task holds and retry once.
		j.log.Warn("leasing a throwaway user failed; configuring Vault's connection and role again", "err", err)
		if err := j.ensureSiteRole(ctx, issuer, d, siteID, true); err != nil {
			return fail(err, "Vault's database secrets engine could not be set up")
		}
		user, pass, lease, err = issuer.DynamicCredsForTask(ctx, secrets.SiteRoleName(siteID), j.c.Task.ID, ttl)
	}
	if err != nil {
		return fail(err, "No throwaway database user could be leased from Vault")
	}
	j.red.Add(pass)
	log := j.log.With("user", user, "lease", lease)
	revoke := func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := issuer.Revoke(rctx, lease); err != nil {
			log.Error("the throwaway database user could not be revoked; Vault drops it when its lease ends", "err", err, "ttl", ttl.Round(time.Second).String())
			return
		}
		log.Info("throwaway database user revoked")
	}
	drv, err := j.deps.DB[d.svc.Kind](*d.svc, *d.srv, map[string]string{"username": user, "password": pass}, j.c.Env, j.log.With("service", string(d.svc.Kind)))
	if err != nil {
		revoke()
		return nil, noop, failf(CodeDriverFailed, "Check the database service's settings.", err, "The %s driver could not be set up for the throwaway user", d.svc.Kind)
	}
	log.Info("throwaway database user leased for the dump", "ttl", ttl.Round(time.Second).String())
	return &dbConn{DBDriver: drv, svc: d.svc, srv: d.srv}, func() {
		if c, ok := drv.(io.Closer); ok {
			_ = c.Close()
		}
		revoke()
	}, nil
}

// ensureSiteRole writes Vault's connection to d's server and the site's
// role, unless the role exists and force is false.
func (j *job) ensureSiteRole(ctx context.Context, issuer secrets.DynamicIssuer, d *dbConn, siteID string, force bool) error {
	if !force {
		ok, err := issuer.SiteRoleExists(ctx, siteID)
		if err != nil || ok {
			return err
		}
	}
	ref := secrets.ServiceAdminRef(d.svc.ID)
	if j.c.DBService != nil && d.svc.ID == j.c.DBService.ID {
		ref = j.secretRef("db_admin", ref)
	}
	admin, err := j.getSecret(ctx, ref)
	if err != nil {
		return fmt.Errorf("the admin credentials of %s: %w", d.srv.Name, err)
	}
	desc, ok := servicekind.Lookup(d.svc.Kind)
	if !ok || desc.Vault == nil {
		return fmt.Errorf("%s databases have no Vault database plugin", d.svc.Kind)
	}
	port := cmp.Or(d.svc.Port, desc.DefaultPort)
	if err := issuer.ConfigureDatabase(ctx, secrets.DatabaseConnection{
		ServiceID: d.svc.ID, Vault: desc.Vault, Host: cmp.Or(d.svc.Settings["host"], d.srv.Address), Port: port,
		Username: admin["username"], Password: admin["password"],
		SSLMode: d.svc.Settings["sslmode"], AdminDatabase: d.svc.Settings["admin_database"],
	}); err != nil {
		return err
	}
	if err := issuer.ConfigureSiteRole(ctx, secrets.SiteRole{SiteID: siteID, ServiceID: d.svc.ID, Vault: desc.Vault, Database: NameFor(siteID), ClientHosts: d.clientHosts}); err != nil {
		return err
	}
	j.log.Info("Vault database role configured", "role", secrets.SiteRoleName(siteID), "connection", d.svc.ID)
	return nil
}

// forgetSiteRole removes the site's Vault role when the site is deleted;
// a store without throwaway users has nothing to remove. Failures are
// logged, not fatal: a leftover role only names a database that is gone.
func (j *job) forgetSiteRole(ctx context.Context, siteID string) {
	st, err := j.openSecrets()
	if err != nil {
		return
	}
	r, ok := st.(interface {
		DeleteSiteRole(ctx context.Context, siteID string) error
	})
	if !ok {
		return
	}
	if err := r.DeleteSiteRole(ctx, siteID); err != nil {
		j.log.Warn("the site's Vault database role could not be removed; remove it with vault delete", "role", secrets.SiteRoleName(siteID), "err", err)
	}
}

// secretsHint is the fix hint for a secrets backend error: Vault's own
// (unseal, renew the token, apply the policies ...) when err is a
// *secrets.VaultError, else def. For openSecrets and getSecret's callers.
func secretsHint(err error, def string) string {
	var ve *secrets.VaultError
	if errors.As(err, &ve) {
		return ve.Hint()
	}
	return def
}
