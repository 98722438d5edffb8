// Package webnginx is the provision.WebDriver for nginx with php-fpm as the
// PHP upstream: one vhost file per site, <config_dir>/<domain>.conf,
// rendered from vhost.conf.tmpl.
//
// # Nothing pasted
//
// Every value that reaches the template is validated first, by allow-list:
// domains and aliases through domain.NormalizeDomain (a-z, 0-9, '-', '.'),
// docroots and sockets through domain.ValidatePath, the FastCGI upstream as
// unix:/abs/path or an IP literal and port, an HTTP upstream as http://IP:port,
// FastCGI parameter names as [A-Z_][A-Z0-9_]* and their values as letters,
// digits and "/._-:@+=,". None of these can hold whitespace, ';', '{', '}',
// '"', '$', '#' or '\', so no value can end a directive, open a block or
// expand an nginx variable. Bad input is refused with domain.ErrInvalid
// before any file is written. FuzzRender checks the property.
//
// # Settings never served
//
// WebSite.Deny names the site's settings file. When the docroot holds it
// (a platform served from its root, as WordPress is), the vhost gets an
// exact-match `location = /sites/<domain>/settings.json { deny all; }`:
// an exact location wins over every prefix and regex one (the .php one
// too), and nginx matches the decoded URI with "." and ".." segments and
// double slashes resolved, so no spelling of the path reaches the file.
// The workers run as the web service's web_group (www-data), which reads
// sites' files through the group (see package provision).
//
// # One broken site never takes nginx down
//
// Publish, under an flock on <config_dir>/.aegir.lock (so concurrent back
// ends never test each other's half-done change):
//
//  1. renders the vhost; unchanged content is a no-op;
//  2. keeps the previous file's content, writes the new one to a temp name
//     that the *.conf include does not match, fsyncs and renames it;
//  3. runs `nginx -t -q -c <main_config>` (argv, never a shell);
//  4. on failure puts the previous file back (or removes the new one) the
//     same atomic way, runs nginx -t again to tell "your vhost is refused"
//     from "the configuration was already broken by another file", and
//     returns a *weberr.ConfigError (errors.Is weberr.ErrRejected, result
//     code "web_publish_failed") carrying nginx's message. The running nginx was never reloaded, so it keeps serving
//     every site with the configuration it had;
//  5. reloads: with a pid_file setting, SIGHUP to the master and a wait
//     until a new worker runs and every old one has retitled itself "worker
//     process is shutting down" (it closes its listeners then), so the next
//     request sees the new vhost; without one, `nginx -s reload -c
//     <main_config>`, which returns before workers reload;
//  6. nginx -t binds new addresses but ignores ports in use (the running
//     master holds its own), so a vhost can pass it and still be refused by
//     the master (a port another process holds). With pid_file the driver
//     sees no new worker within ReloadWait, puts the previous vhost back,
//     reloads that, and returns a *weberr.ConfigError; without pid_file this case
//     goes unnoticed until the next reload.
//
// Remove deletes the file, tests (restoring on failure) and reloads, then
// removes the site's pool.
//
// # A php-fpm pool per site
//
// With php_pool_dir set and a WebSite.Pool (the site has its own Unix
// user), Publish first writes <php_pool_dir>/aegir-<domain>.conf from
// pool.conf.tmpl (user and group the site's, listen
// <php_run_dir>/aegir-<domain>.sock owned by the site and the web group,
// 0660; open_basedir the platform, the site and <php_tmp_dir>/<domain>,
// which it creates, the site's and 0700; memory, upload and children
// limits the site's own (SitePool, from domain.SitePHP) or else the
// service's, bounded), under the same lock and the same
// way as a vhost: atomic write, `php-fpm -t -y <php_fpm_config>`, rollback
// with a *weberr.ConfigError (Server "php-fpm") when refused, SIGUSR2 to
// the pid in php_fpm_pid_file (once /proc shows the master catches it: a
// master still re-executing from an earlier reload has no handler yet,
// and SIGUSR2's default action would end it and every pool; the reload
// fails after ReloadWait instead) and a wait until the site's socket accepts
// connections (rollback and reload when it does not). Only then is the
// vhost written, passing PHP to that socket; a vhost nginx refuses puts
// the previous pool back too. Every value in the pool is a Unix name, a
// clean absolute path of [A-Za-z0-9/._-], a normalized domain or a
// bounded number, so none can end a line or open a section. A disabled
// site's pool is left as it is (ondemand: no worker runs for it).
//
// PublishPool (provision.PoolPublisher) does the pool half alone, ahead
// of the vhost: an install calls it while the platform's installer runs,
// so php-fpm's test and reload (php-fpm's own start is ~0.13 s, twice)
// overlap the installer. The later Publish finds the pool unchanged and
// neither tests nor reloads php-fpm again; until it writes the vhost no
// request reaches the pool.
//
// # What a new pool costs
//
// Every pool of the service shares one php-fpm master (php_fpm_config),
// so a new, changed or removed pool reloads it: SIGUSR2 re-executes the
// master, every pool's workers are restarted once their requests end,
// and the master's opcache starts empty. The first page of a site then
// compiles the platform's scripts again (WordPress: ~0.5 s on a shared
// core), and the scripts are shared by every site of the platform (the
// pool's opcache.validate_permission stops a site running a script its
// user cannot read). The provision package's BenchmarkWordPressInstall
// measures an install against an operator doing the same by hand (the
// site's user, its own pool, php-fpm -t, reload, vhost, nginx reload, the
// front page): aegir's first page is no slower than the operator's,
// both being the first after a reload, and a site already served from
// the same platform answers its next page ~15 ms slower after an
// install, the new site's first page having compiled the same files
// again. One master per site (its own pid file and opcache, started and
// stopped by the driver) would spare the other sites the reload and keep
// each site's compiled code apart, at the cost of an opcache per site
// and of a supervisor to start the masters after a reboot; it would not
// make an install faster (a new master's opcache is empty too), so it is
// not built: see the benchmark's row in the README.
//
// # Service settings
//
// config_dir, main_config (required), binary (default nginx), pid_file,
// php_fastcgi, web_group; for per-site pools php_pool_dir, php_fpm_config
// and php_fpm_pid_file (required together), php_fpm_binary, php_run_dir,
// php_tmp_dir, php_memory_limit, php_upload_max, php_max_children; the service's port; vhosts listen on the server's address when
// it is an IP literal, else on every address. internal/servicekind's nginx
// descriptor lists them with their meaning, default and validation, and
// webtest checks that the driver refuses what the descriptor refuses.
//
// # Errors
//
// Failures are the internal/provision/weberr taxonomy (see nginx.go), which
// the back end maps to "web_unavailable" and "web_publish_failed".
//
// # HTTPS
//
// A site published with provision.WebSite.TLS gets server blocks listening
// on the service's https_port with ssl, naming <cert_dir>/<domain>.crt and
// .key (mode 0600, written before the vhost and put back with the
// previous vhost when nginx -t or the reload refuses the new one, before
// the check of the restored configuration and before the reload, so a
// certificate nginx cannot load is neither reported as an older breakage
// nor loaded); its
// plain HTTP block answers 301 to HTTPS when the site redirects, and its
// HTTPS blocks send Strict-Transport-Security with HSTS. Every HTTP block
// serves /.well-known/acme-challenge/ from ChallengeDir
// (<config_dir>/acme-challenge, which nginx's workers can read) before
// any redirect. The certificate files' paths are derived from the
// normalized domain and the configured directory, never from input.
package webnginx
