package provision

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/aegirhq/aegir/internal/domain"
)

// WebDriver manages the web server side of sites for one http service
// (the http kinds of internal/servicekind: builtin, nginx). Implementations
// validate every value they interpolate, never build config by pasting
// unchecked strings, and leave the server serving the other sites when one
// site's config is refused. Their failures are classified with the
// internal/provision/weberr sentinels (bad input with domain.ErrInvalid);
// webtest.Run is the behaviour every implementation must pass.
type WebDriver interface {
	// Check verifies the service is installed and usable (verify-server).
	Check(ctx context.Context) error
	// Publish writes or replaces the site's config and reloads the server.
	// If the server refuses the new config, the previous one is restored
	// and an error returned.
	Publish(ctx context.Context, site WebSite) error
	// Remove deletes the site's config and reloads.
	Remove(ctx context.Context, domain string) error
	// URL returns an address where the site answers, for checks: the
	// server's listen address; callers send the site's domain as Host.
	URL() string
}

// PoolPublisher is a WebDriver that can put a PHP site's own pool in
// place ahead of its vhost (nginx with a php_pool_dir). An install calls
// it while the platform's installer runs, so php-fpm's test and reload
// overlap the installer: no request reaches the pool before Publish
// writes the vhost, which then finds the pool unchanged and publishes the
// vhost alone. A pool the server refuses is rolled back as in Publish; a
// site without a pool of its own is a no-op.
type PoolPublisher interface {
	PublishPool(ctx context.Context, site WebSite) error
}

// WebSite is what a web driver needs to serve one site.
type WebSite struct {
	Domain          string
	Aliases         []string
	RedirectAliases bool   // aliases answer 301 to Domain
	Docroot         string // absolute, validated
	Disabled        bool   // answer 503 with a plain "site disabled" page
	// PHP is true when .php requests go to the FastCGI upstream.
	PHP bool
	// FastCGI is the PHP upstream ("unix:/path.sock" or "127.0.0.1:9000").
	FastCGI string
	// Upstream, when set, proxies every request to this HTTP address.
	Upstream string
	// Env is passed to PHP as FastCGI params (site's DB settings path,
	// the platform manifest's env block).
	Env map[string]string
	// NginxSnippet is the platform's nginx snippet, checked by
	// platform.CheckNginxSnippet against PlatformDir; nginx includes it in
	// the site's server block. The builtin web server ignores it.
	NginxSnippet string
	PlatformDir  string
	// Deny lists files that must never be served (the site's settings
	// file): absolute clean paths. One under Docroot (a platform whose
	// docroot is its root, as WordPress's) answers 403 or 404 however it
	// is asked for; one outside it is unreachable anyway.
	Deny []string
	// Pool, when set, asks for a PHP site's own php-fpm pool running as
	// its Unix user: drivers that can (nginx with a php_pool_dir) write
	// one and pass the site's PHP to its socket instead of FastCGI; the
	// others ignore it. Set only when the site has its own user.
	Pool *SitePool
	// TLS, when set, serves the site over HTTPS too, with its
	// certificate covering Domain and Aliases.
	TLS *WebTLS
	// ChallengeDir, when set, answers HTTP requests for
	// /.well-known/acme-challenge/<token> with the file <token> in it
	// (certs.ChallengeDir), before any redirect to HTTPS.
	ChallengeDir string
}

// WebTLS is a site's certificate and how it answers over HTTPS. The key
// never goes into a file readable by others: drivers write it mode 0600.
type WebTLS struct {
	CertPEM  []byte `json:"-"` // chain, leaf first
	KeyPEM   []byte `json:"-"`
	Redirect bool   // HTTP answers 301 to HTTPS
	HSTS     bool   // HTTPS answers carry Strict-Transport-Security
}

// SitePool is who a site's own php-fpm pool runs as and what it may read.
type SitePool struct {
	User, Group string // the site's Unix user and group
	UID, GID    int
	SiteDir     string // the site's directory (open_basedir)
	PlatformDir string // the platform's code (open_basedir, read-only to the site)
	// The site's own limits (domain.SitePHP): memory_limit and
	// upload_max_filesize/post_max_size in MiB, pm.max_children; zero
	// takes the service's setting.
	MemoryLimitMB, UploadMaxMB, MaxChildren int
}

// DBDriver manages databases and users on one db service (the db kinds of
// internal/servicekind: sqlite, mariadb, postgresql). Names come from
// NameFor and are quoted by the driver's own rules anyway; passwords are
// bound parameters or quoted literals, never pasted. Failures the back end
// reports with their own codes are classified with internal/provision/dberr;
// dbtest.Run is the behaviour every implementation must pass.
type DBDriver interface {
	// Check verifies the server answers with the admin credentials.
	Check(ctx context.Context) error
	// Create creates a database and a user that can reach only it.
	Create(ctx context.Context, db DBCreds) error
	// Drop removes the database and its user; missing ones are not errors.
	Drop(ctx context.Context, db DBCreds) error
	// Dump writes a logical dump of the database to w.
	Dump(ctx context.Context, db DBCreds, w io.Writer) error
	// Load replaces the database's contents with a dump read from r.
	// What it wrote may not be on disk yet where the database is a file
	// of this host (SQLite): its callers sync the file's filesystem
	// before they report success (syncSite).
	Load(ctx context.Context, db DBCreds, r io.Reader) error
	// SetPassword changes the user's password.
	SetPassword(ctx context.Context, db DBCreds, password string) error
	// Count runs a read-only row count for a table (stats, tests).
	Count(ctx context.Context, db DBCreds, table string) (int64, error)
	// Locate returns the credentials skeleton for a database called name
	// on this service: Name, User, Kind and where it answers (Host/Port,
	// Socket or Path). The caller fills in Password.
	Locate(name string) DBCreds
}

// WebFactory builds the web driver for an http service. env says where
// aegir's per-server state lives.
type WebFactory func(svc ServiceInfo, srv ServerInfo, env EnvInfo, log *slog.Logger) (WebDriver, error)

// DBFactory builds the database driver for a db service. admin holds the
// server's admin credentials resolved from the secrets backend ("username",
// "password"); it is empty for sqlite.
type DBFactory func(svc ServiceInfo, srv ServerInfo, admin map[string]string, env EnvInfo, log *slog.Logger) (DBDriver, error)

// DBCreds identifies a site's database and its own user.
type DBCreds struct {
	Name     string // database name, from NameFor
	User     string // user name, from NameFor
	Password string
	// Host, Port or Socket say where the database server answers, or for
	// sqlite, Path is the database file.
	Host   string
	Port   int
	Socket string
	Path   string
	Kind   string // mariadb, postgresql, sqlite
	// ClientHosts are where the site's web server connects from, as the
	// database server sees it: the host parts of the site's account on
	// servers that have them (mariadb). "localhost", "127.0.0.1" and
	// "::1" when the web server is the database server or reaches it over
	// loopback, else the web server's address; never a wildcard. Empty:
	// the driver's own setting or default (loopback only).
	ClientHosts []string
}

// NameFor returns the database (and user) name for a site id: "s_" and the
// id, which is 20 characters of [0-9a-z]: a valid, unquoted-safe identifier
// in MariaDB, PostgreSQL and SQLite, 22 characters (MariaDB users allow 80).
func NameFor(siteID string) string { return "s_" + siteID }

// DBSetAside is implemented by database drivers that can keep a
// database's contents aside cheaply (renames on a server, a hard link of
// an SQLite file) instead of a compressed dump. Restore sets the live
// database aside, loads the backup in its place while the files unpack,
// and puts it back if any later step fails (backups.go); drivers without
// it get a full safety backup instead.
type DBSetAside interface {
	// SetAside keeps db's current contents under a holding name made of
	// db's and key (a task id, [0-9a-z]) and leaves db to be filled by
	// Load: missing, empty or as it was, by driver. On error db is as it
	// was. An error wrapping ErrSetAsideUnsupported means db holds what
	// the driver cannot move (MariaDB views, triggers, routines, events):
	// the caller falls back to a dump.
	SetAside(ctx context.Context, db DBCreds, key string) error
	// PutBack replaces db (whatever Load left) with the contents held
	// under key, which then no longer exist.
	PutBack(ctx context.Context, db DBCreds, key string) error
	// DropAside removes the contents held under key; missing ones are
	// not an error.
	DropAside(ctx context.Context, db DBCreds, key string) error
}

// ErrSetAsideUnsupported is wrapped by DBSetAside.SetAside when the
// database holds objects the driver cannot move aside.
var ErrSetAsideUnsupported = errors.New("the database cannot be set aside by renaming")

// ValidAsideKey checks a DBSetAside key: 1 to 24 characters of [0-9a-z]
// (a task id is 20), so a driver can append it to a database's name.
func ValidAsideKey(key string) error {
	if key == "" || len(key) > 24 {
		return domain.Invalid("set-aside key", "%q must be 1 to 24 characters", domain.Clip(key))
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return domain.Invalid("set-aside key", "%q may contain only a-z and 0-9", domain.Clip(key))
		}
	}
	return nil
}
