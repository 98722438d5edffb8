package taskspec

import "github.com/aegirhq/aegir/internal/domain"

// deleteBackupOfDeletedSite is delete-backup for a backup whose site is
// gone (its final backup, kept so the site can come back, and its older
// ones): there is no site to queue delete-backup on, so it runs on the
// server that holds the archive (the backup's server_id), with the same
// back end. The store queues it through the backup, carrying the backup's
// client, so the client's users see it (store.RequestBackupTask); the
// context builder checks again that the site is gone and that the archive
// lies on that server (scheduler/dispatch). When that server was deleted
// from aegir too, nothing can run it: the store removes the record at once
// and records the task already succeeded on the gone server, its summary
// saying where the archive was (store.RequestDeletedSiteBackupTask).
var deleteBackupOfDeletedSite = Spec{
	Type:    domain.TaskDeleteBackupOfDeletedSite,
	Kind:    domain.TargetServer,
	Summary: "Delete a backup of a deleted site, archive and record, on the server holding it.",
	From:    anyServer,
	Args: []Arg{backupArg("delete-backup-of-deleted-site needs the id of a backup of a deleted site; " +
		"delete backups with `aegir backup delete ID` (DELETE /api/v1/backups/{id})")},
	Backup:  BackupRecord,
	Changes: ChangeRemoveBackups,
	Form:    Form{Label: "Delete this backup", Confirm: true, Clients: true, Hidden: true},
}
