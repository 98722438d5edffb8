package taskspec

import "github.com/aegirhq/aegir/internal/domain"

// releaseOldPlace removes what a migrate left at the site's old place (its
// web config, directory, database and Unix user there) once the router in
// front has taken the site off the old web server. A migrate's result
// queues it when a router is in front (provision.EnvInfo.ReleaseLater), so
// the old place keeps answering the requests the router still sends it.
var releaseOldPlace = Spec{
	Type:    domain.TaskReleaseOldPlace,
	Kind:    domain.TargetSite,
	Summary: "Remove a migrated site's old place once the router no longer sends the site there.",
	From:    installedSite,
	Args: []Arg{
		{Name: "domain", Type: ArgDomain, Required: true, Need: "release-old-place needs the site's old domain", Label: "Old domain"},
		{Name: "platform_id", Type: ArgID, Of: "platform", Required: true, Need: "release-old-place needs the site's old platform", Label: "Old platform"},
		{Name: "db_server_id", Type: ArgID, Of: "server", Required: true, Need: "release-old-place needs the site's old database server", Label: "Old database server"},
	},
	Destination:    OldPlace,
	WaitsForRouter: true,
	Form:           Form{Label: "Remove the old place", Hidden: true},
}
