package taskspec

import "github.com/aegirhq/aegir/internal/domain"

// Statuses a spec's From lists, by kind.

func siteStates(st ...domain.SiteStatus) []string {
	out := make([]string, len(st))
	for i, s := range st {
		out[i] = string(s)
	}
	return out
}

func platformStates(st ...domain.PlatformStatus) []string {
	out := make([]string, len(st))
	for i, s := range st {
		out[i] = string(s)
	}
	return out
}

func serverStates(st ...domain.ServerStatus) []string {
	out := make([]string, len(st))
	for i, s := range st {
		out[i] = string(s)
	}
	return out
}

var (
	// installedSite: the site is installed, enabled or not.
	installedSite = siteStates(domain.SiteEnabled, domain.SiteDisabled)
	// livePlatform: any platform not deleted.
	livePlatform = platformStates(domain.PlatformPending, domain.PlatformReady, domain.PlatformFailed)
	// anyServer: every server status.
	anyServer = serverStates(domain.ServerPending, domain.ServerReady, domain.ServerFailed)
)

// backupArg is the backup_id argument of a task on one of a site's
// backups.
func backupArg(need string) Arg {
	return Arg{Name: "backup_id", Type: ArgID, Of: "backup", Required: true, Need: need,
		Label: "Backup", Help: "One of the site's backups."}
}

// Where a clone or migrate puts the site.
var (
	platformArg = func(help string) Arg {
		return Arg{Name: "platform_id", Type: ArgID, Of: "platform", Label: "Platform", Help: help}
	}
	dbServerArg = func(help string) Arg {
		return Arg{Name: "db_server_id", Type: ArgID, Of: "server", Label: "Database server", Help: help}
	}
)
