package domain

import (
	"slices"
	"strings"
	"time"
)

// PlatformType names a platform type. What a type does (how its sites are
// installed, cronned, measured and scanned for packages) is its Type in
// internal/provision/platform; the names live here so that validation
// needs no back end (that package's doc says why).
type PlatformType string

const (
	PlatformStatic PlatformType = "static"
	PlatformPHP    PlatformType = "php"
	PlatformDrupal PlatformType = "drupal"
)

// platformTypes are the known names, in the order forms and help list
// them; internal/provision/platform's registry holds one Type for each, and
// its tests fail when the two differ.
var platformTypes = []PlatformType{PlatformStatic, PlatformPHP, PlatformDrupal}

// PlatformTypes returns the known platform type names, in the order forms
// and help list them.
func PlatformTypes() []PlatformType { return slices.Clone(platformTypes) }

// Known reports whether t is one of PlatformTypes.
func (t PlatformType) Known() bool { return slices.Contains(platformTypes, t) }

// PlatformTypeChoices lists the known names for messages: "static, php or drupal".
func PlatformTypeChoices() string {
	names := make([]string, len(platformTypes))
	for i, t := range platformTypes {
		names[i] = string(t)
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

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
	Path        string         `json:"path,omitempty"` // empty in what client users are shown
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
	if !p.Type.Known() {
		return Invalid("type", "unknown platform type %q; use %s", Clip(string(p.Type)), PlatformTypeChoices())
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
