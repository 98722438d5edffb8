package taskspec

import "github.com/aegirhq/aegir/internal/domain"

// enable serves a disabled site again.
var enable = Spec{
	Type:    domain.TaskEnable,
	Kind:    domain.TargetSite,
	Summary: "Enable a disabled site.",
	From:    siteStates(domain.SiteDisabled),
	Refuse:  "it is not disabled",
	Changes: SiteChanges,
	Form:    Form{Label: "Enable", Clients: true},
}
