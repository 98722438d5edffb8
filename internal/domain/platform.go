package domain

import "time"

// PlatformType decides how sites on a platform are installed, cronned,
// measured and scanned for packages.
type PlatformType string

const (
	PlatformStatic PlatformType = "static"
	PlatformPHP    PlatformType = "php"
	PlatformDrupal PlatformType = "drupal"
)

// PlatformStatus is a platform's state.
type PlatformStatus string

const (
	PlatformPending PlatformStatus = "pending" // created, verify-platform queued
	PlatformReady   PlatformStatus = "ready"
	PlatformFailed  PlatformStatus = "failed"
	PlatformDeleted PlatformStatus = "deleted"
)

var platformMachine = machine[PlatformStatus]{entity: "platform", next: map[PlatformStatus][]PlatformStatus{
	PlatformPending: {PlatformReady, PlatformFailed, PlatformDeleted},
	PlatformReady:   {PlatformFailed, PlatformPending, PlatformDeleted},
	PlatformFailed:  {PlatformReady, PlatformPending, PlatformDeleted},
	PlatformDeleted: {},
}}

// Platform is a codebase at a path on a web server. Platforms are immutable
// releases: upgrading a site means migrating it to a newer platform.
type Platform struct {
	ID          string         `json:"id"`
	Name        string         `json:"name"`
	Path        string         `json:"path"`
	WebServerID string         `json:"web_server_id"`
	Type        PlatformType   `json:"type"`
	Status      PlatformStatus `json:"status"`
	Locked      bool           `json:"locked"`
	Release     string         `json:"release,omitempty"` // e.g. "drupal 10.2.3", set by verify-platform
	CreatedAt   time.Time      `json:"created_at"`
	UpdatedAt   time.Time      `json:"updated_at"`
	Version     uint64         `json:"version"`
}

// Validate checks the platform's fields. roots, when not empty, are the
// directories platforms may live in.
func (p *Platform) Validate(roots []string) error {
	if err := ValidateName("name", p.Name); err != nil {
		return err
	}
	if err := ValidatePath("path", p.Path, roots); err != nil {
		return err
	}
	if !ValidID(p.WebServerID) {
		return Invalid("web_server_id", "is not a server id")
	}
	switch p.Type {
	case PlatformStatic, PlatformPHP, PlatformDrupal:
	default:
		return Invalid("type", "unknown platform type %q; use static, php or drupal", Clip(string(p.Type)))
	}
	if p.Status != "" && !platformMachine.known(p.Status) {
		return Invalid("status", "unknown status %q", p.Status)
	}
	return nil
}

// Transition moves the platform to status to, or returns a *TransitionError.
func (p *Platform) Transition(to PlatformStatus) error {
	if err := platformMachine.check(p.Status, to); err != nil {
		return err
	}
	p.Status = to
	return nil
}
