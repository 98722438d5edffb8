package taskspec

import "github.com/aegirhq/aegir/internal/domain"

// migrate moves a site to another platform, database server or domain,
// after taking a backup.
var migrate = Spec{
	Type:    domain.TaskMigrate,
	Kind:    domain.TargetSite,
	Summary: "Move a site to another platform, database server or domain.",
	From:    installedSite,
	Args: []Arg{
		{Name: "domain", Type: ArgDomain, Label: "New domain", Help: "The site's new domain; kept if empty."},
		platformArg("The platform to move to; kept if empty."),
		dbServerArg("The database server to move to; kept if empty."),
	},
	AnyOf:         []string{"domain", "platform_id"},
	AnyOfNeed:     "migrate needs a new platform_id, a new domain, or both",
	Destination:   MovedSite,
	DumpsDatabase: true,
	Changes:       SiteChanges | ChangeReleaseOldPlace,
	Form:          Form{Label: "Migrate (new platform, database server or domain)", Ask: true, Follow: true, Clients: true},
}
