package taskspec

import "github.com/aegirhq/aegir/internal/domain"

// verifyBackup restores a backup into a throwaway site, checks it and
// removes it; the backup verification queue queues it.
var verifyBackup = Spec{
	Type:    domain.TaskVerifyBackup,
	Kind:    domain.TargetSite,
	Summary: "Check a backup by restoring it into a throwaway site.",
	From:    installedSite,
	Args:    []Arg{backupArg("verify-backup needs the id of one of the site's backups")},
	Backup:  BackupArchive,
	Form:    Form{Label: "Check this backup", Clients: true, Hidden: true},
}
