package secrets

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/servicekind"
)

// DynamicIssuer leases throwaway database users. *VaultStore implements
// it; the back end type-asserts its secrets.Store to it and falls back to
// the static admin credentials when the store is not one.
type DynamicIssuer interface {
	// DynamicCreds leases a new database user from role for about ttl.
	DynamicCreds(ctx context.Context, role string, ttl time.Duration) (username, password, leaseID string, err error)
	// DynamicCredsForTask is DynamicCreds with the task's id in the user
	// name ("t-<task id>-<random>"), so the database server's own logs
	// tie what the user did to the task.
	DynamicCredsForTask(ctx context.Context, role, taskID string, ttl time.Duration) (username, password, leaseID string, err error)
	// Revoke revokes a lease: the database user is dropped before it
	// returns. An unknown or already revoked lease is not an error.
	Revoke(ctx context.Context, leaseID string) error
	// SiteRoleExists reports whether the site's role is configured.
	SiteRoleExists(ctx context.Context, siteID string) (bool, error)
	// ConfigureDatabase and ConfigureSiteRole set up what DynamicCreds
	// needs (idempotent writes).
	ConfigureDatabase(ctx context.Context, c DatabaseConnection) error
	ConfigureSiteRole(ctx context.Context, r SiteRole) error
}

var _ DynamicIssuer = (*VaultStore)(nil)

// SiteRoleName is the database secrets engine role of a site:
// "site-<site id>". Leases from it reach only that site's database.
func SiteRoleName(siteID string) string { return "site-" + siteID }

// UsernameTemplate names throwaway users: the display name of the token
// that asked (DynamicCredsForTask's child token is "t-<task id>") and 8
// random characters, at most 31 characters, within MySQL's 32.
const UsernameTemplate = `{{ printf "%s-%s" (.DisplayName | replace "token-" "" | truncate 22) (random 8) }}`

// DatabaseConnection is a database server the secrets engine creates users
// on, configured at database/config/<ServiceID>.
type DatabaseConnection struct {
	ServiceID string // the db service's id; the connection's name
	// Vault is the kind's Vault descriptor (servicekind.Lookup(kind).Vault):
	// its Plugin picks the connection URL's form. Required.
	Vault *servicekind.VaultDB
	Host  string // as Vault reaches it
	Port  int
	// Username and Password are the server's admin credentials (Vault
	// keeps them; reading the config never returns the password).
	Username, Password string
	// SSLMode (postgresql) is libpq's sslmode. Default "disable" for a
	// loopback host, else "require".
	SSLMode string
	// AdminDatabase (postgresql) is where Vault connects. Default "postgres".
	AdminDatabase string
}

// SiteRole is a site's role on a connection: users that can read (and so
// dump) the site's database and nothing else.
type SiteRole struct {
	SiteID    string
	ServiceID string // the connection (DatabaseConnection.ServiceID)
	// Vault is the kind's Vault descriptor: its creation and revocation
	// statements, with {{database}} replaced by Database. Required.
	Vault *servicekind.VaultDB
	// Database is the site's database name, provision.NameFor(SiteID)
	// ("s_<id>"); on postgresql also the site's own role, which the user
	// becomes a member of.
	Database string
	// ClientHosts are where the leased user may connect from, as the
	// database server sees the back end (the site's web server): each
	// statement naming {{client_host}} is written once per host. Names
	// and IP addresses only, never a wildcard. Default loopback only:
	// "localhost", "127.0.0.1" and "::1".
	ClientHosts []string
	// DefaultTTL and MaxTTL bound the leases. Defaults 1h and 24h.
	DefaultTTL, MaxTTL time.Duration
}

var (
	identRe = regexp.MustCompile(`^[a-z0-9_]{1,63}$`)
	hostRe  = regexp.MustCompile(`^[A-Za-z0-9.\-:\[\]]{1,253}$`)
	// clientHostRe is a host part of a database account: a name or an
	// IP address, no '%' or '_' wildcard.
	clientHostRe = regexp.MustCompile(`^[A-Za-z0-9.\-:]{1,253}$`)
)

// The Vault database plugins whose connection URL ConfigureDatabase knows
// how to write.
const (
	mysqlPlugin    = "mysql-database-plugin"
	postgresPlugin = "postgresql-database-plugin"
)

func validPlugin(v *servicekind.VaultDB) (plugin string, err error) {
	if v == nil {
		return "", fmt.Errorf("%w: the database kind has no Vault plugin (its servicekind descriptor has no Vault)", ErrInvalidRef)
	}
	switch v.Plugin {
	case mysqlPlugin, postgresPlugin:
		return v.Plugin, nil
	}
	return "", fmt.Errorf("%w: Vault database plugin %q is not %s or %s", ErrInvalidRef, v.Plugin, mysqlPlugin, postgresPlugin)
}

// ConfigureDatabase writes database/config/<service id>: the plugin, the
// connection URL with {{username}}/{{password}} placeholders (the admin
// credentials go in their own fields, never pasted into the URL), the
// username template, and allowed_roles "site-*". Vault checks the
// connection before it accepts it.
func (v *VaultStore) ConfigureDatabase(ctx context.Context, c DatabaseConnection) error {
	plugin, err := validPlugin(c.Vault)
	if err != nil {
		return err
	}
	if !domain.ValidID(c.ServiceID) {
		return fmt.Errorf("%w: service id %q", ErrInvalidRef, c.ServiceID)
	}
	if !hostRe.MatchString(c.Host) || c.Port < 1 || c.Port > 65535 {
		return fmt.Errorf("%w: database host %q port %d", ErrInvalidRef, c.Host, c.Port)
	}
	if c.Username == "" {
		return errors.New("the database admin credentials have no username")
	}
	hp := net.JoinHostPort(strings.Trim(c.Host, "[]"), strconv.Itoa(c.Port))
	var connURL string
	if plugin == mysqlPlugin {
		connURL = "{{username}}:{{password}}@tcp(" + hp + ")/"
	} else {
		db := c.AdminDatabase
		if db == "" {
			db = "postgres"
		}
		if !identRe.MatchString(db) {
			return fmt.Errorf("%w: admin database %q", ErrInvalidRef, db)
		}
		mode := c.SSLMode
		if mode == "" {
			mode = "require"
			if ip := net.ParseIP(strings.Trim(c.Host, "[]")); ip != nil && ip.IsLoopback() || c.Host == "localhost" {
				mode = "disable"
			}
		}
		if !map[string]bool{"disable": true, "allow": true, "prefer": true, "require": true, "verify-ca": true, "verify-full": true}[mode] {
			return fmt.Errorf("%w: sslmode %q", ErrInvalidRef, mode)
		}
		connURL = "postgresql://{{username}}:{{password}}@" + hp + "/" + db + "?" + url.Values{"sslmode": {mode}}.Encode()
	}
	path := v.dbMount + "/config/" + c.ServiceID
	_, err = v.client.Logical().WriteWithContext(ctx, path, map[string]any{
		"plugin_name":       plugin,
		"connection_url":    connURL,
		"username":          c.Username,
		"password":          c.Password,
		"allowed_roles":     []string{"site-*"},
		"username_template": UsernameTemplate,
		"verify_connection": true,
	})
	if err != nil {
		return v.classify(ctx, "write", path, err)
	}
	return nil
}

// ConfigureSiteRole writes database/roles/site-<id> with r.Vault's
// creation and revocation statements (internal/servicekind holds them for
// each kind). The statements name only the site's database, allow-listed
// ([a-z0-9_]) and put in place of {{database}}; Vault fills in {{name}},
// {{password}} and {{expiration}}.
func (v *VaultStore) ConfigureSiteRole(ctx context.Context, r SiteRole) error {
	if _, err := validPlugin(r.Vault); err != nil {
		return err
	}
	if len(r.Vault.Creation) == 0 || len(r.Vault.Revocation) == 0 {
		return fmt.Errorf("%w: the Vault descriptor of plugin %s has no creation or revocation statements", ErrInvalidRef, r.Vault.Plugin)
	}
	if !domain.ValidID(r.SiteID) || !domain.ValidID(r.ServiceID) {
		return fmt.Errorf("%w: site id %q or service id %q", ErrInvalidRef, r.SiteID, r.ServiceID)
	}
	if !identRe.MatchString(r.Database) {
		return fmt.Errorf("%w: database name %q is not [a-z0-9_]", ErrInvalidRef, r.Database)
	}
	hosts := r.ClientHosts
	if len(hosts) == 0 {
		hosts = []string{"localhost", "127.0.0.1", "::1"} // loopback only
	}
	for _, h := range hosts {
		if !clientHostRe.MatchString(h) {
			return fmt.Errorf("%w: client host %q is not a host name or IP address", ErrInvalidRef, h)
		}
	}
	create := withClientHosts(withDatabase(r.Vault.Creation, r.Database), hosts)
	revoke := withClientHosts(withDatabase(r.Vault.Revocation, r.Database), hosts)
	ttl, maxTTL := r.DefaultTTL, r.MaxTTL
	if ttl <= 0 {
		ttl = time.Hour
	}
	if maxTTL <= 0 {
		maxTTL = 24 * time.Hour
	}
	path := v.dbMount + "/roles/" + SiteRoleName(r.SiteID)
	_, err := v.client.Logical().WriteWithContext(ctx, path, map[string]any{
		"db_name":               r.ServiceID,
		"creation_statements":   create,
		"revocation_statements": revoke,
		"default_ttl":           int(ttl.Seconds()),
		"max_ttl":               int(maxTTL.Seconds()),
	})
	if err != nil {
		return v.classify(ctx, "write", path, err)
	}
	return nil
}

// withDatabase returns stmts with {{database}} replaced by db, which the
// caller has allow-listed.
func withDatabase(stmts []string, db string) []string {
	out := make([]string, len(stmts))
	for i, s := range stmts {
		out[i] = strings.ReplaceAll(s, "{{database}}", db)
	}
	return out
}

// withClientHosts writes each statement naming {{client_host}} once per
// host (which the caller has allow-listed), in order, so every CREATE
// USER comes before the GRANTs that follow it.
func withClientHosts(stmts, hosts []string) []string {
	var out []string
	for _, s := range stmts {
		if !strings.Contains(s, "{{client_host}}") {
			out = append(out, s)
			continue
		}
		for _, h := range hosts {
			out = append(out, strings.ReplaceAll(s, "{{client_host}}", h))
		}
	}
	return out
}

// SiteRoleExists reports whether database/roles/site-<id> exists.
func (v *VaultStore) SiteRoleExists(ctx context.Context, siteID string) (bool, error) {
	if !domain.ValidID(siteID) {
		return false, fmt.Errorf("%w: site id %q", ErrInvalidRef, siteID)
	}
	path := v.dbMount + "/roles/" + SiteRoleName(siteID)
	s, err := v.client.Logical().ReadWithContext(ctx, path)
	if err != nil {
		return false, v.classify(ctx, "read", path, err)
	}
	return s != nil, nil
}

// DeleteSiteRole removes a site's role (site deleted); leases already
// issued stay valid until revoked or expired.
func (v *VaultStore) DeleteSiteRole(ctx context.Context, siteID string) error {
	if !domain.ValidID(siteID) {
		return fmt.Errorf("%w: site id %q", ErrInvalidRef, siteID)
	}
	path := v.dbMount + "/roles/" + SiteRoleName(siteID)
	if _, err := v.client.Logical().DeleteWithContext(ctx, path); err != nil {
		return v.classify(ctx, "delete", path, err)
	}
	return nil
}

// DynamicCreds leases a user from role with a lease of about ttl: the
// request is made with a child token whose TTL is ttl (leases never
// outlive the token that asked), so even if Revoke is never called - the
// process is killed - Vault drops the user when ttl runs out.
func (v *VaultStore) DynamicCreds(ctx context.Context, role string, ttl time.Duration) (string, string, string, error) {
	return v.DynamicCredsForTask(ctx, role, "", ttl)
}

// DynamicCredsForTask is DynamicCreds whose child token is named
// "t-<taskID>", which the connection's UsernameTemplate puts in the user
// name.
func (v *VaultStore) DynamicCredsForTask(ctx context.Context, role, taskID string, ttl time.Duration) (string, string, string, error) {
	if !strings.HasPrefix(role, "site-") || !domain.ValidID(strings.TrimPrefix(role, "site-")) {
		return "", "", "", fmt.Errorf("%w: database role %q is not site-<site id>", ErrInvalidRef, role)
	}
	if taskID != "" && !domain.ValidID(taskID) {
		return "", "", "", fmt.Errorf("%w: task id %q", ErrInvalidRef, taskID)
	}
	if ttl <= 0 {
		ttl = time.Hour
	}
	name := "aegir"
	if taskID != "" {
		name = "t-" + taskID
	}
	renewable := false
	child, err := v.client.Auth().Token().CreateWithContext(ctx, &vault.TokenCreateRequest{
		DisplayName: name,
		TTL:         strconv.Itoa(int(ttl.Seconds())) + "s",
		Renewable:   &renewable,
		Metadata:    map[string]string{"task": taskID, "role": role},
	})
	if err != nil {
		return "", "", "", v.classify(ctx, "write", "auth/token/create", err)
	}
	if child == nil || child.Auth == nil {
		return "", "", "", &VaultError{Kind: ErrVaultRequest, Addr: v.addr, Op: "write", Path: "auth/token/create", Detail: "no token in the answer"}
	}
	cc, err := v.client.Clone()
	if err != nil {
		return "", "", "", err
	}
	cc.SetToken(child.Auth.ClientToken)
	revokeChild := func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = cc.Auth().Token().RevokeSelfWithContext(rctx, "")
	}
	path := v.dbMount + "/creds/" + role
	s, err := cc.Logical().ReadWithContext(ctx, path)
	if err != nil {
		revokeChild()
		return "", "", "", v.classify(ctx, "read", path, err)
	}
	if s == nil {
		revokeChild()
		return "", "", "", &VaultError{Kind: ErrVaultRequest, Addr: v.addr, Op: "read", Path: path,
			Detail: "no such role; configure it with ConfigureSiteRole (the back end does it before a backup)"}
	}
	user, _ := s.Data["username"].(string)
	pass, _ := s.Data["password"].(string)
	if user == "" || pass == "" || s.LeaseID == "" {
		revokeChild()
		return "", "", "", &VaultError{Kind: ErrVaultRequest, Addr: v.addr, Op: "read", Path: path, Detail: "the answer has no username, password or lease"}
	}
	v.mu.Lock()
	v.leases[s.LeaseID] = child.Auth.ClientToken
	v.mu.Unlock()
	return user, pass, s.LeaseID, nil
}

// Revoke revokes the lease (synchronously: the user is dropped when it
// returns) and the child token that asked for it.
func (v *VaultStore) Revoke(ctx context.Context, leaseID string) error {
	if leaseID == "" || strings.Contains(leaseID, "..") {
		return fmt.Errorf("%w: lease id %q", ErrInvalidRef, leaseID)
	}
	path := "sys/leases/revoke/" + leaseID
	_, err := v.client.Logical().WriteWithContext(ctx, path, nil)
	var re *vault.ResponseError
	if errors.As(err, &re) && re.StatusCode == 400 && strings.Contains(strings.Join(re.Errors, " "), "invalid lease") {
		err = nil
	}
	if err != nil {
		return v.classify(ctx, "write", path, err)
	}
	v.mu.Lock()
	tok, ok := v.leases[leaseID]
	delete(v.leases, leaseID)
	v.mu.Unlock()
	if ok {
		if cc, err := v.client.Clone(); err == nil {
			cc.SetToken(tok)
			_ = cc.Auth().Token().RevokeSelfWithContext(ctx, "")
		}
	}
	return nil
}
