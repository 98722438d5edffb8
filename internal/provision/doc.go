// Package provision is aegir's back end: `aegir provision run --context
// FILE|-` runs one task on the servers it names and prints one result.
//
// # The runner
//
// Main parses the command line, reads the context (a versioned JSON
// document: the task and its target with every relationship resolved, and
// references to secrets, never their values), and hands it to a Runner.
// The Runner
//
//  1. checks every value that will reach a path, a config file, a command
//     or a query (validateContext): domains must already be normalised,
//     paths absolute and clean with safe characters, ids aegir ids, service
//     settings free of control characters. A crafted value fails the task
//     with context_invalid before anything is written (a context of
//     another schema version, ContextVersion, fails version_mismatch: the
//     dispatcher is another aegir release; the dispatcher refuses a result
//     of another version the same way);
//  2. opens the secrets backend (Deps.OpenSecrets) and, per task, reads
//     the database admin credentials (Context.Secrets["db_admin"], default
//     secrets.ServiceAdminRef) and the site's own password
//     (Context.Secrets["site_db"], default secrets.SiteDBRef). Every value
//     read or generated is registered with the Redactor;
//  3. builds the web and database drivers from Deps.Web / Deps.DB by
//     service kind;
//  4. runs the task's handler, which fills Result.Changes;
//  5. maps any error to a Failure: a stable code (the Code* constants), one
//     paragraph of explanation naming the server, site or file concerned,
//     and a fix hint. A panic becomes internal_error; a cancelled context
//     (SIGTERM from the local executor, a timeout) becomes cancelled, after
//     the rollback ran on a context that survives the cancellation.
//
// Log lines go to stderr as JSON objects, one per line ({"time", "level",
// "msg", ...}), and hook/drush output is logged line by line as it comes.
// A long step (backup, unpack, database load or copy, file copy or
// check) logs a progress line every Runner.ProgressInterval (5 s) while
// it runs: bytes so far of each part, of its total when known, percent,
// time left and rate; its final line adds its totals, seconds and rate
// (progress.go).
// Every line and the result pass through the Redactor, which replaces each
// known secret value (raw and JSON-escaped) with "[redacted]". stdout
// holds exactly one Result; the exit status is 0 whenever a result was
// written. Hooks and drush run with exec (argv, never a shell) and an
// environment built from scratch (PATH, HOME, LANG, the platform
// manifest's env block and the AEGIR_* site variables), so tokens in
// aegir's own environment never reach them; when a site location carries
// a Unix credential (siteLoc.Cred) they run as that user and group
// (procAttr, hooks.go).
//
// # Lifecycle hooks
//
// A php platform's manifest may declare hooks run at fixed points
// (runSiteHook, hooks.go): post-restore, post-clone and post-migrate once
// files, database and settings are in place and before the site is
// published, so a failing one rolls the task back with its undo list;
// verify once the site answers; pre-delete before delete's final backup
// and before anything is removed. Publishing records the platform's
// expect check, and waitAnswer then wants its text in the body
// (site_wrong_answer otherwise). A platform with database = false gets a
// driver that does nothing (withoutDatabase), so the tasks' database steps
// need no special case.
//
// # The result contract
//
// The back end never writes the entity store. It proposes changes the
// dispatcher applies check-and-set: SiteStatus (only when it differs from
// the context's status, since the state machines refuse a same-state
// transition), NewSites (clone, import), Move (migrate), RemoveSite,
// Backups (every archive a task wrote and kept, with its reason, even on
// a failed task: delete's final backup and restore's safety backup, when it takes one, exist
// on disk whatever happens next), PlatformStatus/PlatformRel/Packages
// (verify-platform), PlatformLocked, RemovePlatform, ServerStatus.
//
// # Layout
//
// See package platform for the platform types. A site lives in
// S = P/sites/<domain>; a static site's docroot is S/public (its own copy
// of P/public); php and drupal sites share the platform's docroot and get
// S/settings.json or S/settings.php (0640, see "Who runs as what"). Its
// database and user are both NameFor(site id). Backups are
// BackupDir/<domain>/<UTC time>-<task id>[-reason].tar.zst (see package
// archive for the format).
//
// # Rollback, task by task
//
// Every task that creates things pushes an undo step after each step that
// succeeded and, on failure or cancel, runs them in reverse; if an undo step
// fails too, the code becomes rollback_incomplete and the explanation lists
// what is left.
//
//   - install: checks the db and web servers, the platform (type, lock) and
//     that drush, or php for aegir's own installer, exists (drupal) before
//     creating anything. Then site dir →
//     password in secrets → database and user → settings → install hook or
//     drush → web config → answer check. Failure undoes all of it and
//     proposes SiteStatus failed; nothing of the site is left.
//   - verify, enable, disable: re-render settings / web config and check
//     the answer (503 when disabled). enable/disable put the previous web
//     config back if the site does not answer as expected.
//   - backup: the archive is written to a temp name that carries the task
//     id (<final>.tmp-<task>-<random>) and renamed; a failed backup leaves
//     no file, a killed one leaves the temp file to the janitor. The whole-archive sha256 is computed while
//     writing; the file is re-read while it is synced and checked against
//     the bytes written (CRC-32C and size). Files up to 1 MiB are opened by
//     the walk (no link followed) and read and hashed by a few goroutines
//     ahead of the tar writer, at most 64 files and 16 MiB ahead.
//   - restore: the live database is set aside (DBSetAside: PostgreSQL
//     ALTER DATABASE ... RENAME, MariaDB RENAME TABLE into a holding
//     schema <db>_a<task>, an SQLite file linked as .<db>.aside-<task>.db) and
//     the backup's dump loaded in its place while the archive is unpacked
//     into a staging dir beside the site and verified against its recorded
//     sha256 and its manifest; the load sees the end of the dump only once
//     the archive verified. A corrupt archive fails (backup_corrupt) with
//     the database put back and the files untouched. Then: site dir
//     renamed aside, staged files renamed in, settings and web config
//     rendered, the filesystem synced (syncfs: it is what makes an SQLite
//     load durable, as the driver renames or copies it unsynced), answer
//     checked; on success
//     the held database and the old dir are removed. Any failure renames
//     the old dir back and puts the held database back, so the site is as
//     it was. A database that cannot be set aside (MariaDB views,
//     triggers, routines, events) gets the older path: a verified safety
//     backup (pre-restore) first, reloaded from on failure. Restore, clone
//     and migrate report success only after the syncfs.
//   - clone: never modifies the source. Files copied, new password, new
//     database loaded from a streamed dump of the source, settings, web
//     config, answer check; any failure removes everything of the clone.
//   - migrate: backup first (pre-migrate); the new place is built from
//     that backup (files unpacked beside the target; database created and
//     loaded only when the database server changes); settings; web config
//     for the new place (replacing the old one when domain and web server
//     are the same); answer check. Until that check passes the old site is
//     untouched and its config is put back on failure. Only then are the
//     old web config, site dir and (if moved) database removed; failures
//     there are logged as warnings, since the site already runs at its new
//     place.
//   - delete: final backup (pre-delete), then web config, database and
//     user, site dir, stored password. Each removal treats "already gone"
//     as done, so a failed delete is simply run again; the final backup is
//     always kept and reported.
//   - lock, unlock, import, verify-platform: change nothing on disk.
//   - delete-platform: refuses while P/sites holds site directories; it
//     never deletes the platform's code (operators own it) and says so.
//   - rotate-credentials (rotate.go): the new password goes into the
//     database, the secrets backend and the settings file; if the site
//     stops answering, the old one is put back everywhere.
//
// # Who runs as what
//
// The back end runs as root on a production web server; what it does as
// root is: create and remove sites' Unix users and groups (useradd
// --user-group, userdel, groupdel as argument lists, never a shell), write
// vhosts and reload the web server, create databases and their users,
// read sites' files (package sitetree, below) and give restored, cloned
// and migrated files to their site, write sites' php-fpm pools and reload
// php-fpm. nginx's workers run as the web service's web_group (default
// www-data), their masters as root. With site users and the nginx
// service's php_pool_dir, each PHP site's PHP runs in its own php-fpm
// pool as the site's user (WebSite.Pool, from sitePool; written, tested
// and reloaded by webnginx; an install loads it while the platform's
// installer runs, startPool, and writes the vhost only after the
// installer, so no request reaches a half-installed site), with
// open_basedir limited to the platform,
// the site's directory and its own temporary directory; otherwise PHP
// runs in the shared php_fastcgi pool with what the web group may read. The platform's install
// command and every hook of a site (post-restore, post-clone,
// post-migrate, verify, pre-delete, cron with drush's or aegir's own
// Drupal cron, stats) run as the site's user and group, with the web
// group as a supplementary group so platform code the operator gave the
// web server stays readable (siteLoc.setOwner; cron, stats and delete
// look the user up with asSite and never make it: a missing user fails
// cron and stats, and delete skips pre-delete with a warning). The
// packages hook of verify-platform belongs to no site and runs as nobody
// with the web group (platformUser). No platform code runs as root where
// sites have users.
//
// Site users (siteuser.go). When the back end runs as root and the web
// kind declares servicekind.SiteUsers (nginx), each site has its own user
// and group, SiteUserName(domain): "ae-", 20 bytes of the domain, "-", 8
// hex digits of its sha256 (≤ 32 bytes, distinct for domains that read
// alike), --system, no home, /usr/sbin/nologin, comment "aegir site
// <domain>". A user or group of that name without that comment is
// someone else's: install, clone and migrate fail with site_user_failed
// before changing anything. install creates it (undone on failure),
// verify, restore and migrate keep it (making it again if it is gone),
// clone makes one for the clone, delete removes it after the final
// backup, migrate to another domain removes the old one once the site
// answers at its new place. Result.Changes.SiteUser (and
// NewSite.UnixUser for a clone) reports name, uid and gid.
//
// Ownership (ownSite, writeOwned). The site directory and, after
// install, restore, clone, migrate and verify-backup, everything in it
// are lchowned to the site's user and the web group through an os.Root
// while sitetree lists them (no link followed); the directory is 0750,
// files/ 2750 with per-site pools (PHP writes as the owner) or 2770
// without php_pool_dir (the shared pool writes uploads through the
// group), the settings file 0640, owner and mode
// set before the rename that puts it in place, on every write. A task
// that does not look the user up (rotate-credentials) keeps the owner of
// the file it replaces. Without site users (builtin web server, aegir
// dev, a back end that is not root) nothing is chowned and the site
// directory keeps install's 0755.
//
// Settings never served: WebSite.Deny lists the settings file; web
// drivers refuse it when the docroot holds it (nginx: exact-match deny
// locations; builtin: by name and by identity).
//
// Database accounts only from the web server: DBCreds.ClientHosts comes
// from the context (clientHosts): loopback ("localhost", "127.0.0.1",
// "::1") when the web server is the database server or reaches it over
// loopback or a socket, else the web server's address; never a
// wildcard. Vault's throwaway dump users get the same hosts
// ({{client_host}} in servicekind's statements).
//
// # Leftovers of dead tasks: the janitor
//
// A back end killed with SIGKILL (or whose machine stopped) runs no
// rollback. Everything temporary a task makes therefore names its task:
//
//   - BackupDir/<domain>/<final>.tmp-<task>-<random>: an archive being
//     written (backup, and the safety and final backups of restore,
//     migrate and delete);
//   - P/sites/.aegir-staging-<task>: an archive unpacked for restore,
//     migrate or verify-backup;
//   - P/sites/.aegir-partial-<task>: a small JSON marker a clone, migrate
//     or verify-backup writes before it builds a site directory, naming
//     the directory and, when no record can own them (a clone's new site
//     id, verify-backup's throwaway), the database, stored password and
//     web config that go with it. It is removed when the task ends, or
//     kept when its rollback did not finish;
//   - P/sites/.aegir-old-<task>: a restore's live site moved aside
//     during the swap, renamed .aegir-replaced-<task> once the restore
//     succeeded: its result queues remove-replaced-files, which removes
//     it (a restore of 200,000 files would otherwise spend about as long
//     again removing the old ones before it reports);
//   - a restore's held database (<db>_a<task> on a server,
//     .<db>.aside-<task>.db beside an SQLite file): like .aegir-old-*, it
//     may be the only copy of the site's data, so no janitor removes it.
//
// Before each task the Runner runs the janitor (janitor.go). The
// dispatcher puts in the context the ids of every active (queued or
// running) task and when it listed them (Context.Live, at most
// dispatch.MaxLiveTasks; without it the janitor does nothing). A leftover
// is removed only when its task is not in that list and it is older than
// the list by Runner.ClockSkew (2 min), so neither a running task nor one
// that started after the list was taken loses its files. The sites
// directories of the platforms the context names are swept before every
// task (a directory listing each); the backup directory (one listing per
// domain) at most every Runner.JanitorInterval (10 min, a stamp file
// .aegir-janitor in it). A dead partial marker is undone only when the
// context names the services it lists (a later task on the same platform
// and servers does); .aegir-old-* is never removed, since it may be the
// only copy of a site's files: it is logged and counted as kept. A
// .aegir-replaced-* directory (its restore succeeded) is removed once its
// restore is not live and it was renamed (its ctime) an hour before the
// list, should remove-replaced-files never have run. Archive
// temp files named by an older aegir (no task id) are removed when a day
// older than the list. Each removal logs a line (path, owner_task,
// bytes); Result.Janitor counts them. The janitor never fails a task.
//
// Orphan archives: an archive committed by a task whose result was never
// applied (a back end that finished after its task was failed, a killed
// leader) has no backup record. Only the store can tell, so for a site
// task the dispatcher adds to the list the site's recent tasks that could
// write backups, ended failed or cancelled and recorded none
// (LiveTasks.Unrecorded: the newest 10 tasks of the site, finished within
// 48 h); the janitor removes the archives named with one of them in
// BackupDir/<site domain>/ (archive names carry their task id).
//
// Not covered: Vault's throwaway dump users need no janitor (their lease
// expires by itself). A clone killed after publishing its web config
// leaves that config (another site may have taken the domain since); a
// migrate leaves the database it created on a new database server (the
// same name is the site's own once a later migrate succeeds), and only its
// directory is removed. An orphan archive of a site that was deleted
// since, or of a task older than the bounds above, stays.
//
// # Certificates (certificates.go)
//
// Every publish of a site with HTTPS (install, verify, enable, restore,
// migrate) reads its bundle from the secrets store (secrets.SiteCertRef)
// and hands it to the web driver; when there is none, it expires within
// Env.TLS.RenewWindow or misses a name, it first publishes over HTTP (so
// HTTP-01 can reach the site), asks the issuer (the local CA, kept at
// secrets.LocalCARef; ACME through internal/certs and lego, its account key
// kept per directory; an uploaded certificate is never replaced), keeps the
// new bundle and publishes again. The site's certificate state goes into
// the result (Changes.Certificate). A failure is recorded there with its
// hint and the site keeps serving as it did; only the certificate task,
// the certificates queue's, fails on it (code certificate_failed). Delete
// revokes an ACME certificate, then removes the secret.
//
// # Reading a tenant's files as root
//
// The back end runs as root and a site's files are its tenant's, who can
// change them while a task reads them. Every walk over a site directory
// (backup, clone and migrate copies, verify-backup's check, the package
// scan, disk usage and progress totals) goes through package sitetree:
// each entry is opened relative to its parent directory's descriptor with
// O_NOFOLLOW and checked (device, inode, type) to be what was listed, so
// a directory swapped for a symlink mid-walk fails the task ("changed
// while it was read; run the task again") instead of reading what the
// link points to. Copies are written through an os.Root of the new
// directory, restores through one of the staging directory; removals use
// os.RemoveAll, which does not follow links either.
//
// # Symlinks out of a site
//
// A link whose target leaves the site directory (absolute, or climbing
// out with ".."; judged lexically by archive.LinkLeaves, whether or not
// the target exists), as Debian's DokuWiki ships, is judged when the
// backup is taken, not when it is restored: the backup keeps it as a link
// (never what it points to), logs a warning naming each such link, counts
// them in NewBackup.ExternalLinks and lists them in the archive's
// manifest (external_links). A restore, clone or migrate puts them back
// as links; the archive reader refuses any entry lying under a link, so
// nothing is ever written through one. Verify warns about the same
// links. The restored site works only where the targets exist, which is
// why each is named.
//
// # What has not run against real Drupal
//
// Drupal core cannot be downloaded here. Tested on testdata's
// drupal-fixture (10) and drupal7-fixture: type detection, the core
// version, package scanning of *.info.yml, *.info and composer.lock,
// settings.php rendering (golden file, escaping), install and cron with a
// fake drush on the PATH, aegir's own installer and cron runner against
// the fixtures' install_drupal(), DrupalKernel, cron service,
// drupal_bootstrap() and drupal_cron_run() (which record what they were
// given), the installer's failure with its rollback, and php missing.
// Never run: drush site:install itself, aegir's installer on real core, a
// generated settings.php being loaded by Drupal, and Drupal cron.
package provision
