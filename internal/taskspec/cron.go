package taskspec

import "github.com/aegirhq/aegir/internal/domain"

// cron runs a site's cron the platform's way; the cron queue queues it.
var cron = Spec{
	Type:    domain.TaskCron,
	Kind:    domain.TargetSite,
	Summary: "Run a site's cron.",
	From:    installedSite,
	Report:  CronOutput,
	Routine: true,
	Form:    Form{Label: "Run cron", Clients: true, Hidden: true},
}
