package taskspec

import "github.com/aegirhq/aegir/internal/domain"

// rotateCredentials gives a site's database user a new password and
// writes the site's settings again.
var rotateCredentials = Spec{
	Type:    domain.TaskRotateCredentials,
	Kind:    domain.TargetSite,
	Summary: "Give a site's database user a new password.",
	From:    installedSite,
	Changes: SiteChanges,
	Form:    Form{Label: "Rotate DB credentials", Clients: true},
}
