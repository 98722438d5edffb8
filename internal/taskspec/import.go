package taskspec

import "github.com/aegirhq/aegir/internal/domain"

// importSites finds the sites already on a verified platform and records
// them, owned by a client and using a database server.
var importSites = Spec{
	Type:    domain.TaskImport,
	Kind:    domain.TargetPlatform,
	Summary: "Import the sites a platform already has.",
	From:    platformStates(domain.PlatformReady),
	Refuse:  "it has not been verified; verify it first",
	Args: []Arg{
		{Name: "client_id", Type: ArgID, Of: "client", Required: true,
			Need: "import needs the id of the client that will own the imported sites", Label: "Owner"},
		{Name: "db_server_id", Type: ArgID, Of: "server", Required: true,
			Need: "import needs the id of the database server the imported sites use", Label: "Database server"},
	},
	Changes:      ChangeNewSites,
	ImportsSites: true,
	Form:         Form{Label: "Import existing sites"},
}
