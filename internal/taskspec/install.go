package taskspec

import "github.com/aegirhq/aegir/internal/domain"

// install puts a new site on its servers: files, database, web server
// configuration. With backup_id it puts the site back from that backup
// instead (a deleted site's final backup, or an imported archive): files
// and database from the archive, a new database user and password. A
// failed install can be retried.
var install = Spec{
	Type:    domain.TaskInstall,
	Kind:    domain.TargetSite,
	Summary: "Install a new site on its servers: files, database, web server configuration.",
	From:    siteStates(domain.SitePending, domain.SiteFailed),
	Refuse:  "it is already installed",
	Args: []Arg{{Name: "backup_id", Type: ArgID, Of: "backup", Label: "From backup",
		Help: "Install the site's files and database from this backup; a fresh install if empty."}},
	Backup:  BackupArchiveIfGiven,
	Changes: SiteChanges,
	Form:    Form{Label: "Retry install", Follow: true, Clients: true},
}
