package provision

import "github.com/aegirhq/aegir/internal/domain"

// Result is the back end's one JSON answer for a task: how it ended and the
// state changes for the front end to apply. The back end never writes the
// store itself.
type Result struct {
	Version int    `json:"version"`
	TaskID  string `json:"task_id"`
	// Status is "succeeded" or "failed".
	Status domain.TaskStatus `json:"status"`
	// ErrorCode is a stable machine-readable code on failure
	// ("db_unreachable", "web_publish_failed", "platform_missing" ...; the
	// list is in failure.go).
	ErrorCode string `json:"error_code,omitempty"`
	// Explanation says what went wrong, in one paragraph an operator
	// understands; FixHint says what to do about it.
	Explanation string `json:"explanation,omitempty"`
	FixHint     string `json:"fix_hint,omitempty"`
	// Summary is one line on success ("installed example.com on p1").
	Summary string `json:"summary,omitempty"`
	// Changes are the state changes to apply with the task's completion.
	Changes Changes `json:"changes"`
	// Report is what a periodic task (cron, stats) measured or printed,
	// for the queues to keep (queuetasks.go); nil for other tasks.
	Report *QueueReport `json:"report,omitempty"`
	// Janitor counts the leftovers of dead tasks removed before this task
	// ran (janitor.go); nil when there were none.
	Janitor *JanitorReport `json:"janitor,omitempty"`
}

// Changes are state changes proposed by the back end. The front end applies
// them check-and-set through the entities' state machines.
type Changes struct {
	SiteStatus     domain.SiteStatus     `json:"site_status,omitempty"`
	RemoveSite     bool                  `json:"remove_site,omitempty"`
	Move           *SiteMove             `json:"move,omitempty"`
	NewSites       []NewSite             `json:"new_sites,omitempty"` // clone, import
	Backups        []NewBackup           `json:"backups,omitempty"`
	RemoveBackups  []string              `json:"remove_backups,omitempty"`
	PlatformStatus domain.PlatformStatus `json:"platform_status,omitempty"`
	PlatformLocked *bool                 `json:"platform_locked,omitempty"`
	PlatformRel    string                `json:"platform_release,omitempty"`
	RemovePlatform bool                  `json:"remove_platform,omitempty"`
	ServerStatus   domain.ServerStatus   `json:"server_status,omitempty"`
	Packages       []FoundPackage        `json:"packages,omitempty"`
	// SiteUser is the site's Unix user on its web server, as install,
	// verify, restore or migrate made or found it (the dispatcher may
	// keep it on domain.Site.UnixUser); nil where sites have none.
	SiteUser *domain.UnixUser `json:"site_user,omitempty"`
	// Certificate is the state of the site's certificate after the task
	// issued, renewed or failed to (certificates.go); nil when the task
	// did not touch it.
	Certificate *domain.Certificate `json:"certificate,omitempty"`
	// Release is a migrated site's old place, left for release-old-place
	// (queued with the result) when a router is in front.
	Release *OldPlace `json:"release,omitempty"`
	// ReplacedFiles says a restore left the site directory it replaced
	// at P/sites/.aegir-replaced-<task> for remove-replaced-files
	// (queued with the result, the task's id as its task_id).
	ReplacedFiles bool `json:"replaced_files,omitempty"`
}

// OldPlace is where a migrated site was: its old domain, platform and
// database server.
type OldPlace struct {
	Domain     string `json:"domain"`
	PlatformID string `json:"platform_id"`
	DBServerID string `json:"db_server_id"`
}

// SiteMove is a migrate's outcome: where the site lives now.
type SiteMove struct {
	Domain     string   `json:"domain"`
	Aliases    []string `json:"aliases,omitempty"`
	PlatformID string   `json:"platform_id"`
	DBServerID string   `json:"db_server_id"`
}

// NewSite is a site a task created on its servers (clone) or found (import).
type NewSite struct {
	ID              string            `json:"id,omitempty"`
	Domain          string            `json:"domain"`
	Aliases         []string          `json:"aliases,omitempty"`
	RedirectAliases bool              `json:"redirect_aliases,omitempty"`
	PlatformID      string            `json:"platform_id"`
	DBServerID      string            `json:"db_server_id"`
	ClientID        string            `json:"client_id,omitempty"`
	Status          domain.SiteStatus `json:"status"`
	// UnixUser is the clone's own Unix user, when sites have them.
	UnixUser *domain.UnixUser `json:"unix_user,omitempty"`
	// PHP is the clone's php-fpm pool limits: the source's.
	PHP *domain.SitePHP `json:"php,omitempty"`
}

// NewBackup is an archive a task wrote.
type NewBackup struct {
	Path     string `json:"path"`
	Size     int64  `json:"size"`
	SHA256   string `json:"sha256"`
	ServerID string `json:"server_id"`
	Reason   string `json:"reason"`
	// ExternalLinks counts the site's symlinks whose targets leave the
	// site directory: archived and restored as links (the task log names
	// them; the archive's manifest lists them).
	ExternalLinks int `json:"external_links,omitempty"`
}

// FoundPackage is a package a verify task found.
type FoundPackage struct {
	Name          string `json:"name"`
	Type          string `json:"type"`
	Title         string `json:"title,omitempty"`
	Release       string `json:"release"`
	Path          string `json:"path,omitempty"`
	Enabled       bool   `json:"enabled,omitempty"`
	SchemaVersion string `json:"schema_version,omitempty"`
	OnSite        bool   `json:"on_site,omitempty"` // found in the site's own dir rather than the platform
}
