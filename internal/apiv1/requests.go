package apiv1

import (
	"github.com/aegirhq/aegir/internal/domain"
)

// The request bodies and answers of the REST API. Their OpenAPI schema
// names are the type names with a lower-case first letter (siteCreate),
// as they were when the API declared them itself.

// SiteCreate is the body of POST /sites. Each reference may be given by id
// or by name; when both are given they must agree.
type SiteCreate struct {
	Domain          string   `json:"domain"`
	Aliases         []string `json:"aliases,omitempty"`
	RedirectAliases bool     `json:"redirect_aliases,omitempty"`
	PlatformID      string   `json:"platform_id,omitempty"`
	Platform        string   `json:"platform,omitempty"`
	DBServerID      string   `json:"db_server_id,omitempty"`
	DBServer        string   `json:"db_server,omitempty"`
	ClientID        string   `json:"client_id,omitempty"`
	Client          string   `json:"client,omitempty"`
	Profile         string   `json:"profile,omitempty"`
	// PHP is the site's own php-fpm pool limits (domain.SitePHP); unset
	// keeps the web service's.
	PHP *domain.SitePHP `json:"php,omitempty"`
	// FromBackup brings a deleted site back from one of its backups (its
	// final one, usually): the site gets its old id back, and its install
	// restores the backup. Domain defaults to the backup's, Client to the
	// backup's client.
	FromBackup string `json:"from_backup,omitempty"`
	// HTTPS is off (default), on or redirect; HSTS needs on or redirect.
	HTTPS domain.HTTPSMode `json:"https,omitempty"`
	HSTS  bool             `json:"hsts,omitempty"`
}

// SiteImport is the query of POST /sites/import, whose body is a site
// backup archive (.tar.zst, as aegir writes them). Domain defaults to the
// archive's; the platform and database server are required.
type SiteImport struct {
	Domain     string `query:"domain"`
	PlatformID string `query:"platform_id"`
	Platform   string `query:"platform"`
	DBServerID string `query:"db_server_id"`
	DBServer   string `query:"db_server"`
	ClientID   string `query:"client_id"`
	Client     string `query:"client"`
}

// CertificateUpload is the body of PUT /sites/{id}/certificate: the
// chain (leaf first) and its unencrypted private key, PEM.
type CertificateUpload struct {
	Certificate string `json:"certificate"`
	Key         string `json:"key"`
}

// SiteCreated is the answer to POST /sites and PUT /sites/{id}.
type SiteCreated struct {
	Site *domain.Site `json:"site"`
	Task *domain.Task `json:"task"`
}

// TaskRequest is the body of POST /{sites,platforms,servers}/{id}/tasks.
type TaskRequest struct {
	Type string            `json:"type"`
	Args map[string]string `json:"args,omitempty"`
}

// PlatformCreate is the body of POST /platforms.
type PlatformCreate struct {
	Name        string `json:"name"`
	Path        string `json:"path"`
	WebServerID string `json:"web_server_id,omitempty"`
	WebServer   string `json:"web_server,omitempty"`
	Type        string `json:"type"`
}

// PlatformCreated is the answer to POST /platforms.
type PlatformCreated struct {
	Platform *domain.Platform `json:"platform"`
	Task     *domain.Task     `json:"task"`
}

// ServerCreate is the body of POST /servers: the server and the services
// it provides, created together. Address is an IP address or a host name,
// stored normalised (lowercase, punycode); a name mixing scripts is
// refused. Each service's settings are checked against its kind's
// (internal/servicekind): unknown keys and bad values are refused.
type ServerCreate struct {
	Name      string          `json:"name"`
	Address   string          `json:"address"`
	NomadNode string          `json:"nomad_node,omitempty"`
	Services  []ServiceCreate `json:"services,omitempty"`
}

// ServerCreated is the answer to POST /servers and PUT /servers/{id}.
type ServerCreated struct {
	Server   *domain.Server   `json:"server"`
	Services []domain.Service `json:"services,omitempty"`
	Task     *domain.Task     `json:"task"`
}

// ServiceCreate is the body of POST /services and one entry of a server's
// services on POST /servers.
type ServiceCreate struct {
	ServerID string            `json:"server_id,omitempty"`
	Server   string            `json:"server,omitempty"`
	Kind     string            `json:"kind"`
	Type     string            `json:"type,omitempty"`
	Port     int               `json:"port,omitempty"`
	Settings map[string]string `json:"settings,omitempty"`
}

// Credentials is the body of PUT /services/{id}/credentials. It is never
// logged, stored in the store or echoed back.
type Credentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// ClientCreate is the body of POST /clients.
type ClientCreate struct {
	Name  string `json:"name"`
	Title string `json:"title,omitempty"`
	Email string `json:"email,omitempty"`
	// Quotas are the client's own limits; see domain.QuotaNames.
	Quotas domain.Quotas `json:"quotas,omitempty"`
}

// QuotaDefaults is the answer of GET and PUT /quota-defaults: the
// defaults of the configuration (the quotas block), those an admin set
// over them (Overrides, stored, the same on every server), the defaults
// that result, and the version a PUT names (0: never set).
type QuotaDefaults struct {
	Config    domain.Quotas `json:"config"`
	Overrides domain.Quotas `json:"overrides"`
	Defaults  domain.Quotas `json:"defaults"`
	Version   uint64        `json:"version"`
}

// QuotaDefaultsUpdate is the body of PUT /quota-defaults: every override
// (a quota left out takes the configuration's default again), at the
// version read.
type QuotaDefaultsUpdate struct {
	Overrides domain.Quotas `json:"overrides"`
	Version   uint64        `json:"version"`
}

// ClientQuota is the answer of GET /clients/{id}/quota: the server's
// defaults, the client's overrides, the limits that apply (0: no limit)
// and what the client holds of each (disk in bytes).
type ClientQuota struct {
	Defaults  domain.Quotas `json:"defaults"`
	Overrides domain.Quotas `json:"overrides"`
	Limits    domain.Quotas `json:"limits"`
	Usage     domain.Quotas `json:"usage"`
}

// UserCreate is the body of POST /users.
type UserCreate struct {
	Name      string   `json:"name"`
	Email     string   `json:"email,omitempty"`
	Role      string   `json:"role"`
	ClientIDs []string `json:"client_ids,omitempty"`
	// Password, when set, lets the user log in to the dashboard. The
	// server keeps only its hash and never answers with it.
	Password string `json:"password,omitempty"`
}

// UserUpdate is the body of PUT /users/{id}: a user as GET returns it.
type UserUpdate struct {
	ID        string   `json:"id,omitempty"`
	Name      string   `json:"name"`
	Email     string   `json:"email,omitempty"`
	Role      string   `json:"role"`
	ClientIDs []string `json:"client_ids,omitempty"`
	CreatedAt any      `json:"created_at,omitempty"`
	UpdatedAt any      `json:"updated_at,omitempty"`
	Version   uint64   `json:"version"`
}

// TokenCreate is the body of POST /tokens. TTL is a Go duration ("720h")
// of at most the server's max_token_ttl (default a year); empty means that
// maximum. UserID is for admins creating a token for someone else.
type TokenCreate struct {
	Name   string `json:"name,omitempty"`
	UserID string `json:"user_id,omitempty"`
	TTL    string `json:"ttl,omitempty"`
}

// TokenCreated is the answer to POST /tokens: the only time the secret is
// shown.
type TokenCreated struct {
	Token  *domain.Token `json:"token"`
	Secret string        `json:"secret"`
}
