package domain

import (
	"slices"
	"time"

	"github.com/aegirhq/aegir/internal/servicekind"
)

// SiteStatus is a site's state.
type SiteStatus string

const (
	SitePending  SiteStatus = "pending"  // created, install queued or running
	SiteEnabled  SiteStatus = "enabled"  // installed and served
	SiteDisabled SiteStatus = "disabled" // installed, answers 503
	SiteFailed   SiteStatus = "failed"   // install failed; retry or delete
	SiteDeleted  SiteStatus = "deleted"  // removed from its servers
)

var siteMachine = machine[SiteStatus]{entity: "site", next: map[SiteStatus][]SiteStatus{
	SitePending:  {SiteEnabled, SiteFailed, SiteDeleted},
	SiteEnabled:  {SiteDisabled, SiteDeleted, SiteFailed},
	SiteDisabled: {SiteEnabled, SiteDeleted},
	SiteFailed:   {SitePending, SiteEnabled, SiteDeleted},
	SiteDeleted:  {},
}}

// Site is one hosted site: a domain, its aliases, the platform that serves
// it, the database server that holds its data, and the client that owns it.
type Site struct {
	ID              string     `json:"id"`
	Domain          string     `json:"domain"`
	Aliases         []string   `json:"aliases"`
	RedirectAliases bool       `json:"redirect_aliases"` // aliases answer 301 to Domain
	PlatformID      string     `json:"platform_id"`
	DBServerID      string     `json:"db_server_id"`
	ClientID        string     `json:"client_id"`
	Status          SiteStatus `json:"status"`
	Profile         string     `json:"profile,omitempty"` // install profile (drupal)
	// PHP is the site's own php-fpm pool limits, where its web service
	// writes a pool per site; nil keeps the service's.
	PHP *SitePHP `json:"php,omitempty"`
	// HTTPS is whether the site answers over HTTPS: off (default), on
	// (HTTP and HTTPS) or redirect (HTTP answers 301 to HTTPS). HSTS adds
	// a Strict-Transport-Security header to its HTTPS answers.
	HTTPS HTTPSMode `json:"https,omitempty"`
	HSTS  bool      `json:"hsts,omitempty"`
	// Certificate is the state of the site's certificate as the last task
	// that issued, renewed or checked it reported; nil before any.
	Certificate *Certificate `json:"certificate,omitempty"`
	// UnixUser is the site's own Unix user on its web server, as the last
	// task that made or checked it reported; nil where sites have none
	// (builtin web server, back end not root).
	UnixUser  *UnixUser `json:"unix_user,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Version   uint64    `json:"version"`
}

// Normalize validates the site and rewrites Domain and Aliases to their
// canonical form (lowercase, punycode, sorted, no duplicates). A site's
// aliases must not repeat its own domain.
func (s *Site) Normalize() error {
	d, err := NormalizeDomain(s.Domain)
	if err != nil {
		return err
	}
	s.Domain = d
	if len(s.Aliases) > MaxAliases {
		return Invalid("aliases", "a site can have at most %d aliases", MaxAliases)
	}
	aliases := make([]string, 0, len(s.Aliases))
	for _, a := range s.Aliases {
		n, err := NormalizeDomain(a)
		if err != nil {
			return Invalid("aliases", "%v", err.(*ValidationError).Reason)
		}
		if n == d {
			return Invalid("aliases", "%q is the site's own domain", n)
		}
		aliases = append(aliases, n)
	}
	slices.Sort(aliases)
	for i := 1; i < len(aliases); i++ {
		if aliases[i] == aliases[i-1] {
			return Invalid("aliases", "%q is listed twice", aliases[i])
		}
	}
	s.Aliases = aliases
	if !ValidID(s.PlatformID) {
		return Invalid("platform_id", "is not a platform id")
	}
	if !ValidID(s.DBServerID) {
		return Invalid("db_server_id", "is not a server id")
	}
	if !ValidID(s.ClientID) {
		return Invalid("client_id", "is not a client id")
	}
	if s.Profile != "" {
		if err := ValidateName("profile", s.Profile); err != nil {
			return err
		}
	}
	if s.PHP != nil {
		if err := s.PHP.Validate(); err != nil {
			return err
		}
		if *s.PHP == (SitePHP{}) {
			s.PHP = nil
		}
	}
	if err := s.HTTPS.Validate(); err != nil {
		return err
	}
	if s.HTTPS == HTTPSOff {
		s.HTTPS = ""
	}
	if s.HSTS && s.HTTPS == "" {
		return Invalid("hsts", "needs https on or redirect: HSTS is a header of HTTPS answers")
	}
	if s.Status != "" && !siteMachine.known(s.Status) {
		return Invalid("status", "unknown status %q", s.Status)
	}
	return nil
}

// Names returns the site's domain followed by its aliases: every host name
// the site answers on, each unique across all sites.
func (s *Site) Names() []string {
	return append([]string{s.Domain}, s.Aliases...)
}

// Transition moves the site to status to, or returns a *TransitionError.
func (s *Site) Transition(to SiteStatus) error {
	if err := siteMachine.check(s.Status, to); err != nil {
		return err
	}
	s.Status = to
	return nil
}

// CanTransition reports whether the site may move to status to.
func (s *Site) CanTransition(to SiteStatus) bool { return siteMachine.check(s.Status, to) == nil }

// UnixUser is a site's own Unix user and group (of the same name) on its
// web server. A migrate to another server maps the files to the new
// server's user by name; UID and GID say what they were.
type UnixUser struct {
	Name string `json:"name"`
	UID  int    `json:"uid"`
	GID  int    `json:"gid"`
}

// SitePHP is a PHP site's own php-fpm pool limits, set per site by an
// operator. Each overrides the web service's setting of the same meaning
// (php_memory_limit, php_upload_max, php_max_children); zero keeps the
// service's. Bounds are servicekind's, the same as the service's. Sites
// on web services without per-site pools (php_pool_dir unset, or no site
// users) keep them on record until they get a pool.
type SitePHP struct {
	MemoryLimit int `json:"memory_limit,omitempty"` // memory_limit, MiB (16 to 4096)
	UploadMax   int `json:"upload_max,omitempty"`   // upload_max_filesize and post_max_size, MiB (1 to 2048)
	MaxChildren int `json:"max_children,omitempty"` // pm.max_children (1 to 64)
}

// Validate checks each limit that is set against its bounds; the error
// names the field (php.memory_limit, php.upload_max, php.max_children).
func (p *SitePHP) Validate() error {
	for _, b := range []struct {
		field         string
		v, min, max   int
		unit, setting string
	}{
		{"php.memory_limit", p.MemoryLimit, servicekind.PHPMemoryMinMB, servicekind.PHPMemoryMaxMB, " MiB", "php_memory_limit"},
		{"php.upload_max", p.UploadMax, servicekind.PHPUploadMinMB, servicekind.PHPUploadMaxMB, " MiB", "php_upload_max"},
		{"php.max_children", p.MaxChildren, servicekind.PHPChildrenMin, servicekind.PHPChildrenMax, "", "php_max_children"},
	} {
		if b.v == 0 {
			continue
		}
		if b.v < b.min || b.v > b.max {
			return Invalid(b.field, "%d is out of bounds: it must be from %d to %d%s (or 0 for the web service's %s)", b.v, b.min, b.max, b.unit, b.setting)
		}
	}
	return nil
}
