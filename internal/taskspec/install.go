package taskspec

import "github.com/aegirhq/aegir/internal/domain"

// install puts a new site on its servers: files, database, web server
// configuration. A failed install can be retried.
var install = Spec{
	Type:    domain.TaskInstall,
	Kind:    domain.TargetSite,
	Summary: "Install a new site on its servers: files, database, web server configuration.",
	From:    siteStates(domain.SitePending, domain.SiteFailed),
	Refuse:  "it is already installed",
	Changes: SiteChanges,
	Form:    Form{Label: "Retry install", Follow: true, Clients: true},
}
