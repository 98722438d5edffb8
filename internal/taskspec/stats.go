package taskspec

import "github.com/aegirhq/aegir/internal/domain"

// stats measures a site (platform figures, disk, database); the stats
// queue queues it.
var stats = Spec{
	Type:    domain.TaskStats,
	Kind:    domain.TargetSite,
	Summary: "Measure a site: platform figures, disk, database.",
	From:    installedSite,
	Report:  StatsFigures,
	Routine: true,
	Form:    Form{Label: "Measure", Clients: true, Hidden: true},
}
