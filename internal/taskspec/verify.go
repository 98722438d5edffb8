package taskspec

import "github.com/aegirhq/aegir/internal/domain"

// verify checks a site on its servers and writes its configuration again.
var verify = Spec{
	Type:    domain.TaskVerify,
	Kind:    domain.TargetSite,
	Summary: "Verify a site on its servers and write its configuration again.",
	From:    installedSite,
	Changes: SiteChanges,
	Form:    Form{Label: "Verify", Clients: true},
}
