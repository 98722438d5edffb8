package taskspec

import "github.com/aegirhq/aegir/internal/domain"

// MaxBatchParallel bounds how many children of a batch run at once.
const MaxBatchParallel = 8

// migrateSites moves every installed site of a platform (or those named)
// to another platform: a parent task the dispatcher runs itself, queuing a
// migrate child task per site, at most parallel at once. Each child rolls
// its own site back when it fails; the batch stops queuing at the first
// failure unless continue is true.
var migrateSites = Spec{
	Type:    domain.TaskMigrateSites,
	Kind:    domain.TargetPlatform,
	Summary: "Migrate every site of a platform (or those named) to another platform, one migrate task per site.",
	Aliases: []domain.TaskType{domain.TaskMigrate},
	From:    platformStates(domain.PlatformReady),
	Refuse:  "it has not been verified; verify it first",
	Args: []Arg{
		{Name: "to_platform_id", Type: ArgID, Of: "platform", Required: true,
			Need: "migrate-sites needs the platform to move the sites to", Label: "To platform", Help: "The platform the sites move to (same type)."},
		{Name: "sites", Type: ArgText, Label: "Sites", Help: "Domains to migrate, separated by commas; every installed site of the platform if empty."},
		{Name: "parallel", Type: ArgCount, Max: MaxBatchParallel, Label: "At once", Help: "How many sites migrate at the same time (1 if empty)."},
		{Name: "continue", Type: ArgBool, Label: "Continue after a failure", Help: "true: migrate the other sites when one fails; false or empty: stop at the first failure."},
	},
	Coordinates: true,
	Form: Form{Label: "Migrate sites to another platform", Confirm: true, Follow: true,
		Help: "Each site moves in its own migrate task and is put back as it was if that task fails."},
}
