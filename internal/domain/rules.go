package domain

import "fmt"

// CheckSiteTask says whether a task of type typ may be queued on site now,
// and if not, why, in words the operator can act on. The state machine
// decides again when the result is applied; this check is what makes a
// refused request fail fast with a clear error instead of a failed task.
func CheckSiteTask(site *Site, typ TaskType, args map[string]string) error {
	if k, ok := typ.Target(); !ok || k != TargetSite {
		return Invalid("type", "%q is not a site task; use one of %v", Clip(string(typ)), TaskTypes(TargetSite))
	}
	refuse := func(why string) error {
		return fmt.Errorf("cannot %s site %s: %s: %w", typ, site.Domain, why, &TransitionError{Entity: "site", From: string(site.Status), To: string(typ)})
	}
	switch site.Status {
	case SiteDeleted:
		return refuse("it is deleted")
	case SitePending:
		if typ != TaskDelete && typ != TaskInstall {
			return refuse("it is not installed yet; wait for its install task")
		}
	case SiteFailed:
		if typ != TaskDelete && typ != TaskInstall {
			return refuse("its install failed; retry the install or delete it")
		}
	}
	switch typ {
	case TaskInstall:
		if site.Status != SiteFailed && site.Status != SitePending {
			return refuse("it is already installed")
		}
	case TaskEnable:
		if site.Status != SiteDisabled {
			return refuse("it is not disabled")
		}
	case TaskDisable:
		if site.Status != SiteEnabled {
			return refuse("it is not enabled")
		}
	case TaskRestore:
		if !ValidID(args["backup_id"]) {
			return Invalid("args.backup_id", "restore needs the id of one of the site's backups")
		}
	case TaskDeleteBackup:
		if !ValidID(args["backup_id"]) {
			return Invalid("args.backup_id", "delete-backup needs the id of one of the site's backups")
		}
	case TaskVerifyBackup:
		if !ValidID(args["backup_id"]) {
			return Invalid("args.backup_id", "verify-backup needs the id of one of the site's backups")
		}
	case TaskClone:
		d, err := NormalizeDomain(args["domain"])
		if err != nil {
			return Invalid("args.domain", "clone needs the new site's domain: %v", err)
		}
		args["domain"] = d
		if p := args["platform_id"]; p != "" && !ValidID(p) {
			return Invalid("args.platform_id", "is not a platform id")
		}
	case TaskMigrate:
		if args["domain"] == "" && args["platform_id"] == "" {
			return Invalid("args", "migrate needs a new platform_id, a new domain, or both")
		}
		if d := args["domain"]; d != "" {
			n, err := NormalizeDomain(d)
			if err != nil {
				return Invalid("args.domain", "%v", err)
			}
			args["domain"] = n
		}
		if p := args["platform_id"]; p != "" && !ValidID(p) {
			return Invalid("args.platform_id", "is not a platform id")
		}
	}
	return nil
}

// CheckPlatformTask says whether a task of type typ with args may be queued
// on p now.
//
// Deprecated: use taskspec.CheckPlatform (see CheckSiteTask).
func CheckPlatformTask(p *Platform, typ TaskType, args map[string]string) error {
	if k, ok := typ.Target(); !ok || k != TargetPlatform {
		return Invalid("type", "%q is not a platform task; use one of %v", Clip(string(typ)), TaskTypes(TargetPlatform))
	}
	refuse := func(why string) error {
		return fmt.Errorf("cannot %s platform %s: %s: %w", typ, p.Name, why, &TransitionError{Entity: "platform", From: string(p.Status), To: string(typ)})
	}
	if p.Status == PlatformDeleted {
		return refuse("it is deleted")
	}
	switch typ {
	case TaskLock:
		if p.Locked {
			return refuse("it is already locked")
		}
	case TaskUnlock:
		if !p.Locked {
			return refuse("it is not locked")
		}
	case TaskImport:
		if p.Status != PlatformReady {
			return refuse("it has not been verified; verify it first")
		}
		if !ValidID(args["client_id"]) {
			return Invalid("args.client_id", "import needs the id of the client that will own the imported sites")
		}
		if !ValidID(args["db_server_id"]) {
			return Invalid("args.db_server_id", "import needs the id of the database server the imported sites use")
		}
	}
	return nil
}
