package provision

import (
	"fmt"
	"strings"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision/platform"
	"github.com/aegirhq/aegir/internal/taskspec"
)

// validateContext checks every value a task will place in a path, a
// config file, a command or a query, before anything is written. A crafted
// domain or path fails here with context_invalid.
func validateContext(c *Context) error {
	if err := checkContext(c); err != nil {
		return failf(CodeContextInvalid,
			"Fix the value in the entity (or the context file); aegir refuses it before writing anything.",
			nil, "The context was refused before anything was changed: %v", err)
	}
	return nil
}

func checkContext(c *Context) error {
	if err := checkPath("env.data_dir", c.Env.DataDir); err != nil {
		return err
	}
	if c.Env.BackupDir != "" {
		if err := checkPath("env.backup_dir", c.Env.BackupDir); err != nil {
			return err
		}
	}
	spec, ok := taskspec.Lookup(c.Task.Type)
	if !ok {
		return fmt.Errorf("unknown task type %q", domain.Clip(string(c.Task.Type)))
	}
	if err := checkTarget(c, spec.Kind); err != nil {
		return err
	}
	if spec.Backup.Archive(c.Task.Args) {
		if err := checkBackupArchive(c); err != nil {
			return err
		}
	}
	if spec.Destination != taskspec.NoDestination {
		return checkDestination(c, spec.Destination)
	}
	return nil
}

// checkTarget checks the target a task of kind needs.
func checkTarget(c *Context, kind domain.TargetKind) error {
	switch kind {
	case domain.TargetSite:
		if c.Site == nil {
			return fmt.Errorf("a %s task needs site", c.Task.Type)
		}
		if err := checkSite(c.Site); err != nil {
			return err
		}
		if err := checkPlatform("platform", c.Platform); err != nil {
			return err
		}
		return checkServices("", c.WebServer, c.WebService, c.DBServer, c.DBService)
	case domain.TargetPlatform:
		return checkPlatform("platform", c.Platform)
	case domain.TargetServer:
		if c.Server == nil || !domain.ValidID(c.Server.ID) {
			return fmt.Errorf("a verify-server task needs server with an id")
		}
		for i := range c.Services {
			if err := checkService(fmt.Sprintf("services[%d]", i), &c.Services[i], ""); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkBackupArchive checks the backup a task reads the archive of.
func checkBackupArchive(c *Context) error {
	if c.Backup == nil {
		return fmt.Errorf("a %s task needs backup", c.Task.Type)
	}
	if err := checkPath("backup.path", c.Backup.Path); err != nil {
		return err
	}
	if !strings.HasSuffix(c.Backup.Path, ".tar.zst") {
		return fmt.Errorf("backup.path %q is not a .tar.zst archive", c.Backup.Path)
	}
	return nil
}

// checkDestination checks where a clone or migrate puts the site.
func checkDestination(c *Context, dest taskspec.Destination) error {
	t := c.Target
	if t == nil {
		return fmt.Errorf("a %s task needs target", c.Task.Type)
	}
	if err := checkDomain("target.domain", t.Domain); err != nil {
		return err
	}
	for _, a := range t.Aliases {
		if err := checkDomain("target.aliases", a); err != nil {
			return err
		}
	}
	if dest == taskspec.NewSite && !domain.ValidID(t.SiteID) {
		return fmt.Errorf("a clone needs target.site_id, the new site's id")
	}
	if err := checkPlatform("target.platform", t.Platform); err != nil {
		return err
	}
	return checkServices("target.", t.WebServer, t.WebService, t.DBServer, t.DBService)
}

func checkSite(s *SiteInfo) error {
	if !domain.ValidID(s.ID) {
		return fmt.Errorf("site.id %q is not an aegir id", domain.Clip(s.ID))
	}
	if err := checkDomain("site.domain", s.Domain); err != nil {
		return err
	}
	for _, a := range s.Aliases {
		if err := checkDomain("site.aliases", a); err != nil {
			return err
		}
	}
	if s.Profile != "" {
		if err := domain.ValidateName("site.profile", s.Profile); err != nil {
			return err
		}
	}
	if s.PHP != nil {
		if err := s.PHP.Validate(); err != nil {
			return fmt.Errorf("site.%w", err)
		}
	}
	return nil
}

// checkDomain accepts only a domain already in normalised form, so the
// value used on disk is exactly the one the front end stored.
func checkDomain(field, d string) error {
	n, err := domain.NormalizeDomain(d)
	if err != nil {
		return fmt.Errorf("%s: %v", field, err)
	}
	if n != d {
		return fmt.Errorf("%s %q is not in normalised form (%q)", field, domain.Clip(d), n)
	}
	return nil
}

func checkPath(field, p string) error {
	return domain.ValidatePath(field, p, nil)
}

func checkPlatform(field string, p *PlatformInfo) error {
	if p == nil {
		return fmt.Errorf("%s is missing", field)
	}
	if !domain.ValidID(p.ID) {
		return fmt.Errorf("%s.id %q is not an aegir id", field, domain.Clip(p.ID))
	}
	if err := checkPath(field+".path", p.Path); err != nil {
		return err
	}
	if _, ok := platform.Lookup(p.Type); !ok {
		return fmt.Errorf("%s.type %q is not %s", field, domain.Clip(string(p.Type)), platform.Choices())
	}
	return nil
}

func checkServices(prefix string, webSrv *ServerInfo, web *ServiceInfo, dbSrv *ServerInfo, db *ServiceInfo) error {
	if webSrv == nil || web == nil || dbSrv == nil || db == nil {
		return fmt.Errorf("%sweb_server, %sweb_service, %sdb_server and %sdb_service are all needed", prefix, prefix, prefix, prefix)
	}
	for name, s := range map[string]*ServerInfo{"web_server": webSrv, "db_server": dbSrv} {
		if !domain.ValidID(s.ID) {
			return fmt.Errorf("%s%s.id is not an aegir id", prefix, name)
		}
	}
	if err := checkService(prefix+"web_service", web, domain.ServiceHTTP); err != nil {
		return err
	}
	return checkService(prefix+"db_service", db, domain.ServiceDB)
}

func checkService(field string, s *ServiceInfo, want domain.ServiceType) error {
	svc := domain.Service{ServerID: s.ServerID, Kind: s.Kind, Type: s.Type, Port: s.Port, Settings: s.Settings}
	if !domain.ValidID(s.ID) {
		return fmt.Errorf("%s.id is not an aegir id", field)
	}
	if err := svc.Validate(); err != nil {
		return fmt.Errorf("%s: %v", field, err)
	}
	if want != "" && svc.Type != want {
		return fmt.Errorf("%s is a %s service (%s), not %s", field, svc.Type, s.Kind, want)
	}
	return nil
}
