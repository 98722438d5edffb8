package taskspec

import "github.com/aegirhq/aegir/internal/domain"

// disable makes a site answer 503 until it is enabled again.
var disable = Spec{
	Type:    domain.TaskDisable,
	Kind:    domain.TargetSite,
	Summary: "Disable a site: visitors get a 503 page until it is enabled again.",
	From:    siteStates(domain.SiteEnabled),
	Refuse:  "it is not enabled",
	Changes: SiteChanges,
	Form: Form{Label: "Disable site", Ask: true, Clients: true,
		Help: "Visitors get a 503 page until you enable it again."},
}
