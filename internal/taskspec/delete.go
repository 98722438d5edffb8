package taskspec

import "github.com/aegirhq/aegir/internal/domain"

// deleteSite removes a site, its files and its database from its servers,
// after taking a backup. A site whose install never succeeded can be
// deleted too.
var deleteSite = Spec{
	Type:          domain.TaskDelete,
	Kind:          domain.TargetSite,
	Summary:       "Delete a site, its files and its database from its servers, after backing it up.",
	From:          siteStates(domain.SitePending, domain.SiteFailed, domain.SiteEnabled, domain.SiteDisabled),
	DumpsDatabase: true,
	Changes:       SiteChanges,
	Form: Form{Label: "Delete site", Confirm: true, Clients: true,
		Help: "Removes the site, its files and its database from its servers. A backup is taken first."},
}
