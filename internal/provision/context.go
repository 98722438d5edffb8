package provision

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/taskspec"
)

// ContextVersion is the version of the context and result schemas. The
// back end refuses a context of another version (ErrVersionMismatch, the
// task fails version_mismatch) and the dispatcher refuses a result of
// another version the same way, so a front end and a back end of
// different releases — one node not yet upgraded in a rolling upgrade —
// fail the task loudly instead of misreading fields. Change it with any
// change to Context or Result that the other side could misread.
const ContextVersion = 1

// ErrVersionMismatch means a context's schema version is not this back
// end's ContextVersion.
var ErrVersionMismatch = errors.New("version mismatch")

// MaxContextSize bounds a context document: it travels as a Nomad dispatch
// payload, whose limit is 16 KiB.
const MaxContextSize = 16 * 1024

// Context is everything the back end needs to run one task: the task and
// its target with every relationship resolved, flattened into one document.
// It holds secret references (Secrets), never secret values.
type Context struct {
	Version int      `json:"version"`
	Task    TaskInfo `json:"task"`

	Site       *SiteInfo     `json:"site,omitempty"`
	Client     *ClientInfo   `json:"client,omitempty"`
	Platform   *PlatformInfo `json:"platform,omitempty"`
	WebServer  *ServerInfo   `json:"web_server,omitempty"`
	WebService *ServiceInfo  `json:"web_service,omitempty"`
	DBServer   *ServerInfo   `json:"db_server,omitempty"`
	DBService  *ServiceInfo  `json:"db_service,omitempty"`

	// Server and Services are set for verify-server.
	Server   *ServerInfo   `json:"server,omitempty"`
	Services []ServiceInfo `json:"services,omitempty"`

	// Backup is the archive a restore task restores.
	Backup *BackupInfo `json:"backup,omitempty"`

	// Target is where clone and migrate go: the new domain, platform and
	// servers, resolved like the source.
	Target *TargetInfo `json:"target,omitempty"`

	// Secrets maps a purpose ("db_admin", "site_db", "target_db_admin" ...)
	// to a reference the back end resolves through the secrets backend.
	Secrets map[string]string `json:"secrets,omitempty"`

	// Env is how the back end reaches shared services.
	Env EnvInfo `json:"env"`

	// Live lists the tasks that may be running, for the janitor that runs
	// before the task (janitor.go); nil skips the janitor.
	Live *LiveTasks `json:"live,omitempty"`
}

// TaskInfo identifies the task.
type TaskInfo struct {
	ID          string            `json:"id"`
	Type        domain.TaskType   `json:"type"`
	Args        map[string]string `json:"args,omitempty"`
	RequestedBy string            `json:"requested_by,omitempty"`
}

// SiteInfo is a site as the back end sees it.
type SiteInfo struct {
	ID              string            `json:"id"`
	Domain          string            `json:"domain"`
	Aliases         []string          `json:"aliases,omitempty"`
	RedirectAliases bool              `json:"redirect_aliases,omitempty"`
	Status          domain.SiteStatus `json:"status"`
	Profile         string            `json:"profile,omitempty"`
	// PHP is the site's own php-fpm pool limits; nil keeps the web
	// service's.
	PHP *domain.SitePHP `json:"php,omitempty"`
	// HTTPS and HSTS are the site's HTTPS setting; Certificate what the
	// store knows of its certificate (the certificate itself is a secret).
	HTTPS       domain.HTTPSMode    `json:"https,omitempty"`
	HSTS        bool                `json:"hsts,omitempty"`
	Certificate *domain.Certificate `json:"certificate,omitempty"`
}

// ClientInfo is the site's owner.
type ClientInfo struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// PlatformInfo is a platform as the back end sees it.
type PlatformInfo struct {
	ID     string              `json:"id"`
	Name   string              `json:"name"`
	Path   string              `json:"path"`
	Type   domain.PlatformType `json:"type"`
	Locked bool                `json:"locked,omitempty"`
}

// ServerInfo is a server.
type ServerInfo struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Address   string `json:"address"`
	NomadNode string `json:"nomad_node,omitempty"`
}

// ServiceInfo is a service on a server.
type ServiceInfo struct {
	ID       string             `json:"id"`
	ServerID string             `json:"server_id"`
	Type     domain.ServiceType `json:"type"`
	Kind     domain.ServiceKind `json:"kind"`
	Port     int                `json:"port,omitempty"`
	Settings map[string]string  `json:"settings,omitempty"`
}

// BackupInfo is a backup archive.
type BackupInfo struct {
	ID     string `json:"id"`
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	// Reason is the record's reason; an imported archive's
	// (domain.BackupImported) manifest names the site it was taken of
	// elsewhere, so it is not checked against this site's id.
	Reason string `json:"reason,omitempty"`
}

// ownedBy reports whether the archive's manifest may name siteID: any
// site for an imported archive (the record, checked to be this site's by
// the dispatcher, and the sha256 are the authority), else only siteID.
func (b *BackupInfo) ownedBy(manifestSiteID, siteID string) bool {
	return manifestSiteID == siteID || b != nil && b.Reason == domain.BackupImported
}

// TargetInfo is the destination of a clone or migrate.
type TargetInfo struct {
	SiteID     string        `json:"site_id,omitempty"` // the new site's id (clone)
	Domain     string        `json:"domain"`
	Aliases    []string      `json:"aliases,omitempty"`
	Platform   *PlatformInfo `json:"platform"`
	WebServer  *ServerInfo   `json:"web_server"`
	WebService *ServiceInfo  `json:"web_service"`
	DBServer   *ServerInfo   `json:"db_server"`
	DBService  *ServiceInfo  `json:"db_service"`
}

// EnvInfo says where the back end finds shared things. Paths are on the
// server the task runs on.
type EnvInfo struct {
	// DataDir holds aegir's per-server state: SQLite databases, builtin
	// routes, the local secrets file.
	DataDir string `json:"data_dir"`
	// BackupDir is where backup archives are written.
	BackupDir string `json:"backup_dir"`
	// ArchiveFormat is the newest archive format the dispatching server
	// has backups written in (its backup_archive_format). A context
	// without it comes from a server of a release before format 2, whose
	// back ends read format 1 only: its backups are written in format 1.
	ArchiveFormat int `json:"archive_format,omitempty"`
	// SecretsBackend selects how Secrets references resolve: "file"
	// (embedded encrypted file under DataDir) or "vault".
	SecretsBackend string `json:"secrets_backend"`
	// VaultAddr, VaultMount, VaultPrefix configure the vault backend. The
	// token comes from the environment (VAULT_TOKEN), never the context.
	VaultAddr   string `json:"vault_addr,omitempty"`
	VaultMount  string `json:"vault_mount,omitempty"`
	VaultPrefix string `json:"vault_prefix,omitempty"`
	// LogSink selects where log lines go besides stderr: "" (stderr only;
	// the local executor forwards them) or "redis".
	LogSink   string `json:"log_sink,omitempty"`
	RedisAddr string `json:"redis_addr,omitempty"`
	// RedisPrefix starts the Redis keys of the log stream and the result
	// record. Default "aegir:" (DefaultRedisPrefix).
	RedisPrefix string `json:"redis_prefix,omitempty"`
	// ResultSink is "stdout" (default) or "redis" (Nomad: the result is also
	// written to a small record the dispatcher reads).
	ResultSink string `json:"result_sink,omitempty"`
	// ReleaseLater says a router in front follows the sites' moves: a
	// migrate leaves the old place serving and proposes its release
	// (Changes.Release) instead of removing it at once.
	ReleaseLater bool `json:"release_later,omitempty"`
	// TLS says how sites with HTTPS get their certificates.
	TLS TLSInfo `json:"tls,omitzero"`
}

// TLSInfo configures the issuing of site certificates.
type TLSInfo struct {
	// Issuer is "local" (aegir's local CA, the default) or "acme".
	Issuer string `json:"issuer,omitempty"`
	// ACMEDirectory and ACMEEmail are the ACME directory URL and the
	// account's contact.
	ACMEDirectory string `json:"acme_directory,omitempty"`
	ACMEEmail     string `json:"acme_email,omitempty"`
	// ACMERootsFile, on the server, holds extra PEM roots to trust for
	// the ACME server's own HTTPS (a private ACME CA); empty: system roots.
	ACMERootsFile string `json:"acme_roots_file,omitempty"`
	// RenewWindow renews certificates expiring within it ("720h").
	RenewWindow string `json:"renew_window,omitempty"`
}

// DecodeContext reads and checks a context document.
func DecodeContext(r io.Reader) (*Context, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxContextSize*4+1))
	if err != nil {
		return nil, fmt.Errorf("read context: %w", err)
	}
	if len(b) > MaxContextSize*4 {
		return nil, fmt.Errorf("context is larger than %d bytes", MaxContextSize*4)
	}
	// The version first: a context of another schema may not even decode
	// into this one's fields, and it must fail as a mismatch, not as bad JSON.
	var v struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("context is not valid JSON: %w", err)
	}
	if v.Version != ContextVersion {
		return nil, fmt.Errorf("%w: the context's schema version is %d and this back end reads %d: run a back end of the same aegir release as the front end", ErrVersionMismatch, v.Version, ContextVersion)
	}
	var c Context
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("context is not valid JSON: %w", err)
	}
	if !domain.ValidID(c.Task.ID) {
		return nil, fmt.Errorf("context has no valid task id")
	}
	if _, ok := taskspec.Lookup(c.Task.Type); !ok {
		return nil, fmt.Errorf("context names unknown task type %q", c.Task.Type)
	}
	return &c, nil
}
