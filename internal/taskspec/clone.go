package taskspec

import "github.com/aegirhq/aegir/internal/domain"

// clone copies a site to a new site under a new domain, on the same or
// another platform and database server.
var clone = Spec{
	Type:    domain.TaskClone,
	Kind:    domain.TargetSite,
	Summary: "Copy a site to a new site under a new domain.",
	From:    installedSite,
	Args: []Arg{
		{Name: "domain", Type: ArgDomain, Required: true, Need: "clone needs the new site's domain",
			Label: "New domain", Help: "The copy's domain, copy.example.com."},
		platformArg("The copy's platform; the same platform if empty."),
		dbServerArg("The copy's database server; the same server if empty."),
	},
	Destination:   NewSite,
	DumpsDatabase: true,
	Changes:       SiteChanges,
	Form:          Form{Label: "Clone to a new domain", Follow: true, Clients: true},
}
