package taskspec

import "github.com/aegirhq/aegir/internal/domain"

// deleteBackup removes one backup archive and its record together; the
// backup retention queue and an operator's "delete this backup" queue it.
var deleteBackup = Spec{
	Type:    domain.TaskDeleteBackup,
	Kind:    domain.TargetSite,
	Summary: "Delete one of a site's backups, archive and record.",
	From:    installedSite,
	Args:    []Arg{backupArg("delete-backup needs the id of one of the site's backups")},
	Backup:  BackupRecord,
	Changes: ChangeRemoveBackups,
	Form:    Form{Label: "Delete this backup", Confirm: true, Clients: true},
}
