package taskspec

import "github.com/aegirhq/aegir/internal/domain"

// backup archives a site's files and database.
var backup = Spec{
	Type:          domain.TaskBackup,
	Kind:          domain.TargetSite,
	Summary:       "Back up a site's files and database.",
	From:          installedSite,
	DumpsDatabase: true,
	Changes:       SiteChanges,
	Form:          Form{Label: "Back up now", Clients: true},
}
