package dispatch

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/secrets"
)

func TestBuildContextSiteTask(t *testing.T) {
	t.Parallel()
	b := setup(t, fakeOK)
	site, install := b.newSite(t)
	pc, err := BuildContext(context.Background(), b.st, *install, b.d.cfg.Env)
	must(t, err)
	if pc.Version != provision.ContextVersion || pc.Task.ID != install.ID || pc.Task.Type != domain.TaskInstall || pc.Task.RequestedBy != "test" {
		t.Errorf("task info %+v", pc.Task)
	}
	if pc.Site.ID != site.ID || pc.Site.Domain != site.Domain || pc.Client.Name != "acme" || pc.Platform.Path != "/srv/platforms/p1" {
		t.Errorf("site %+v client %+v platform %+v", pc.Site, pc.Client, pc.Platform)
	}
	if pc.WebServer.ID != b.server.ID || pc.WebService.Kind != domain.KindBuiltin || pc.WebService.Port != 8080 ||
		pc.DBServer.ID != b.server.ID || pc.DBService.Kind != domain.KindSQLite || pc.DBService.Settings["dir"] != "/srv/sqlite" {
		t.Errorf("web %+v %+v db %+v %+v", pc.WebServer, pc.WebService, pc.DBServer, pc.DBService)
	}
	if pc.Secrets["db_admin"] != secrets.ServiceAdminRef(pc.DBService.ID) || pc.Secrets["site_db"] != secrets.SiteDBRef(site.ID) {
		t.Errorf("secrets %v", pc.Secrets)
	}
	if pc.Env.DataDir != "/srv/aegir" || pc.Target != nil || pc.Backup != nil {
		t.Errorf("env %+v target %+v backup %+v", pc.Env, pc.Target, pc.Backup)
	}
	enc, err := EncodeContext(pc)
	must(t, err)
	back, err := provision.DecodeContext(strings.NewReader(string(enc)))
	must(t, err)
	if back.Site.Domain != site.Domain {
		t.Error("context does not survive the back end's decoder")
	}
	// The janitor's list of live tasks holds every active task, this one
	// included, taken just now.
	if back.Live == nil || !slices.Contains(back.Live.IDs, install.ID) || time.Since(back.Live.AsOf) > time.Minute {
		t.Errorf("live tasks %+v", back.Live)
	}
}

func TestBuildContextCloneMigrateAndServer(t *testing.T) {
	t.Parallel()
	b := setup(t, fakeOK)
	ctx := context.Background()
	site, _ := b.newSite(t)
	other, _ := b.newSite(t)
	b.settle(t) // installs done: sites enabled

	clone := domain.Task{ID: domain.NewID(), Type: domain.TaskClone, TargetKind: domain.TargetSite, TargetID: site.ID,
		Args: map[string]string{"domain": "copy.example.com"}}
	pc, err := BuildContext(ctx, b.st, clone, b.d.cfg.Env)
	must(t, err)
	tgt := pc.Target
	if tgt == nil || tgt.Domain != "copy.example.com" || !domain.ValidID(tgt.SiteID) || tgt.SiteID == site.ID ||
		tgt.Platform.ID != b.platform.ID || tgt.DBService.ID != pc.DBService.ID {
		t.Fatalf("clone target %+v", tgt)
	}
	if pc.Secrets["target_site_db"] != secrets.SiteDBRef(tgt.SiteID) || pc.Secrets["target_db_admin"] != secrets.ServiceAdminRef(pc.DBService.ID) {
		t.Errorf("clone secrets %v", pc.Secrets)
	}

	migrate := domain.Task{ID: domain.NewID(), Type: domain.TaskMigrate, TargetKind: domain.TargetSite, TargetID: site.ID,
		Args: map[string]string{"platform_id": b.platform.ID}}
	pc, err = BuildContext(ctx, b.st, migrate, b.d.cfg.Env)
	must(t, err)
	if pc.Target.Domain != site.Domain || pc.Secrets["target_site_db"] != secrets.SiteDBRef(site.ID) {
		t.Errorf("migrate target %+v secrets %v", pc.Target, pc.Secrets)
	}

	for _, tc := range []struct {
		name string
		args map[string]string
		code string
	}{
		{"taken domain", map[string]string{"domain": other.Domain}, "domain_taken"},
		{"missing platform", map[string]string{"domain": "x.example.com", "platform_id": domain.NewID()}, "missing_record"},
		{"missing db server", map[string]string{"domain": "x.example.com", "db_server_id": domain.NewID()}, "missing_record"},
		{"no domain", map[string]string{}, "bad_args"},
	} {
		task := clone
		task.Args = tc.args
		_, err := BuildContext(ctx, b.st, task, b.d.cfg.Env)
		var ce *ContextError
		if !errors.As(err, &ce) || ce.Code != tc.code || ce.FixHint == "" {
			t.Errorf("%s: %v (%+v)", tc.name, err, ce)
		}
	}

	verify := domain.Task{ID: domain.NewID(), Type: domain.TaskVerifyServer, TargetKind: domain.TargetServer, TargetID: b.server.ID}
	pc, err = BuildContext(ctx, b.st, verify, b.d.cfg.Env)
	must(t, err)
	if pc.Server.ID != b.server.ID || len(pc.Services) != 2 || pc.Secrets["db_admin"] == "" || pc.Site != nil {
		t.Errorf("verify-server context: server %+v services %+v secrets %v", pc.Server, pc.Services, pc.Secrets)
	}
	vp := domain.Task{ID: domain.NewID(), Type: domain.TaskVerifyPlatform, TargetKind: domain.TargetPlatform, TargetID: b.platform.ID}
	pc, err = BuildContext(ctx, b.st, vp, b.d.cfg.Env)
	must(t, err)
	if pc.Platform.ID != b.platform.ID || pc.WebService == nil || pc.Secrets != nil {
		t.Errorf("verify-platform context: %+v", pc)
	}
}

func TestBuildContextMissingSiteAndTooLarge(t *testing.T) {
	t.Parallel()
	b := setup(t, fakeOK)
	gone := domain.Task{ID: domain.NewID(), Type: domain.TaskVerify, TargetKind: domain.TargetSite, TargetID: domain.NewID(), TargetName: "gone.example.com"}
	_, err := BuildContext(context.Background(), b.st, gone, b.d.cfg.Env)
	var ce *ContextError
	if !errors.As(err, &ce) || !strings.Contains(ce.Explanation, "gone.example.com does not exist") || !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("missing site: %v", err)
	}
	_, install := b.newSite(t)
	env := b.d.cfg.Env
	env.DataDir = strings.Repeat("d", provision.MaxContextSize)
	pc, err := BuildContext(context.Background(), b.st, *install, env)
	must(t, err)
	if _, err := EncodeContext(pc); !errors.As(err, &ce) || ce.Code != "context_too_large" || !errors.Is(err, domain.ErrTooLarge) {
		t.Errorf("oversized context: %v", err)
	}
}

// TestBuildContextUnrecorded: a site task's context names the site's
// recent backup-writing tasks that ended failed with no backup record, so
// the back end's janitor removes the archives they left; not one that
// recorded a backup, nor a task that cannot write backups.
func TestBuildContextUnrecorded(t *testing.T) {
	t.Parallel()
	b := setup(t, fakeOK)
	ctx := context.Background()
	site, _ := b.newSite(t)
	b.settle(t)
	finish := func(typ domain.TaskType, status domain.TaskStatus, backup *domain.Backup) *domain.Task {
		task, err := b.st.RequestSiteTask(ctx, site.ID, typ, nil, "test")
		must(t, err)
		must(t, b.st.StartTask(ctx, task, "test", 1))
		var changes []store.Change
		if backup != nil {
			backup.TaskID = task.ID
			changes = append(changes, store.AddBackup(backup))
		}
		must(t, b.st.FinishTask(ctx, task, status, changes...))
		return task
	}
	orphaned := finish(domain.TaskBackup, domain.TaskFailed, nil)
	// A failed task that recorded a backup (as a restore records its
	// safety backup).
	recorded := finish(domain.TaskBackup, domain.TaskFailed, &domain.Backup{SiteID: site.ID, ClientID: site.ClientID,
		Domain: site.Domain, ServerID: b.server.ID, Path: "/srv/aegir/backups/x.tar.zst", Size: 1, SHA256: strings.Repeat("0", 64), Reason: "pre-restore"})
	cron := finish(domain.TaskCron, domain.TaskFailed, nil)
	ok := finish(domain.TaskBackup, domain.TaskSucceeded, nil)
	verify, err := b.st.RequestSiteTask(ctx, site.ID, domain.TaskVerify, nil, "test")
	must(t, err)
	pc, err := BuildContext(ctx, b.st, *verify, b.d.cfg.Env)
	must(t, err)
	if pc.Live == nil || !slices.Equal(pc.Live.Unrecorded, []string{orphaned.ID}) {
		t.Errorf("unrecorded %+v; want only %s (not recorded %s, cron %s, succeeded %s)", pc.Live, orphaned.ID, recorded.ID, cron.ID, ok.ID)
	}
}
