package platform

import (
	"fmt"
	"net/netip"
	"regexp"

	"github.com/aegirhq/aegir/internal/domain"
)

// DB is a site's database connection as its settings file holds it.
type DB struct {
	Driver   string `json:"driver"` // mariadb, postgresql, sqlite
	Host     string `json:"host,omitempty"`
	Port     int    `json:"port,omitempty"`
	Socket   string `json:"socket,omitempty"`
	Path     string `json:"path,omitempty"` // sqlite file
	Name     string `json:"name"`
	User     string `json:"user"`
	Password string `json:"password"`
}

// Settings is what a site's settings file is rendered from.
type Settings struct {
	Domain   string
	Aliases  []string
	SiteDir  string
	DB       DB
	HashSalt string // drupal
}

var (
	identRe = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
	hostRe  = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,252})$`)
)

// Validate checks every value before it is placed in a settings file.
func (s *Settings) Validate() error {
	if d, err := domain.NormalizeDomain(s.Domain); err != nil || d != s.Domain {
		return fmt.Errorf("domain %q is not a normalised host name", domain.Clip(s.Domain))
	}
	for _, a := range s.Aliases {
		if d, err := domain.NormalizeDomain(a); err != nil || d != a {
			return fmt.Errorf("alias %q is not a normalised host name", domain.Clip(a))
		}
	}
	if err := domain.ValidatePath("site dir", s.SiteDir, nil); err != nil {
		return err
	}
	db := s.DB
	switch db.Driver {
	case "mariadb", "postgresql", "sqlite":
	default:
		return fmt.Errorf("database driver %q is not mariadb, postgresql or sqlite", domain.Clip(db.Driver))
	}
	if !identRe.MatchString(db.Name) || !identRe.MatchString(db.User) {
		return fmt.Errorf("database name and user must be identifiers like s_<site id>")
	}
	if db.Host != "" {
		if _, err := netip.ParseAddr(db.Host); err != nil && !hostRe.MatchString(db.Host) {
			return fmt.Errorf("database host %q is not an IP address or host name", domain.Clip(db.Host))
		}
	}
	if db.Port < 0 || db.Port > 65535 {
		return fmt.Errorf("database port %d is out of range", db.Port)
	}
	for field, p := range map[string]string{"socket": db.Socket, "path": db.Path} {
		if p != "" {
			if err := domain.ValidatePath("database "+field, p, nil); err != nil {
				return err
			}
		}
	}
	for field, v := range map[string]string{"password": db.Password, "hash salt": s.HashSalt} {
		if err := checkText(field, v); err != nil {
			return err
		}
	}
	return nil
}
