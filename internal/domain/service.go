package domain

import (
	"strings"
	"time"

	"github.com/aegirhq/aegir/internal/servicekind"
)

// ServiceType is the category of a service: web or database.
type ServiceType = servicekind.Type

const (
	ServiceHTTP = servicekind.HTTP
	ServiceDB   = servicekind.DB
)

// ServiceKind is the software providing a service, a "service type" in
// Aegir. The kinds that exist are the ones internal/servicekind lists:
// those this build has a driver for.
type ServiceKind = servicekind.Kind

const (
	KindNginx      = servicekind.Nginx
	KindBuiltin    = servicekind.Builtin
	KindMariaDB    = servicekind.MariaDB
	KindPostgreSQL = servicekind.PostgreSQL
	KindSQLite     = servicekind.SQLite
)

// MaxServiceSettings bounds a service's settings map.
const MaxServiceSettings = 32

// Service is one service of a kind on a server. A server has at most one
// service of each type, so "the web server of a platform" and "the database
// server of a site" name a server and resolve to its service.
type Service struct {
	ID        string            `json:"id"`
	ServerID  string            `json:"server_id"`
	Type      ServiceType       `json:"type"`
	Kind      ServiceKind       `json:"kind"`
	Port      int               `json:"port,omitempty"`
	Settings  map[string]string `json:"settings,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt time.Time         `json:"updated_at"`
	Version   uint64            `json:"version"`
}

// Validate checks the service's fields and fills Type from Kind.
func (s *Service) Validate() error {
	if !ValidID(s.ServerID) {
		return Invalid("server_id", "is not a server id")
	}
	d, ok := servicekind.Lookup(s.Kind)
	if !ok {
		return Invalid("kind", "aegir has no driver for service kind %q; use one of %s", Clip(string(s.Kind)), strings.Join(servicekind.Names(""), ", "))
	}
	t := d.Type
	if s.Type != "" && s.Type != t {
		return Invalid("type", "kind %s is a %s service, not %s", s.Kind, t, Clip(string(s.Type)))
	}
	s.Type = t
	if s.Port < 0 || s.Port > 65535 {
		return Invalid("port", "must be between 1 and 65535")
	}
	if len(s.Settings) > MaxServiceSettings {
		return Invalid("settings", "has more than %d entries", MaxServiceSettings)
	}
	for k, v := range s.Settings {
		if err := ValidateName("settings key", k); err != nil {
			return err
		}
		if err := validateText("settings."+k, v, 1024); err != nil {
			return err
		}
	}
	return nil
}

// ServiceKinds lists the known service kinds, sorted.
func ServiceKinds() []ServiceKind { return servicekind.Kinds("") }
