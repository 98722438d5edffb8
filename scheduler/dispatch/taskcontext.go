package dispatch

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/taskspec"
	"github.com/aegirhq/aegir/secrets"
)

// ContextError says why a task's context could not be built: a record it
// needs is missing or in a state the task cannot use. The task fails with
// Explanation and FixHint; nothing ran.
type ContextError struct {
	Code        string
	Explanation string
	FixHint     string
	Err         error
}

func (e *ContextError) Error() string { return e.Explanation }
func (e *ContextError) Unwrap() error { return e.Err }

func contextErr(code string, err error, hint, format string, args ...any) *ContextError {
	return &ContextError{Code: code, Explanation: fmt.Sprintf(format, args...), FixHint: hint, Err: err}
}

// BuildContext resolves everything task needs into one provision.Context:
// the target, its platform, web and database servers and services, its
// client, the backup to restore, the target of a clone or migrate, and the
// secret references (never values). env is copied in as is. It returns a
// *ContextError when a relationship is missing; any other error is the
// store's.
func BuildContext(ctx context.Context, st *store.Store, task domain.Task, env provision.EnvInfo) (*provision.Context, error) {
	pc := &provision.Context{
		Version: provision.ContextVersion,
		Task:    provision.TaskInfo{ID: task.ID, Type: task.Type, Args: maps.Clone(task.Args), RequestedBy: task.RequestedBy},
		Secrets: map[string]string{},
		Env:     env,
	}
	var err error
	switch task.TargetKind {
	case domain.TargetSite:
		err = siteContext(ctx, st, task, pc)
	case domain.TargetPlatform:
		err = platformContext(ctx, st, task.TargetID, pc)
	case domain.TargetServer:
		err = serverContext(ctx, st, task, pc)
	default:
		err = contextErr("bad_task", nil, "", "task %s has an unknown target kind %q", task.ID, task.TargetKind)
	}
	if err != nil {
		return nil, err
	}
	if len(pc.Secrets) == 0 {
		pc.Secrets = nil
	}
	pc.Live = liveTasks(ctx, st)
	if pc.Live != nil && task.TargetKind == domain.TargetSite {
		pc.Live.Unrecorded = unrecordedTasks(ctx, st, task.TargetID)
	}
	return pc, nil
}

// Bounds of the search for a site's unrecorded tasks: its newest
// unrecordedLookback tasks, finished within unrecordedWindow.
const (
	unrecordedLookback = 10
	unrecordedWindow   = 48 * time.Hour
)

// unrecordedTasks lists the site's recent tasks that could write backups
// (their spec allows ChangeBackups), ended failed or cancelled, and have
// no backup record: an archive one of them wrote (a back end that
// finished after its task was failed, a result that was never applied)
// is an orphan, which the back end's janitor removes. The site's backups
// are read only when there is such a task; nil when there is none or the
// store cannot say.
func unrecordedTasks(ctx context.Context, st *store.Store, siteID string) []string {
	tasks, _, err := st.TasksOf(ctx, domain.TargetSite, siteID, unrecordedLookback)
	if err != nil {
		return nil
	}
	var ids []string
	for _, t := range tasks {
		spec, ok := taskspec.Lookup(t.Type)
		if !ok || !spec.Allows(taskspec.ChangeBackups) || t.FinishedAt == nil || time.Since(*t.FinishedAt) > unrecordedWindow ||
			t.Status != domain.TaskFailed && t.Status != domain.TaskCancelled {
			continue
		}
		ids = append(ids, t.ID)
	}
	if len(ids) == 0 {
		return nil
	}
	backups, err := st.ListBackups(ctx, siteID, nil)
	if err != nil {
		return nil
	}
	return slices.DeleteFunc(ids, func(id string) bool {
		return slices.ContainsFunc(backups, func(b domain.Backup) bool { return b.TaskID == id })
	})
}

// MaxLiveTasks bounds the live-task list a context carries (about 23
// bytes an id), so it fits a Nomad dispatch payload. With more active
// tasks the list is left out, and the back end's janitor skips that run.
const MaxLiveTasks = 100

// liveTasks lists every active (queued or running) task, for the janitor
// the back end runs before the task (provision/janitor.go): it removes
// only what belongs to a task not in the list and older than AsOf. AsOf
// is taken before the list, so a task that starts after it is either in
// the list or made its files after AsOf. nil (no janitor) when the store
// cannot say or there are too many.
func liveTasks(ctx context.Context, st *store.Store) *provision.LiveTasks {
	asOf := time.Now().UTC()
	tasks, _, err := st.ActiveTasks(ctx)
	if err != nil || len(tasks) > MaxLiveTasks {
		return nil
	}
	l := &provision.LiveTasks{AsOf: asOf, IDs: make([]string, 0, len(tasks))}
	for _, t := range tasks {
		l.IDs = append(l.IDs, t.ID)
	}
	return l
}

// EncodeContext encodes pc and checks it fits what a back end accepts.
func EncodeContext(pc *provision.Context) ([]byte, error) {
	b, err := json.Marshal(pc)
	if err != nil {
		return nil, err
	}
	if len(b) > provision.MaxContextSize && pc.Live != nil {
		// The live-task list only feeds the janitor: without it the
		// context may fit, and the janitor waits for another task.
		pc.Live = nil
		if b, err = json.Marshal(pc); err != nil {
			return nil, err
		}
	}
	if len(b) > provision.MaxContextSize {
		return nil, contextErr("context_too_large", domain.ErrTooLarge,
			"Remove aliases or service settings, or long task arguments, and retry.",
			"The task's context is %d bytes, more than the %d a back end accepts.", len(b), provision.MaxContextSize)
	}
	return b, nil
}

// missing turns a not-found error into a ContextError; other errors pass.
func missing(err error, what, hint string) error {
	if errors.Is(err, domain.ErrNotFound) {
		return contextErr("missing_record", err, hint, "%s does not exist (it was deleted after the task was queued?).", what)
	}
	return err
}

func siteContext(ctx context.Context, st *store.Store, task domain.Task, pc *provision.Context) error {
	site, err := st.GetSite(ctx, task.TargetID)
	if err != nil {
		return missing(err, "The task's site "+task.TargetName, "Nothing to do for a deleted site; cancel or ignore this task.")
	}
	pc.Site = &provision.SiteInfo{ID: site.ID, Domain: site.Domain, Aliases: site.Aliases,
		RedirectAliases: site.RedirectAliases, Status: site.Status, Profile: site.Profile, PHP: site.PHP,
		HTTPS: site.HTTPS, HSTS: site.HSTS, Certificate: site.Certificate}
	client, err := st.GetClient(ctx, site.ClientID)
	if err != nil {
		return missing(err, fmt.Sprintf("Client %s of site %s", site.ClientID, site.Domain), "Give the site an existing client (edit the site) and retry.")
	}
	pc.Client = &provision.ClientInfo{ID: client.ID, Name: client.Name}
	where, err := resolvePlacement(ctx, st, site.Domain, site.PlatformID, site.DBServerID)
	if err != nil {
		return err
	}
	pc.Platform, pc.WebServer, pc.WebService = where.platform, where.webServer, where.webService
	pc.DBServer, pc.DBService = where.dbServer, where.dbService
	pc.Secrets["db_admin"] = secrets.ServiceAdminRef(where.dbService.ID)
	pc.Secrets["site_db"] = secrets.SiteDBRef(site.ID)

	spec, ok := taskspec.Lookup(task.Type)
	if !ok {
		return contextErr("bad_task", nil, "", "task %s has an unknown type %q", task.ID, task.Type)
	}
	if spec.Backup.Needs(task.Args) {
		b, err := st.GetBackup(ctx, task.Args["backup_id"])
		if err != nil {
			return missing(err, "Backup "+task.Args["backup_id"], "Pick another backup of the site and request the restore again.")
		}
		if b.SiteID != site.ID {
			return contextErr("bad_backup", nil, "Pick a backup of this site.", "Backup %s belongs to site %s, not %s.", b.ID, b.Domain, site.Domain)
		}
		pc.Backup = &provision.BackupInfo{ID: b.ID, Path: b.Path, SHA256: b.SHA256, Size: b.Size, Reason: b.Reason}
	}
	if spec.Destination != taskspec.NoDestination {
		return targetContext(ctx, st, task, spec.Destination, site, pc)
	}
	return nil
}

// targetContext resolves where a clone or migrate goes. Defaults: the same
// platform and database server; a copy (clone) needs a new domain, a move
// (migrate) keeps the site's domain and aliases unless given a new domain.
func targetContext(ctx context.Context, st *store.Store, task domain.Task, dest taskspec.Destination, site *domain.Site, pc *provision.Context) error {
	args := task.Args
	tgt := &provision.TargetInfo{Domain: args["domain"]}
	if dest == taskspec.NewSite {
		if tgt.Domain == "" {
			return contextErr("bad_args", nil, "Request the clone again with a domain.", "A clone needs the new site's domain.")
		}
		tgt.SiteID = domain.NewID()
	} else {
		if tgt.Domain == "" || tgt.Domain == site.Domain {
			tgt.Domain, tgt.Aliases = site.Domain, site.Aliases
		}
	}
	if tgt.Domain != site.Domain {
		other, err := st.SiteByDomain(ctx, tgt.Domain)
		if err == nil && other.ID != site.ID {
			return contextErr("domain_taken", domain.ErrDuplicate, "Choose another domain, or delete the other site first.",
				"Domain %s is already used by site %s.", tgt.Domain, other.Domain)
		}
		if err != nil && !errors.Is(err, domain.ErrNotFound) {
			return err
		}
	}
	platformID := cmp.Or(args["platform_id"], site.PlatformID)
	dbServerID := cmp.Or(args["db_server_id"], site.DBServerID)
	where, err := resolvePlacement(ctx, st, tgt.Domain, platformID, dbServerID)
	if err != nil {
		return err
	}
	// A migrate's old place is released wherever it was, locked or not.
	if platformID != site.PlatformID && dest != taskspec.OldPlace {
		if where.platform.Locked {
			return contextErr("platform_locked", domain.ErrConflict, "Unlock the platform or choose another.",
				"Platform %s is locked and takes no new sites.", where.platform.Name)
		}
		if where.platform.Type != pc.Platform.Type {
			return contextErr("platform_type", domain.ErrInvalid, "Choose a platform of the same type.",
				"Platform %s is of type %s; site %s runs on a %s platform.", where.platform.Name, where.platform.Type, site.Domain, pc.Platform.Type)
		}
	}
	tgt.Platform, tgt.WebServer, tgt.WebService = where.platform, where.webServer, where.webService
	tgt.DBServer, tgt.DBService = where.dbServer, where.dbService
	pc.Target = tgt
	pc.Secrets["target_db_admin"] = secrets.ServiceAdminRef(where.dbService.ID)
	if dest == taskspec.NewSite {
		pc.Secrets["target_site_db"] = secrets.SiteDBRef(tgt.SiteID)
	} else {
		pc.Secrets["target_site_db"] = secrets.SiteDBRef(site.ID)
	}
	return nil
}

type placement struct {
	platform   *provision.PlatformInfo
	webServer  *provision.ServerInfo
	webService *provision.ServiceInfo
	dbServer   *provision.ServerInfo
	dbService  *provision.ServiceInfo
}

// resolvePlacement resolves a platform, its web server and http service,
// and a database server and its db service.
func resolvePlacement(ctx context.Context, st *store.Store, siteDomain, platformID, dbServerID string) (*placement, error) {
	var out placement
	p, err := st.GetPlatform(ctx, platformID)
	if err != nil {
		return nil, missing(err, fmt.Sprintf("Platform %s of site %s", platformID, siteDomain), "Migrate the site to an existing platform, or delete it.")
	}
	if p.Status == domain.PlatformDeleted {
		return nil, contextErr("platform_deleted", nil, "Choose another platform.", "Platform %s is deleted.", p.Name)
	}
	out.platform = platformInfo(p)
	web, webSvc, err := serverAndService(ctx, st, p.WebServerID, domain.ServiceHTTP, "web server of platform "+p.Name)
	if err != nil {
		return nil, err
	}
	out.webServer, out.webService = web, webSvc
	db, dbSvc, err := serverAndService(ctx, st, dbServerID, domain.ServiceDB, "database server of site "+siteDomain)
	if err != nil {
		return nil, err
	}
	out.dbServer, out.dbService = db, dbSvc
	return &out, nil
}

func serverAndService(ctx context.Context, st *store.Store, serverID string, typ domain.ServiceType, role string) (*provision.ServerInfo, *provision.ServiceInfo, error) {
	srv, err := st.GetServer(ctx, serverID)
	if err != nil {
		return nil, nil, missing(err, fmt.Sprintf("Server %s, the %s,", serverID, role), "Create the server again or move the site elsewhere.")
	}
	svc, err := st.ServiceOf(ctx, srv.ID, typ)
	if err != nil {
		return nil, nil, missing(err, fmt.Sprintf("The %s service of server %s, the %s,", typ, srv.Name, role),
			fmt.Sprintf("Add a %s service to server %s and retry.", typ, srv.Name))
	}
	return serverInfo(srv), serviceInfo(svc), nil
}

func platformContext(ctx context.Context, st *store.Store, id string, pc *provision.Context) error {
	p, err := st.GetPlatform(ctx, id)
	if err != nil {
		return missing(err, "The task's platform "+id, "Nothing to do for a deleted platform; ignore this task.")
	}
	pc.Platform = platformInfo(p)
	web, webSvc, err := serverAndService(ctx, st, p.WebServerID, domain.ServiceHTTP, "web server of platform "+p.Name)
	if err != nil {
		return err
	}
	pc.WebServer, pc.WebService = web, webSvc
	return nil
}

func serverContext(ctx context.Context, st *store.Store, task domain.Task, pc *provision.Context) error {
	id := task.TargetID
	srv, err := st.GetServer(ctx, id)
	if err != nil {
		return missing(err, "The task's server "+id, "Nothing to do for a deleted server; ignore this task.")
	}
	pc.Server = serverInfo(srv)
	spec, ok := taskspec.Lookup(task.Type)
	if !ok {
		return contextErr("bad_task", nil, "", "task %s has an unknown type %q", task.ID, task.Type)
	}
	if spec.Backup.Needs(task.Args) {
		return deletedSiteBackupContext(ctx, st, task, srv, pc)
	}
	svcs, err := st.ServicesOf(ctx, srv.ID)
	if err != nil {
		return err
	}
	for i := range svcs {
		pc.Services = append(pc.Services, *serviceInfo(&svcs[i]))
		if svcs[i].Type == domain.ServiceDB {
			pc.Secrets["db_admin"] = secrets.ServiceAdminRef(svcs[i].ID)
		}
	}
	return nil
}

// deletedSiteBackupContext resolves the backup a server task works on
// (delete-backup-of-deleted-site): a backup of a site that is gone, whose
// archive lies on the task's server. A site that came back since the task
// was queued (site create -from-backup) keeps its backups; the task fails
// saying so, nothing removed. The context carries no services or secrets:
// the work is on the backup directory only.
func deletedSiteBackupContext(ctx context.Context, st *store.Store, task domain.Task, srv *domain.Server, pc *provision.Context) error {
	b, err := st.GetBackup(ctx, task.Args["backup_id"])
	if err != nil {
		return missing(err, "Backup "+task.Args["backup_id"], "Nothing to delete: the backup is gone already.")
	}
	if b.ServerID != srv.ID {
		return contextErr("bad_backup", nil, "Delete the backup again (aegir backup delete "+b.ID+"): it is queued on the right server.",
			"Backup %s is stored on server %s, not %s.", b.ID, b.ServerID, srv.Name)
	}
	_, err = st.GetSite(ctx, b.SiteID)
	if err == nil {
		return contextErr("site_exists", domain.ErrConflict, "Delete the backup again (aegir backup delete "+b.ID+"): it is queued on the site now.",
			"Site %s of backup %s exists again (brought back since the task was queued); its backups are deleted through the site.", b.Domain, b.ID)
	}
	if !errors.Is(err, domain.ErrNotFound) {
		return err
	}
	pc.Backup = &provision.BackupInfo{ID: b.ID, Path: b.Path, SHA256: b.SHA256, Size: b.Size, Reason: b.Reason}
	return nil
}

func platformInfo(p *domain.Platform) *provision.PlatformInfo {
	return &provision.PlatformInfo{ID: p.ID, Name: p.Name, Path: p.Path, Type: p.Type, Locked: p.Locked}
}

func serverInfo(s *domain.Server) *provision.ServerInfo {
	return &provision.ServerInfo{ID: s.ID, Name: s.Name, Address: s.Address, NomadNode: s.NomadNode}
}

func serviceInfo(s *domain.Service) *provision.ServiceInfo {
	return &provision.ServiceInfo{ID: s.ID, ServerID: s.ServerID, Type: s.Type, Kind: s.Kind, Port: s.Port, Settings: maps.Clone(s.Settings)}
}
