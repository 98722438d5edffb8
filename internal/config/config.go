// Package config loads aegir's configuration the HashiCorp way: an HCL
// file, then environment variables, then command-line flags, each overriding
// the one before. Defaults are the embedded single-machine setup.
package config

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2/hclsimple"

	"github.com/aegirhq/aegir/internal/domain"
)

// Config is aegir's configuration. Every field's comment states its
// default and the environment variable that sets it.
type Config struct {
	// DataDir holds the bbolt store, the admin token, the local secrets,
	// SQLite databases, builtin routes and backups. Default "./aegir-data"
	// for dev, "/var/lib/aegir" for server. Env AEGIR_DATA_DIR.
	DataDir string
	// HTTPAddr is where the API and dashboard listen. Default
	// "127.0.0.1:8480". Env AEGIR_HTTP_ADDR.
	HTTPAddr string
	// SitesAddr is where the builtin web server serves sites. Default
	// "127.0.0.1:8481". Env AEGIR_SITES_ADDR.
	SitesAddr string
	// PlatformRoots are the directories platforms may live in. Default:
	// none (any clean absolute path). Env AEGIR_PLATFORM_ROOTS (colon list).
	PlatformRoots []string
	// BackupDir is where backups are written. Default DataDir/backups.
	// Env AEGIR_BACKUP_DIR.
	BackupDir string
	// BackupArchiveFormat is the archive format backups are written in:
	// 2 (the default) checksums each entry with XXH64, 1 with sha256 as
	// releases before format 2 did, and those releases read only format
	// 1. Set 1 while back ends of such a release may restore this one's
	// backups (nodes whose package is not yet upgraded), or before going
	// back to one. Env AEGIR_BACKUP_ARCHIVE_FORMAT.
	BackupArchiveFormat int
	// MaxTokenTTL bounds the lifetime of the API tokens people create: a
	// longer ttl is refused, and a token asked for without one lasts this
	// long. Default "8760h" (a year). Env AEGIR_MAX_TOKEN_TTL.
	MaxTokenTTL string
	// AuditRetention is how long audit log entries are kept; the hourly
	// task retention pass drops older days. Default "2160h" (90 days).
	// Env AEGIR_AUDIT_RETENTION.
	AuditRetention string
	// MaxImportMB bounds a site archive uploaded to POST
	// /api/v1/sites/import (aegir site import), in MiB. Uploads are
	// written to BackupDir/imports. Default 1024. Env AEGIR_MAX_IMPORT_MB.
	MaxImportMB int
	// Quotas are every client's default quotas; a client's own (set by an
	// admin) override them.
	Quotas QuotaConfig

	Store     StoreConfig
	Executor  ExecutorConfig
	Dashboard DashboardConfig
	Nomad     NomadConfig
	Secrets   SecretsConfig
	Redis     RedisConfig

	Notifications NotificationsConfig
	TLS           TLSConfig
	Routing       RoutingConfig
}

// TLSConfig configures the certificates of sites with HTTPS.
type TLSConfig struct {
	// Issuer is "local" (aegir's own CA, whose root the dashboard offers
	// for download) or "acme". Default "local" for dev, "acme" for
	// server. Env AEGIR_TLS_ISSUER.
	Issuer string `hcl:"issuer,optional"`
	// ACMEDirectory is the ACME directory URL. Default Let's Encrypt's
	// (https://acme-v02.api.letsencrypt.org/directory). Env
	// AEGIR_ACME_DIRECTORY.
	ACMEDirectory string `hcl:"acme_directory,optional"`
	// ACMEEmail is the ACME account's contact. Default: none. Env
	// AEGIR_ACME_EMAIL.
	ACMEEmail string `hcl:"acme_email,optional"`
	// ACMERootsFile holds PEM roots to trust for the ACME server's own
	// HTTPS (a private ACME CA). Default: the system roots. Env
	// AEGIR_ACME_ROOTS_FILE.
	ACMERootsFile string `hcl:"acme_roots_file,optional"`
	// RenewWindow renews a certificate this long before it expires.
	// Default "720h" (30 days). Env AEGIR_TLS_RENEW_WINDOW.
	RenewWindow string `hcl:"renew_window,optional"`
	// SitesAddr is where the builtin web server serves HTTPS. Default
	// "127.0.0.1:8482" for dev with the default sites_addr; otherwise
	// none (no HTTPS listener) unless set. Env AEGIR_SITES_TLS_ADDR,
	// flag -sites-tls-addr.
	SitesAddr string `hcl:"sites_addr,optional"`
}

// LetsEncryptDirectory is the default ACME directory.
const LetsEncryptDirectory = "https://acme-v02.api.letsencrypt.org/directory"

// RenewWindowDuration returns TLS.RenewWindow parsed.
func (c *Config) RenewWindowDuration() time.Duration {
	d, _ := time.ParseDuration(c.TLS.RenewWindow)
	return d
}

// fileConfig is the HCL shape of Config: blocks are optional, so they are
// pointers here and copied into Config after decoding.
type fileConfig struct {
	DataDir       string   `hcl:"data_dir,optional"`
	HTTPAddr      string   `hcl:"http_addr,optional"`
	SitesAddr     string   `hcl:"sites_addr,optional"`
	PlatformRoots []string `hcl:"platform_roots,optional"`
	BackupDir     string   `hcl:"backup_dir,optional"`
	BackupFormat  int      `hcl:"backup_archive_format,optional"`
	MaxTokenTTL   string   `hcl:"max_token_ttl,optional"`
	MaxImportMB   int      `hcl:"max_import_mb,optional"`
	Store         *struct {
		Backend string        `hcl:"backend,optional"`
		Consul  *ConsulConfig `hcl:"consul,block"`
	} `hcl:"store,block"`
	Executor *ExecutorConfig `hcl:"executor,block"`
	Nomad    *NomadConfig    `hcl:"nomad,block"`
	Secrets  *struct {
		Backend string       `hcl:"backend,optional"`
		Vault   *VaultConfig `hcl:"vault,block"`
	} `hcl:"secrets,block"`
	Redis     *redisFile       `hcl:"redis,block"`
	Dashboard *DashboardConfig `hcl:"dashboard,block"`
	TLS       *TLSConfig       `hcl:"tls,block"`
	Routing   *RoutingConfig   `hcl:"routing,block"`

	AuditRetention string `hcl:"audit_retention,optional"`

	Notifications *NotificationsConfig `hcl:"notifications,block"`
	// Unconfigured, when set, refuses the file with its text: the Debian
	// package's default /etc/aegir/aegir.hcl carries it until the
	// operator has filled the file in (ops/package/aegir.hcl).
	Unconfigured string       `hcl:"unconfigured,optional"`
	Quotas       *QuotaConfig `hcl:"quotas,block"`
}

// QuotaConfig are the default quotas of every client (see
// domain.QuotaNames). Each is a whole number, disk a size such as "10G";
// "0" or "unlimited" is no limit. A client user's request beyond one is
// refused with quota_exceeded; admins are not held to them.
type QuotaConfig struct {
	// Tasks is how many tasks a client's users may have queued or running
	// at once. Default "20". Env AEGIR_QUOTA_TASKS.
	Tasks string `hcl:"tasks,optional"`
	// Backups is how many manual backups a client may keep. Default
	// "20". Env AEGIR_QUOTA_BACKUPS.
	Backups string `hcl:"backups,optional"`
	// Sites is how many sites a client may own. Default "0" (no limit).
	// Env AEGIR_QUOTA_SITES.
	Sites string `hcl:"sites,optional"`
	// Disk is how much disk a client's sites and backups may use. Default
	// "0" (no limit). Env AEGIR_QUOTA_DISK.
	Disk string `hcl:"disk,optional"`
}

// Limits returns the quotas parsed (domain.Quotas), or the first that is
// not a number.
func (q *QuotaConfig) Limits() (domain.Quotas, error) {
	out := domain.Quotas{}
	for name, v := range map[string]string{domain.QuotaTasks: q.Tasks, domain.QuotaBackups: q.Backups, domain.QuotaSites: q.Sites, domain.QuotaDisk: q.Disk} {
		n, err := domain.ParseQuota(name, v)
		if err != nil {
			return nil, fmt.Errorf("quotas %s %q: %w", name, v, err)
		}
		out[name] = n
	}
	return out, nil
}

func (f *fileConfig) into(c *Config) {
	c.DataDir, c.HTTPAddr, c.SitesAddr, c.PlatformRoots, c.BackupDir = f.DataDir, f.HTTPAddr, f.SitesAddr, f.PlatformRoots, f.BackupDir
	c.MaxTokenTTL, c.AuditRetention = f.MaxTokenTTL, f.AuditRetention
	c.MaxImportMB = f.MaxImportMB
	c.BackupArchiveFormat = f.BackupFormat
	if f.Quotas != nil {
		c.Quotas = *f.Quotas
	}
	if f.Store != nil {
		c.Store.Backend = f.Store.Backend
		if f.Store.Consul != nil {
			c.Store.Consul = *f.Store.Consul
		}
	}
	if f.Executor != nil {
		c.Executor = *f.Executor
	}
	if f.Nomad != nil {
		c.Nomad = *f.Nomad
	}
	if f.Secrets != nil {
		c.Secrets.Backend = f.Secrets.Backend
		if f.Secrets.Vault != nil {
			c.Secrets.Vault = *f.Secrets.Vault
		}
	}
	if f.Redis != nil {
		f.Redis.into(&c.Redis)
	}
	if f.Dashboard != nil {
		c.Dashboard = *f.Dashboard
	}
	if f.Notifications != nil {
		c.Notifications = *f.Notifications
	}
	if f.TLS != nil {
		c.TLS = *f.TLS
	}
	if f.Routing != nil {
		c.Routing = *f.Routing
	}
}

// RoutingConfig configures how aegir works with the router in front of the
// web servers (Traefik on Consul's catalog, see internal/routing; on with
// the consul store).
type RoutingConfig struct {
	// ReleaseGrace is how long a migrated site's old place keeps serving
	// after the catalog no longer routes the site there, before it is
	// removed: at least the router's refresh (Traefik's refreshInterval
	// plus providersThrottleDuration: 3s with ops/traefik/traefik.yml).
	// Default "10s". Env AEGIR_ROUTING_RELEASE_GRACE.
	ReleaseGrace string `hcl:"release_grace,optional"`
	// ReleaseWait is how long the old place waits for the router to let
	// it go (the new place's health check to pass) before its release
	// fails and the old place is kept. Default "10m".
	ReleaseWait string `hcl:"release_wait,optional"`
}

// ReleaseGraceDuration returns Routing.ReleaseGrace parsed.
func (c *Config) ReleaseGraceDuration() time.Duration {
	d, _ := time.ParseDuration(c.Routing.ReleaseGrace)
	return d
}

// ReleaseWaitDuration returns Routing.ReleaseWait parsed.
func (c *Config) ReleaseWaitDuration() time.Duration {
	d, _ := time.ParseDuration(c.Routing.ReleaseWait)
	return d
}

// DashboardConfig configures the HTML dashboard's logins.
type DashboardConfig struct {
	// SessionIdle ends a dashboard session after this long without a
	// request. Default "2h". Env AEGIR_SESSION_IDLE.
	SessionIdle string `hcl:"session_idle,optional"`
	// SessionMax ends a dashboard session this long after login, however
	// busy. Default "12h". Env AEGIR_SESSION_MAX.
	SessionMax string `hcl:"session_max,optional"`
	// TrustedProxies are the addresses (CIDRs, or single addresses) of the
	// load balancers or TLS terminators in front of aegir. Only a request
	// from one of them has its client address taken from
	// X-Forwarded-For (the right-most address that is not itself a
	// trusted proxy); from anyone else the header is ignored. The address
	// counts for login limits and is shown with sessions. Default: none.
	// Env AEGIR_TRUSTED_PROXIES (comma list).
	TrustedProxies []string `hcl:"trusted_proxies,optional"`
}

// SessionIdleDuration returns Dashboard.SessionIdle parsed.
func (c *Config) SessionIdleDuration() time.Duration {
	d, _ := time.ParseDuration(c.Dashboard.SessionIdle)
	return d
}

// SessionMaxDuration returns Dashboard.SessionMax parsed.
func (c *Config) SessionMaxDuration() time.Duration {
	d, _ := time.ParseDuration(c.Dashboard.SessionMax)
	return d
}

// TrustedProxyPrefixes returns Dashboard.TrustedProxies parsed (validate
// has refused any that do not parse).
func (c *Config) TrustedProxyPrefixes() []netip.Prefix {
	out := make([]netip.Prefix, 0, len(c.Dashboard.TrustedProxies))
	for _, s := range c.Dashboard.TrustedProxies {
		if p, err := parseProxy(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// parseProxy reads a CIDR or a single address as a prefix.
func parseProxy(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// StoreConfig selects the entity store.
type StoreConfig struct {
	// Backend is "bolt" (embedded file) or "consul". Default "bolt" for dev,
	// "consul" for server. Env AEGIR_STORE.
	Backend string
	Consul  ConsulConfig
}

// ConsulConfig reaches Consul.
type ConsulConfig struct {
	// Address of the agent's HTTP API. Default "127.0.0.1:8500". Env
	// CONSUL_HTTP_ADDR.
	Address string `hcl:"address,optional"`
	// Token is the ACL token. Env CONSUL_HTTP_TOKEN.
	Token string `hcl:"token,optional"`
	// Prefix for every KV key. Default "aegir/v1/". Env AEGIR_CONSUL_PREFIX.
	Prefix string `hcl:"prefix,optional"`
	// Datacenter, default the agent's. Env CONSUL_DATACENTER.
	Datacenter string `hcl:"datacenter,optional"`
}

// ExecutorConfig selects where tasks run.
type ExecutorConfig struct {
	// Kind is "local" (child processes) or "nomad". Default "local". Env
	// AEGIR_EXECUTOR.
	Kind string `hcl:"kind,optional"`
	// MaxParallel is how many tasks run at once. Default 4.
	MaxParallel int `hcl:"max_parallel,optional"`
	// TaskTimeout is how long one task may run. Default "1h".
	TaskTimeout string `hcl:"task_timeout,optional"`
	// LeaderTTL is the lease of the dispatcher's leadership: with several
	// aegir servers, one dispatches and another takes over within this
	// time after it dies. Default "15s". Env AEGIR_LEADER_TTL.
	LeaderTTL string `hcl:"leader_ttl,optional"`
	// StopTimeout bounds a clean stop (SIGINT, SIGTERM): the local back
	// ends still running get SIGTERM and this long to roll back before
	// SIGKILL, and aegir waits for their tasks to be recorded before it
	// exits. Nomad back ends are handed over instead. Default "30s".
	StopTimeout string `hcl:"stop_timeout,optional"`
}

// NomadConfig reaches Nomad.
type NomadConfig struct {
	// Address of the Nomad HTTP API. Default "http://127.0.0.1:4646". Env
	// NOMAD_ADDR.
	Address string `hcl:"address,optional"`
	// Token is the ACL token. Env NOMAD_TOKEN.
	Token string `hcl:"token,optional"`
	// Region and Namespace, default Nomad's. Env NOMAD_REGION, NOMAD_NAMESPACE.
	Region    string `hcl:"region,optional"`
	Namespace string `hcl:"namespace,optional"`
	// Datacenters the jobs may run in. Default ["dc1"].
	Datacenters []string `hcl:"datacenters,optional"`
	// Binary is the aegir executable on the Nomad client nodes. Default
	// "/usr/local/bin/aegir".
	Binary string `hcl:"binary,optional"`
	// BinaryFromServers makes the back ends' and queue passes' jobs fetch
	// the dispatching server's own binary from api_addr + /dl/aegir.tar.gz
	// (Nomad artifact, checked against its sha256) instead of running
	// Binary from the node: nothing to copy to the clients, and every
	// back end runs its dispatcher's release.
	BinaryFromServers bool `hcl:"binary_from_servers,optional"`
	// APIAddr is the aegir API as the periodic queue jobs reach it.
	// Default "http://" + http_addr.
	APIAddr string `hcl:"api_addr,optional"`
	// VaultPolicies are the Vault policies of the token Nomad gives each
	// back end (the aegir-task job's vault block), e.g. ["aegir-backend"];
	// Nomad's servers must have Vault enabled. Default: none, no vault
	// block.
	VaultPolicies []string `hcl:"vault_policies,optional"`
}

// SecretsConfig selects the secrets backend.
type SecretsConfig struct {
	// Backend is "file" (encrypted file under DataDir) or "vault". Default
	// "file". Env AEGIR_SECRETS.
	Backend string
	Vault   VaultConfig
}

// VaultConfig reaches Vault. The token comes from VAULT_TOKEN or AppRole,
// never from the config file.
type VaultConfig struct {
	// Address, default "http://127.0.0.1:8200". Env VAULT_ADDR.
	Address string `hcl:"address,optional"`
	// Mount of the KV v2 engine. Default "secret".
	Mount string `hcl:"mount,optional"`
	// Prefix under the mount. Default "aegir".
	Prefix string `hcl:"prefix,optional"`
	// RoleIDFile and SecretIDFile hold the AppRole credentials aegir server
	// logs in with (policy aegir-dashboard). Default: none, and VAULT_TOKEN
	// is used. Env AEGIR_VAULT_ROLE_ID_FILE, AEGIR_VAULT_SECRET_ID_FILE.
	RoleIDFile   string `hcl:"role_id_file,optional"`
	SecretIDFile string `hcl:"secret_id_file,optional"`
	// BackendRoleIDFile and BackendSecretIDFile hold the AppRole
	// credentials of back ends run by the local executor (policy
	// aegir-backend). Default: none, and back ends get VAULT_TOKEN. Under
	// Nomad the aegir-task job's vault block gives back ends their token.
	BackendRoleIDFile   string `hcl:"backend_role_id_file,optional"`
	BackendSecretIDFile string `hcl:"backend_secret_id_file,optional"`
}

// ErrUnconfigured means the config file still says it is not configured
// (its `unconfigured` attribute, which the packaged default carries).
var ErrUnconfigured = errors.New("not configured yet")

// Mode is the role the process runs in; it decides the defaults.
type Mode int

const (
	ModeDev Mode = iota
	ModeServer
)

// Load reads the configuration: defaults for mode, then the HCL file at
// path (if not empty), then env, then the flags already parsed into fs
// (only those set explicitly).
func Load(mode Mode, path string, env func(string) string, fs *flag.FlagSet) (*Config, error) {
	var c Config
	if path != "" {
		var f fileConfig
		if err := hclsimple.DecodeFile(path, nil, &f); err != nil {
			return nil, fmt.Errorf("config file %s: %w", path, err)
		}
		if f.Unconfigured != "" {
			return nil, fmt.Errorf("config file %s: %w: %s", path, ErrUnconfigured, f.Unconfigured)
		}
		f.into(&c)
	}
	envErr := c.applyEnv(env)
	if fs != nil {
		fs.Visit(func(f *flag.Flag) {
			v := f.Value.String()
			switch f.Name {
			case "data-dir":
				c.DataDir = v
			case "http-addr":
				c.HTTPAddr = v
			case "sites-addr":
				c.SitesAddr = v
			case "sites-tls-addr":
				c.TLS.SitesAddr = v
			case "store":
				c.Store.Backend = v
			case "consul-addr":
				c.Store.Consul.Address = v
			case "executor":
				c.Executor.Kind = v
			case "redis-addr":
				c.Redis.Address = v
			}
		})
	}
	c.applyDefaults(mode)
	if err := errors.Join(envErr, c.validate()); err != nil {
		return nil, err
	}
	return &c, nil
}

// Flags registers the flags Load understands on fs.
func Flags(fs *flag.FlagSet) {
	fs.String("data-dir", "", "data directory (env AEGIR_DATA_DIR)")
	fs.String("http-addr", "", "API and dashboard listen address (env AEGIR_HTTP_ADDR; default 127.0.0.1:8480)")
	fs.String("sites-addr", "", "builtin web server listen address (env AEGIR_SITES_ADDR; default 127.0.0.1:8481)")
	fs.String("sites-tls-addr", "", "builtin web server HTTPS listen address (env AEGIR_SITES_TLS_ADDR; default 127.0.0.1:8482 in dev with the default -sites-addr)")
	fs.String("store", "", "entity store: bolt or consul (env AEGIR_STORE)")
	fs.String("consul-addr", "", "Consul HTTP address (env CONSUL_HTTP_ADDR)")
	fs.String("executor", "", "task executor: local or nomad (env AEGIR_EXECUTOR)")
	fs.String("redis-addr", "", "Redis address for live logs and locks (env AEGIR_REDIS_ADDR)")
}

func (c *Config) applyEnv(env func(string) string) error {
	set := func(dst *string, key string) {
		if v := env(key); v != "" {
			*dst = v
		}
	}
	set(&c.DataDir, "AEGIR_DATA_DIR")
	set(&c.HTTPAddr, "AEGIR_HTTP_ADDR")
	set(&c.SitesAddr, "AEGIR_SITES_ADDR")
	set(&c.BackupDir, "AEGIR_BACKUP_DIR")
	set(&c.MaxTokenTTL, "AEGIR_MAX_TOKEN_TTL")
	set(&c.AuditRetention, "AEGIR_AUDIT_RETENTION")
	var envErr error
	if v := env("AEGIR_MAX_IMPORT_MB"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			envErr = fmt.Errorf("AEGIR_MAX_IMPORT_MB %q is not a whole number of MiB", v)
		}
		c.MaxImportMB = n
	}
	if v := env("AEGIR_BACKUP_ARCHIVE_FORMAT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			envErr = errors.Join(envErr, fmt.Errorf("AEGIR_BACKUP_ARCHIVE_FORMAT %q is not 1 or 2", v))
		}
		c.BackupArchiveFormat = n
	}
	set(&c.Quotas.Tasks, "AEGIR_QUOTA_TASKS")
	set(&c.Quotas.Backups, "AEGIR_QUOTA_BACKUPS")
	set(&c.Quotas.Sites, "AEGIR_QUOTA_SITES")
	set(&c.Quotas.Disk, "AEGIR_QUOTA_DISK")
	if v := env("AEGIR_PLATFORM_ROOTS"); v != "" {
		c.PlatformRoots = strings.Split(v, ":")
	}
	set(&c.Store.Backend, "AEGIR_STORE")
	set(&c.Store.Consul.Address, "CONSUL_HTTP_ADDR")
	set(&c.Store.Consul.Token, "CONSUL_HTTP_TOKEN")
	set(&c.Store.Consul.Prefix, "AEGIR_CONSUL_PREFIX")
	set(&c.Store.Consul.Datacenter, "CONSUL_DATACENTER")
	set(&c.Executor.Kind, "AEGIR_EXECUTOR")
	set(&c.Executor.LeaderTTL, "AEGIR_LEADER_TTL")
	set(&c.Routing.ReleaseGrace, "AEGIR_ROUTING_RELEASE_GRACE")
	set(&c.Nomad.Address, "NOMAD_ADDR")
	set(&c.Nomad.Token, "NOMAD_TOKEN")
	set(&c.Nomad.Region, "NOMAD_REGION")
	set(&c.Nomad.Namespace, "NOMAD_NAMESPACE")
	set(&c.Secrets.Backend, "AEGIR_SECRETS")
	set(&c.Secrets.Vault.Address, "VAULT_ADDR")
	set(&c.Secrets.Vault.RoleIDFile, "AEGIR_VAULT_ROLE_ID_FILE")
	set(&c.Secrets.Vault.SecretIDFile, "AEGIR_VAULT_SECRET_ID_FILE")
	set(&c.TLS.Issuer, "AEGIR_TLS_ISSUER")
	set(&c.TLS.ACMEDirectory, "AEGIR_ACME_DIRECTORY")
	set(&c.TLS.ACMEEmail, "AEGIR_ACME_EMAIL")
	set(&c.TLS.ACMERootsFile, "AEGIR_ACME_ROOTS_FILE")
	set(&c.TLS.RenewWindow, "AEGIR_TLS_RENEW_WINDOW")
	set(&c.TLS.SitesAddr, "AEGIR_SITES_TLS_ADDR")
	set(&c.Dashboard.SessionIdle, "AEGIR_SESSION_IDLE")
	set(&c.Dashboard.SessionMax, "AEGIR_SESSION_MAX")
	if v := env("AEGIR_TRUSTED_PROXIES"); v != "" {
		c.Dashboard.TrustedProxies = nil
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				c.Dashboard.TrustedProxies = append(c.Dashboard.TrustedProxies, p)
			}
		}
	}
	return errors.Join(envErr, c.Redis.applyEnv(env))
}

func (c *Config) applyDefaults(mode Mode) {
	if mode == ModeDev {
		c.DataDir = cmp.Or(c.DataDir, "aegir-data")
		c.Store.Backend = cmp.Or(c.Store.Backend, "bolt")
		c.TLS.Issuer = cmp.Or(c.TLS.Issuer, "local")
		if c.SitesAddr == "" {
			c.TLS.SitesAddr = cmp.Or(c.TLS.SitesAddr, "127.0.0.1:8482")
		}
	} else {
		c.DataDir = cmp.Or(c.DataDir, "/var/lib/aegir")
		c.Store.Backend = cmp.Or(c.Store.Backend, "consul")
		c.TLS.Issuer = cmp.Or(c.TLS.Issuer, "acme")
	}
	c.TLS.ACMEDirectory = cmp.Or(c.TLS.ACMEDirectory, LetsEncryptDirectory)
	c.TLS.RenewWindow = cmp.Or(c.TLS.RenewWindow, "720h")
	if abs, err := filepath.Abs(c.DataDir); err == nil {
		c.DataDir = abs
	}
	c.HTTPAddr = cmp.Or(c.HTTPAddr, "127.0.0.1:8480")
	c.SitesAddr = cmp.Or(c.SitesAddr, "127.0.0.1:8481")
	c.BackupDir = cmp.Or(c.BackupDir, filepath.Join(c.DataDir, "backups"))
	c.MaxTokenTTL = cmp.Or(c.MaxTokenTTL, "8760h")
	c.MaxImportMB = cmp.Or(c.MaxImportMB, 1024)
	c.BackupArchiveFormat = cmp.Or(c.BackupArchiveFormat, 2)
	c.AuditRetention = cmp.Or(c.AuditRetention, "2160h")
	c.Quotas.Tasks = cmp.Or(c.Quotas.Tasks, "20")
	c.Quotas.Backups = cmp.Or(c.Quotas.Backups, "20")
	c.Quotas.Sites = cmp.Or(c.Quotas.Sites, "0")
	c.Quotas.Disk = cmp.Or(c.Quotas.Disk, "0")
	c.Store.Consul.Address = cmp.Or(c.Store.Consul.Address, "127.0.0.1:8500")
	c.Store.Consul.Prefix = cmp.Or(c.Store.Consul.Prefix, "aegir/v1/")
	c.Executor.Kind = cmp.Or(c.Executor.Kind, "local")
	c.Executor.MaxParallel = cmp.Or(c.Executor.MaxParallel, 4)
	c.Executor.TaskTimeout = cmp.Or(c.Executor.TaskTimeout, "1h")
	c.Executor.LeaderTTL = cmp.Or(c.Executor.LeaderTTL, "15s")
	c.Executor.StopTimeout = cmp.Or(c.Executor.StopTimeout, "30s")
	c.Nomad.Address = cmp.Or(c.Nomad.Address, "http://127.0.0.1:4646")
	c.Nomad.Binary = cmp.Or(c.Nomad.Binary, "/usr/local/bin/aegir")
	c.Nomad.APIAddr = cmp.Or(c.Nomad.APIAddr, "http://"+c.HTTPAddr)
	if len(c.Nomad.Datacenters) == 0 {
		c.Nomad.Datacenters = []string{"dc1"}
	}
	c.Secrets.Backend = cmp.Or(c.Secrets.Backend, "file")
	c.Secrets.Vault.Address = cmp.Or(c.Secrets.Vault.Address, "http://127.0.0.1:8200")
	c.Secrets.Vault.Mount = cmp.Or(c.Secrets.Vault.Mount, "secret")
	c.Secrets.Vault.Prefix = cmp.Or(c.Secrets.Vault.Prefix, "aegir")
	c.Dashboard.SessionIdle = cmp.Or(c.Dashboard.SessionIdle, "2h")
	c.Dashboard.SessionMax = cmp.Or(c.Dashboard.SessionMax, "12h")
	c.Notifications.applyDefaults()
	c.Routing.ReleaseGrace = cmp.Or(c.Routing.ReleaseGrace, "10s")
	c.Routing.ReleaseWait = cmp.Or(c.Routing.ReleaseWait, "10m")
}

// LeaderTTLDuration returns Executor.LeaderTTL parsed.
func (c *Config) LeaderTTLDuration() time.Duration {
	d, _ := time.ParseDuration(c.Executor.LeaderTTL)
	return d
}

// AuditRetentionDuration returns AuditRetention parsed.
func (c *Config) AuditRetentionDuration() time.Duration {
	d, _ := time.ParseDuration(c.AuditRetention)
	return d
}

// ImportDir is where uploaded site archives are written: BackupDir/imports.
func (c *Config) ImportDir() string { return filepath.Join(c.BackupDir, "imports") }

// MaxImportSize is MaxImportMB in bytes.
func (c *Config) MaxImportSize() int64 { return int64(c.MaxImportMB) << 20 }

// MaxTokenTTLDuration returns MaxTokenTTL parsed.
func (c *Config) MaxTokenTTLDuration() time.Duration {
	d, _ := time.ParseDuration(c.MaxTokenTTL)
	return d
}

// StopTimeoutDuration returns Executor.StopTimeout parsed.
func (c *Config) StopTimeoutDuration() time.Duration {
	d, _ := time.ParseDuration(c.Executor.StopTimeout)
	return d
}

// TaskTimeoutDuration returns Executor.TaskTimeout parsed.
func (c *Config) TaskTimeoutDuration() time.Duration {
	d, _ := time.ParseDuration(c.Executor.TaskTimeout)
	return d
}

func (c *Config) validate() error {
	var errs []error
	switch c.TLS.Issuer {
	case "local", "acme":
	default:
		errs = append(errs, fmt.Errorf("tls issuer %q: use local or acme", c.TLS.Issuer))
	}
	if d, err := time.ParseDuration(c.TLS.RenewWindow); err != nil || d < time.Minute {
		errs = append(errs, fmt.Errorf("tls renew_window %q is not a duration of at least 1m like 720h", c.TLS.RenewWindow))
	}
	for name, addr := range map[string]string{"http_addr": c.HTTPAddr, "sites_addr": c.SitesAddr, "tls sites_addr": c.TLS.SitesAddr} {
		if name == "tls sites_addr" && addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q is not host:port", name, addr))
		}
	}
	switch c.Store.Backend {
	case "bolt", "consul":
	default:
		errs = append(errs, fmt.Errorf("store backend %q: use bolt or consul", c.Store.Backend))
	}
	switch c.Executor.Kind {
	case "local", "nomad":
	default:
		errs = append(errs, fmt.Errorf("executor %q: use local or nomad", c.Executor.Kind))
	}
	switch c.Secrets.Backend {
	case "file", "vault":
	default:
		errs = append(errs, fmt.Errorf("secrets backend %q: use file or vault", c.Secrets.Backend))
	}
	if d, err := time.ParseDuration(c.Executor.TaskTimeout); err != nil || d <= 0 {
		errs = append(errs, fmt.Errorf("executor task_timeout %q is not a positive duration like 1h", c.Executor.TaskTimeout))
	}
	if c.BackupArchiveFormat != 1 && c.BackupArchiveFormat != 2 {
		errs = append(errs, fmt.Errorf("backup_archive_format %d: use 2 (the default), or 1 for back ends of releases before format 2", c.BackupArchiveFormat))
	}
	if c.MaxImportMB < 1 {
		errs = append(errs, fmt.Errorf("max_import_mb %d must be at least 1", c.MaxImportMB))
	}
	if d, err := time.ParseDuration(c.MaxTokenTTL); err != nil || d < time.Minute {
		errs = append(errs, fmt.Errorf("max_token_ttl %q is not a duration of at least 1m like 8760h", c.MaxTokenTTL))
	}
	if _, err := c.Quotas.Limits(); err != nil {
		errs = append(errs, err)
	}
	if d, err := time.ParseDuration(c.AuditRetention); err != nil || d < 24*time.Hour {
		errs = append(errs, fmt.Errorf("audit_retention %q is not a duration of at least 24h like 2160h", c.AuditRetention))
	}
	if c.Redis.Address == "" && c.Redis != (RedisConfig{}) {
		errs = append(errs, errors.New("redis: credentials or tls are set but address is empty, so aegir would not use Redis; set redis address (AEGIR_REDIS_ADDR) or remove them"))
	}
	if err := c.Redis.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Notifications.validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Executor.Kind == "nomad" && c.Redis.Address == "" {
		errs = append(errs, errors.New("the nomad executor needs redis.address: back ends on other machines stream their logs and results through Redis"))
	}
	if d, err := time.ParseDuration(c.Executor.LeaderTTL); err != nil || d < 500*time.Millisecond {
		errs = append(errs, fmt.Errorf("executor leader_ttl %q is not a duration of at least 500ms like 15s", c.Executor.LeaderTTL))
	}
	if d, err := time.ParseDuration(c.Executor.StopTimeout); err != nil || d < time.Second || d > time.Hour {
		errs = append(errs, fmt.Errorf("executor stop_timeout %q is not a duration between 1s and 1h like 30s", c.Executor.StopTimeout))
	}
	grace, errGrace := time.ParseDuration(c.Routing.ReleaseGrace)
	if errGrace != nil || grace < time.Second || grace > time.Hour {
		errs = append(errs, fmt.Errorf("routing release_grace %q is not a duration between 1s and 1h like 10s", c.Routing.ReleaseGrace))
	}
	if d, err := time.ParseDuration(c.Routing.ReleaseWait); err != nil || d < time.Minute || d > 24*time.Hour || (errGrace == nil && d <= grace) {
		errs = append(errs, fmt.Errorf("routing release_wait %q is not a duration between 1m and 24h, longer than release_grace, like 10m", c.Routing.ReleaseWait))
	}
	if c.Executor.MaxParallel < 1 || c.Executor.MaxParallel > 1000 {
		errs = append(errs, fmt.Errorf("executor max_parallel %d must be between 1 and 1000", c.Executor.MaxParallel))
	}
	idle, errIdle := time.ParseDuration(c.Dashboard.SessionIdle)
	if errIdle != nil || idle < time.Minute {
		errs = append(errs, fmt.Errorf("dashboard session_idle %q is not a duration of at least 1m like 2h", c.Dashboard.SessionIdle))
	}
	if maxd, err := time.ParseDuration(c.Dashboard.SessionMax); err != nil || maxd < time.Minute || (errIdle == nil && maxd < idle) {
		errs = append(errs, fmt.Errorf("dashboard session_max %q is not a duration of at least 1m and at least session_idle, like 12h", c.Dashboard.SessionMax))
	}
	for _, p := range c.Dashboard.TrustedProxies {
		if _, err := parseProxy(p); err != nil {
			errs = append(errs, fmt.Errorf("dashboard trusted_proxies: %q is neither an address nor a CIDR like 10.0.0.0/8", p))
		}
	}
	for _, p := range c.Nomad.VaultPolicies {
		if err := domain.ValidateName("nomad vault_policies", p); err != nil {
			errs = append(errs, fmt.Errorf("nomad vault_policies: %q is not a Vault policy name (lowercase letters, digits, '-', '_')", p))
		}
	}
	for _, r := range c.PlatformRoots {
		if err := domain.ValidatePath("platform_roots", r, nil); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Getenv is os.Getenv, for callers that pass the process environment.
func Getenv(k string) string { return os.Getenv(k) }
