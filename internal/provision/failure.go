package provision

import (
	"errors"
	"fmt"
)

// Stable error codes of a failed Result. The front end and operators'
// scripts match on these; the words around them may change.
const (
	CodeContextInvalid     = "context_invalid"     // the context document is malformed or unsafe
	CodeVersionMismatch    = "version_mismatch"    // the context or result is of another schema version: front end and back end are different releases
	CodeSecretsUnavailable = "secrets_unavailable" // the secrets backend cannot be opened or read
	CodeDriverMissing      = "driver_missing"      // no driver for a service kind in this build
	CodeDriverFailed       = "driver_failed"       // a driver could not be built from its settings
	CodePlatformMissing    = "platform_missing"    // the platform directory does not exist
	CodePlatformType       = "platform_type"       // the directory holds another platform type, or none
	CodePlatformLocked     = "platform_locked"     // a locked platform takes no new sites
	CodeSiteExists         = "site_exists"         // the site directory is already there
	CodeSiteMissing        = "site_missing"        // the site directory is not there
	CodeDBUnreachable      = "db_unreachable"      // the database server did not answer
	CodeDBAuthFailed       = "db_auth_failed"      // the database server refused the admin credentials
	CodeDBFailed           = "db_failed"           // the database server refused an operation
	CodeWebUnavailable     = "web_unavailable"     // the web server check failed
	CodeWebPublishFailed   = "web_publish_failed"  // the web server refused the site's config
	CodeSiteNotAnswering   = "site_not_answering"  // the site did not answer as expected
	CodeInstallHookFailed  = "install_hook_failed" // the platform's install command failed
	CodeHookFailed         = "hook_failed"         // a platform hook (post-restore, post-clone, post-migrate, verify, pre-delete) failed
	CodeSiteWrongAnswer    = "site_wrong_answer"   // the site answered, without the text the platform's expect check wants
	CodeDrushMissing       = "drush_not_found"     // a drupal task needs drush
	CodePHPMissing         = "php_not_found"       // a drupal task without drush needs php for aegir's installer
	CodeFilesFailed        = "files_failed"        // reading or writing the site's files failed
	CodeBackupFailed       = "backup_failed"       // writing the archive failed
	CodeBackupCorrupt      = "backup_corrupt"      // the archive to restore does not verify
	CodeBackupMissing      = "backup_missing"      // the archive a backup record names is not on disk
	CodeSitesRemain        = "sites_remain"        // a platform still has sites
	CodeNotSupported       = "not_supported"       // the task is not implemented yet
	CodeCancelled          = "cancelled"           // the task was cancelled or timed out
	CodeInternal           = "internal_error"      // a bug: the back end panicked
	CodeServerCheckFailed  = "server_check_failed" // one of a server's services failed its check
	CodeInvalidInput       = "invalid_input"       // task arguments are wrong
	CodeNothingToDo        = "nothing_to_do"       // e.g. migrate to where the site already is
	CodeRollbackIncomplete = "rollback_incomplete" // a step failed and undoing it failed too
	CodeSiteUserFailed     = "site_user_failed"    // the site's Unix user cannot be made, found or removed
	CodeCertificateFailed  = "certificate_failed"  // no certificate could be issued or renewed (the site keeps its current one, or HTTP)
)

// phpMissingHint is the fix for CodePHPMissing.
const phpMissingHint = "Install the PHP command-line interpreter on the server (Debian: apt-get install php-cli php-mysql php-pgsql php-sqlite3) so that php is on the PATH of the user running aegir, or install drush in the platform (composer require drush/drush), then retry."

// Failure is a task failure an operator can act on: a stable code, one
// paragraph saying what went wrong, and what to do about it. Err is the
// underlying error, kept for logs.
type Failure struct {
	Code        string
	Explanation string
	FixHint     string
	Err         error
}

func (f *Failure) Error() string {
	if f.Err != nil {
		return f.Code + ": " + f.Explanation + ": " + f.Err.Error()
	}
	return f.Code + ": " + f.Explanation
}

func (f *Failure) Unwrap() error { return f.Err }

// failf returns a Failure whose explanation is the formatted text followed
// by the underlying error's message, when there is one.
func failf(code, hint string, err error, format string, args ...any) *Failure {
	exp := fmt.Sprintf(format, args...)
	if err != nil {
		exp += ": " + err.Error()
	}
	return &Failure{Code: code, Explanation: exp, FixHint: hint, Err: err}
}

// asFailure returns err as a *Failure, wrapping an unclassified error as
// a failure of code with the given explanation prefix.
func asFailure(err error, code, hint, what string) *Failure {
	var f *Failure
	if errors.As(err, &f) {
		return f
	}
	return failf(code, hint, err, "%s", what)
}
