package taskspec

import (
	"slices"

	"github.com/aegirhq/aegir/internal/domain"
)

// Spec declares one task type: everything the front end, the scheduler and
// the back end need to know about it besides the handler that does its
// work (internal/provision). Each task type's Spec is in a file of its own
// in this package and listed in registry.go.
type Spec struct {
	// Type is the task type's name, as stored and as the API takes it.
	Type domain.TaskType
	// Kind is the kind of entity the task operates on.
	Kind domain.TargetKind
	// Summary says in one sentence what the task does, for API
	// documentation and command help.
	Summary string
	// Aliases are other names the API accepts for this type on Kind
	// ("delete" on a platform is delete-platform). See Resolve.
	Aliases []domain.TaskType

	// From lists the target statuses the task may start from. A target in
	// another status is refused, with the kind's reason for that status
	// (a deleted site "is deleted") or else with Refuse.
	From []string
	// Refuse is why a target in a status not in From (and without a reason
	// of its kind) is refused, in words the operator can act on.
	Refuse string
	// Guards are further conditions on the target, checked after From.
	Guards []Guard

	// Args are the arguments the task reads, checked and normalised in
	// order before it is queued. Arguments not listed pass unchecked
	// (bounded by domain.NewTask).
	Args []Arg
	// AnyOf names arguments of which at least one must be given, and
	// AnyOfNeed says so to the operator.
	AnyOf     []string
	AnyOfNeed string

	// Backup says whether the task works on one of the site's backups
	// (args.backup_id): the store checks it belongs to the site, the
	// context builder resolves it into the context and the back end
	// checks what it needs of it.
	Backup BackupUse
	// Destination says whether the task puts the site somewhere else
	// (clone, migrate): the context builder resolves where into
	// Context.Target and the back end checks it.
	Destination Destination
	// DumpsDatabase says the task dumps the site's database. With Vault's
	// database secrets engine the dump runs as a throwaway user leased for
	// the task (provision/vaultcreds.go). Informational: the back end
	// leases wherever it dumps.
	DumpsDatabase bool

	// Changes are the changes to aegir's records the task's result may
	// propose; the scheduler refuses any other (ResultChanges).
	Changes Change
	// ImportsSites says the new sites a result proposes were found on the
	// servers rather than made by aegir (store.ImportSite, not AddSite).
	ImportsSites bool
	// Report is what the task reports besides its status, for the queues
	// to keep (scheduler/queue).
	Report Report
	// Coordinates says the task is a parent that the dispatcher runs
	// itself, with no back end: it queues child tasks (Task.Parent) and
	// waits for them through the store (scheduler/dispatch/batch.go).
	// Its result proposes no change; its children's do.
	Coordinates bool
	// WaitsForRouter says the task removes a site's old place: the
	// dispatcher starts it only once the router in front no longer sends
	// the site there (scheduler/dispatch, Config.Router).
	WaitsForRouter bool
	// Routine says the task is queued by the periodic queues, many times
	// a day, so its record is kept for a shorter time (scheduler
	// retention).
	Routine bool

	// Form is how a transport offers the task to a person.
	Form Form
}

// Target is what the rules see of a task's target.
type Target struct {
	Kind   domain.TargetKind
	Name   string // a site's domain, a platform's or server's name
	Status string
	Locked bool // a platform takes no new sites
}

// SiteTarget is the rules' view of a site.
func SiteTarget(s *domain.Site) Target {
	return Target{Kind: domain.TargetSite, Name: s.Domain, Status: string(s.Status)}
}

// PlatformTarget is the rules' view of a platform.
func PlatformTarget(p *domain.Platform) Target {
	return Target{Kind: domain.TargetPlatform, Name: p.Name, Status: string(p.Status), Locked: p.Locked}
}

// ServerTarget is the rules' view of a server.
func ServerTarget(s *domain.Server) Target {
	return Target{Kind: domain.TargetServer, Name: s.Name, Status: string(s.Status)}
}

// Guard is a condition a target must meet for the task to start.
type Guard struct {
	Holds  func(Target) bool
	Refuse string // why the task is refused when Holds is false
}

// ArgType is what kind of value an argument holds.
type ArgType int

const (
	// ArgText is free text, bounded by domain.NewTask.
	ArgText ArgType = iota
	// ArgID is the id of an aegir record (Arg.Of says which kind).
	ArgID
	// ArgDomain is a domain name, normalised (lower case, no trailing
	// dot) before the task is queued.
	ArgDomain
	// ArgCount is a whole number from 1 to Arg.Max.
	ArgCount
	// ArgBool is "true" or "false" (also 1/0, yes/no, on/off, normalised
	// to true/false).
	ArgBool
)

// Arg declares one argument of a task type.
type Arg struct {
	Name string
	Type ArgType
	// Of is what an ArgID names: "backup", "platform", "client", "server".
	Of string
	// Max bounds an ArgCount.
	Max int
	// Required arguments must be given (and valid); Need says why the
	// task is refused without one.
	Required bool
	Need     string

	// Label and Help are the form field's label and help text.
	Label string
	Help  string
}

// BackupUse says how a task uses a site's backup.
type BackupUse int

const (
	// NoBackup: the task names no backup.
	NoBackup BackupUse = iota
	// BackupRecord: the task needs the backup's record (delete-backup).
	BackupRecord
	// BackupArchive: the task reads the backup's archive, which must be a
	// .tar.zst file (restore, verify-backup).
	BackupArchive
	// BackupArchiveIfGiven: as BackupArchive when args.backup_id is given,
	// else no backup (install: a fresh site, or one brought back from a
	// deleted site's final backup or an imported archive).
	BackupArchiveIfGiven
)

// Needs reports whether a task of this use with args works on a backup.
func (u BackupUse) Needs(args map[string]string) bool {
	return u == BackupRecord || u == BackupArchive || u == BackupArchiveIfGiven && args["backup_id"] != ""
}

// Archive reports whether a task of this use with args reads a backup's
// archive.
func (u BackupUse) Archive(args map[string]string) bool {
	return u == BackupArchive || u == BackupArchiveIfGiven && args["backup_id"] != ""
}

// Destination says where a site task puts the site.
type Destination int

const (
	// NoDestination: the site stays where it is.
	NoDestination Destination = iota
	// NewSite: a copy under a new domain, with a new id (clone).
	NewSite
	// MovedSite: the same site on another platform, database server or
	// domain (migrate).
	MovedSite
	// OldPlace: where a migrated site was (release-old-place), named by
	// the args domain, platform_id and db_server_id; resolved like
	// MovedSite, but a locked platform is no reason to keep leftovers.
	OldPlace
)

// Report is what a task reports besides its status.
type Report int

const (
	// NoReport: nothing besides the status.
	NoReport Report = iota
	// CronOutput: the output of the site's cron run, kept per site.
	CronOutput
	// StatsFigures: the site's figures, kept in its stats series.
	StatsFigures
)

// Form is how a transport (the dashboard, the CLI) offers a task type to a
// person. The arguments' labels and help are on Spec.Args.
type Form struct {
	// Label is the action's name on a button or a summary, "Back up now".
	Label string
	// Help is a sentence shown with the form, "" for none.
	Help string
	// Confirm asks the person to type the target's name (a site's domain,
	// a platform's name) before the task is queued: for what loses data
	// (delete, restore, delete-platform, delete-backup).
	Confirm bool
	// Ask asks a plain yes or no before the task is queued: for what the
	// opposite task undoes (disable, migrate). The dashboard's form asks
	// in the browser, the CLI on a terminal (-yes answers for scripts); the
	// server does not check it.
	Ask bool
	// Follow takes the person to the task's page once it is queued,
	// instead of back to the target's.
	Follow bool
	// Clients says client users may request it on their own sites; other
	// task types are for administrators only.
	Clients bool
	// Hidden task types are not offered as an action (the periodic queues
	// queue them).
	Hidden bool
}

// Arg returns the spec's argument named name, or nil.
func (s *Spec) Arg(name string) *Arg {
	for i := range s.Args {
		if s.Args[i].Name == name {
			return &s.Args[i]
		}
	}
	return nil
}

// ArgNames returns the names of the spec's arguments in order: the form
// fields a transport reads.
func (s *Spec) ArgNames() []string {
	out := make([]string, len(s.Args))
	for i, a := range s.Args {
		out[i] = a.Name
	}
	return out
}

// StartsFrom reports whether a target in status may start the task
// (status only; see Check for the whole rule).
func (s *Spec) StartsFrom(status string) bool { return slices.Contains(s.From, status) }
