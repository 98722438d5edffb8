package taskspec

import "github.com/aegirhq/aegir/internal/domain"

// restore replaces a site's files and database with one of its backups,
// after taking a backup of the current state.
var restore = Spec{
	Type:          domain.TaskRestore,
	Kind:          domain.TargetSite,
	Summary:       "Restore a site from one of its backups, after backing up its current state.",
	From:          installedSite,
	Args:          []Arg{backupArg("restore needs the id of one of the site's backups")},
	Backup:        BackupArchive,
	DumpsDatabase: true,
	Changes:       SiteChanges | ChangeReplacedFiles,
	Form: Form{Label: "Restore this backup", Confirm: true, Follow: true, Clients: true,
		Help: "Replaces the site's files and database with this backup (a backup of the current state is taken first)."},
}
