package taskspec

import "fmt"

// Change is a set of kinds of change to aegir's records that a task's
// result may propose (provision.Changes). A spec lists the ones its task
// may make; the scheduler refuses a result proposing any other, so a
// confused back end cannot touch another entity.
type Change uint16

// The kinds of change a result may propose.
const (
	ChangeSiteStatus      Change = 1 << iota // the target site's status
	ChangeRemoveSite                         // the target site is gone
	ChangeMoveSite                           // the target site lives elsewhere now
	ChangeBackups                            // new backups of the target site
	ChangeRemoveBackups                      // backups of the target site (a server task: the one of args.backup_id) are gone
	ChangeNewSites                           // new sites (a clone, imported sites)
	ChangePlatformStatus                     // the target platform's status
	ChangePlatformLock                       // the target platform's locked flag
	ChangePlatformRelease                    // the target platform's release
	ChangeRemovePlatform                     // the target platform is gone
	ChangeServerStatus                       // the target server's status
	ChangeSiteUser                           // the target site's Unix user on its web server
	ChangeCertificate                        // the target site's certificate state
	ChangeReleaseOldPlace                    // queue release-old-place for the target site's old place
	ChangeReplacedFiles                      // queue remove-replaced-files for the site files the task replaced
)

// SiteChanges are every change a site task can make.
const SiteChanges = ChangeSiteStatus | ChangeRemoveSite | ChangeMoveSite | ChangeBackups | ChangeRemoveBackups | ChangeNewSites | ChangeSiteUser | ChangeCertificate

// PlatformChanges are every change a platform task can make.
const PlatformChanges = ChangeNewSites | ChangePlatformStatus | ChangePlatformLock | ChangePlatformRelease | ChangeRemovePlatform

// ServerChanges are every change a server task can make: its status, and
// the backups of deleted sites whose archives it holds
// (delete-backup-of-deleted-site).
const ServerChanges = ChangeServerStatus | ChangeRemoveBackups

// changeGroups say, in the order they are checked, what a refused change
// would have done.
var changeGroups = []struct {
	c    Change
	what string
}{
	{ChangeSiteStatus | ChangeMoveSite | ChangeRemoveSite | ChangeBackups | ChangeSiteUser | ChangeCertificate | ChangeReleaseOldPlace | ChangeReplacedFiles, "change a site"},
	{ChangeRemoveBackups, "remove backups"},
	{ChangeNewSites, "create sites"},
	{ChangePlatformStatus | ChangePlatformLock | ChangePlatformRelease | ChangeRemovePlatform, "change a platform"},
	{ChangeServerStatus, "change a server"},
}

// Allows reports whether every change in c is one the spec's task may
// make.
func (s *Spec) Allows(c Change) bool { return c&^s.Changes == 0 }

// CheckChanges returns an error naming what the task cannot do when
// proposed holds a change its spec does not allow, else nil.
func (s *Spec) CheckChanges(proposed Change) error {
	for _, g := range changeGroups {
		if proposed&g.c&^s.Changes != 0 {
			return fmt.Errorf("a %s task cannot %s", s.Type, g.what)
		}
	}
	return nil
}
