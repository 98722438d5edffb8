package taskspec

import "github.com/aegirhq/aegir/internal/domain"

// enable serves a disabled site again.
var enable = Spec{
	Type:    domain.TaskEnable,
	Kind:    domain.TargetSite,
	From:    siteStates(domain.SiteDisabled),
	Refuse:  "it is not disabled",
	Changes: SiteChanges,
	Form:    Form{Label: "Enable", Clients: true},
}
