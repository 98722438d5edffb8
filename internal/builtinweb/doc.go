// Package builtinweb is aegir's builtin web server, the embedded default
// http service, and its provision.WebDriver.
//
// # Route files
//
// The driver (which runs in the back-end process, `aegir provision run`)
// and the server (inside `aegir dev` / `aegir server`) share nothing but a
// directory: <DataDir>/builtin/routes holds one <domain>.json per site, the
// JSON of a provision.WebSite, validated by ValidateSite on both sides.
// The driver writes each file to a temp name and renames it into place, so
// the server never reads half a file, and every publish or remove changes
// the directory's mtime.
//
// # Reloading
//
// The server keeps an immutable routing table behind an atomic pointer. On
// the request path it stats the routes dir at most once per ReloadInterval
// (100ms), and at once when the request's host is unknown (so a site
// answers right after its first publish). When the dir's mtime or inode
// changed, one goroutine reads every route file and swaps in a new table;
// requests keep using the old one meanwhile. A file that does not parse or
// validate, or whose name is not its domain, is logged and skipped: one bad
// file never takes the other sites down. File systems stamp mtimes with a
// coarse clock, so when the dir changed less than 50ms before it was read,
// it is read once more after that, in case a second change shares the
// first one's mtime.
//
// # Hosts
//
// The Host header is reduced to a key: a numeric port stripped, a trailing
// dot removed, lowercase; anything but plain [a-z0-9.-] goes through
// domain.NormalizeDomain (IDN to punycode). Only exact matches of a site's
// domain or alias route; everything else is a constant 404 page that echoes
// nothing of the request.
//
// # Static files
//
// Files are opened through an os.Root on the docroot: no name or symlink
// (absolute symlinks are refused altogether) can leave it, whatever the
// encoding of the request path. Directories are never listed, dot files are
// hidden except /.well-known/, and .php files are never sent as files.
//
// # PHP
//
// PHP sites (WebSite.PHP) send .php requests, and requests for paths that
// are not files (front controller), to their FastCGI upstream
// ("unix:/path.sock" or "host:port", e.g. php-fpm) with WebSite.Env as
// extra params. Without an upstream such requests get a 502 page saying
// that PHP needs nginx+php-fpm or a FastCGI upstream. A platform's nginx
// snippet (WebSite.NginxSnippet) is nginx's only: this server ignores it.
//
// # HTTPS
//
// A site published with provision.WebSite.TLS gets its chain and key
// written to <DataDir>/builtin/certs/<domain>.pem (mode 0600, before its
// route file, so the server never sees a route without its certificate).
// ServeTLS terminates TLS on its own listener: GetCertificate looks the
// SNI name up like a Host (domain or alias, reloading as for requests)
// and reads the site's certificate on its first handshake, once per
// version of the route, so a reload of thousands of routes reads no
// certificate. A name without a site with HTTPS, or no SNI at all, fails
// the handshake. HTTP requests for /.well-known/acme-challenge/<token>
// are answered from the site's ChallengeDir before anything else (tokens
// are base64url, nothing else names a file); then a site with Redirect
// answers 301 to https://host[:HTTPSPort]/path, and HTTPS answers of a
// site with HSTS carry Strict-Transport-Security.
//
// # Driver
//
// Driver is the provision.WebDriver: it writes one route file per site that
// the server rereads. A routes dir it cannot create or write is
// weberr.ErrUnavailable ("web_unavailable"); a site it refuses is
// domain.ErrInvalid and writes nothing. It passes internal/provision/webtest.
package builtinweb
