package taskspec

import "github.com/aegirhq/aegir/internal/domain"

// certificate issues or renews a site's certificate and serves it (the
// certificates queue's task; verify also issues a missing one). A failure
// keeps the site on its current certificate, or on HTTP.
var certificate = Spec{
	Type:    domain.TaskCertificate,
	Kind:    domain.TargetSite,
	Summary: "Issue or renew a site's HTTPS certificate.",
	From:    siteStates(domain.SiteEnabled),
	Changes: SiteChanges,
	Form:    Form{Label: "Renew certificate", Clients: true},
}
