package servicekind

import (
	"fmt"
	"slices"
	"strings"
)

// Type is the category of a service: web or database.
type Type string

const (
	HTTP Type = "http"
	DB   Type = "db"
)

// Kind is the software providing a service, a "service type" in Aegir.
type Kind string

const (
	Builtin    Kind = "builtin"
	Nginx      Kind = "nginx"
	MariaDB    Kind = "mariadb"
	PostgreSQL Kind = "postgresql"
	SQLite     Kind = "sqlite"
)

// Capability is something a driver can do beyond what every driver of
// its Type does.
type Capability string

const (
	// PHPFastCGI: the web driver passes .php requests to a FastCGI
	// upstream (php-fpm), so it can serve php and drupal platforms.
	PHPFastCGI Capability = "php-fastcgi"
	// AdminCredentials: the database driver logs in to a server with the
	// admin credentials stored for the service (aegir server credentials);
	// without it the driver needs none (sqlite's files).
	AdminCredentials Capability = "admin-credentials"
	// DumpLoad: the database driver writes and reads logical dumps
	// (backups, restore, migrate, clone).
	DumpLoad Capability = "dump-load"
	// DynamicCredentials: Vault's database secrets engine can lease
	// throwaway users on the server (Descriptor.Vault is set), so dumps
	// run as a user that exists only for the task.
	DynamicCredentials Capability = "dynamic-credentials"
	// SiteUsers: when the back end runs as root, each site gets its own
	// Unix user and group on the web server, owning the site's files,
	// and the web server reads them through its group (the service's
	// web_group setting). See package provision's privilege model.
	SiteUsers Capability = "site-users"
)

// Setting is one key of a service's settings map that the driver reads.
type Setting struct {
	Key     string
	Meaning string
	// Default is what the driver uses when the key is unset ("" for none,
	// or a description such as "the server's address").
	Default  string
	Required bool
	// Validate, when set, checks a non-empty value the way the driver
	// does when it is built.
	Validate func(value string) error
}

// VaultDB is how Vault's database secrets engine leases users on a kind
// of database server.
type VaultDB struct {
	// Plugin is the Vault database plugin ("mysql-database-plugin").
	Plugin string
	// Creation and Revocation are the statements of a site's role. They
	// name the site's database as {{database}}, which the caller replaces
	// with the allow-listed name ([a-z0-9_]), and the host the user may
	// connect from as {{client_host}}: the caller writes one copy of such
	// a statement per allow-listed host (never a wildcard). Vault fills
	// in {{name}}, {{password}} and {{expiration}}.
	Creation, Revocation []string
}

// Descriptor is what a driver says about itself.
type Descriptor struct {
	Kind Kind
	Type Type
	// Summary is one line for listings and help.
	Summary string
	// DefaultPort is the port the server answers on when the service has
	// none; 0 for a driver with no network server (sqlite).
	DefaultPort  int
	Capabilities []Capability
	Settings     []Setting
	// Vault is set for database kinds whose users Vault can lease.
	Vault *VaultDB
	// DrupalDriver is Drupal's name for the database driver ("mysql",
	// "pgsql", "sqlite"); empty for web kinds.
	DrupalDriver string
}

// Has reports whether the driver has capability c.
func (d Descriptor) Has(c Capability) bool { return slices.Contains(d.Capabilities, c) }

// Setting returns the setting called key.
func (d Descriptor) Setting(key string) (Setting, bool) {
	for _, s := range d.Settings {
		if s.Key == key {
			return s, true
		}
	}
	return Setting{}, false
}

// CheckSettings checks the settings the driver reads: required keys are
// set, and set values pass their Validate. Keys the driver does not read
// are left alone.
func (d Descriptor) CheckSettings(settings map[string]string) error {
	for _, s := range d.Settings {
		v := settings[s.Key]
		if v == "" {
			if s.Required {
				return fmt.Errorf("%s service: setting %q (%s) is required", d.Kind, s.Key, s.Meaning)
			}
			continue
		}
		if s.Validate != nil {
			if err := s.Validate(v); err != nil {
				return fmt.Errorf("%s service: setting %q: %w", d.Kind, s.Key, err)
			}
		}
	}
	return nil
}

// CheckValue checks one setting as a person sets it, before it is
// stored: a key the driver does not read is refused (it would be ignored,
// hiding a typo), and a non-empty value must pass the setting's Validate.
// Whether required keys are set is CheckSettings', which verify-server
// runs: a service may be created first and configured after.
func (d Descriptor) CheckValue(key, value string) error {
	s, ok := d.Setting(key)
	if !ok {
		keys := make([]string, len(d.Settings))
		for i, s := range d.Settings {
			keys[i] = s.Key
		}
		if len(keys) == 0 {
			return fmt.Errorf("%s services take no settings", d.Kind)
		}
		return fmt.Errorf("%s services have no setting %q; use %s", d.Kind, key, strings.Join(keys, ", "))
	}
	if value == "" || s.Validate == nil {
		return nil
	}
	return s.Validate(value)
}

// All returns the descriptors of every kind, sorted by kind. The slice is
// a copy; the caller may change it.
func All() []Descriptor {
	out := descriptors()
	slices.SortFunc(out, func(a, b Descriptor) int { return strings.Compare(string(a.Kind), string(b.Kind)) })
	return out
}

// Lookup returns the descriptor of kind.
func Lookup(kind Kind) (Descriptor, bool) {
	for _, d := range descriptors() {
		if d.Kind == kind {
			return d, true
		}
	}
	return Descriptor{}, false
}

// Kinds lists the kinds of type t, sorted; every kind when t is "".
func Kinds(t Type) []Kind {
	var out []Kind
	for _, d := range All() {
		if t == "" || d.Type == t {
			out = append(out, d.Kind)
		}
	}
	return out
}

// Names is Kinds as strings, for flags and messages.
func Names(t Type) []string {
	var out []string
	for _, k := range Kinds(t) {
		out = append(out, string(k))
	}
	return out
}
