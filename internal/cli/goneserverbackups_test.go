package cli

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
)

// TestBackupDeleteOfGoneServer: `aegir backup delete` of a deleted site's
// backup whose server was deleted too, through the real API: the record
// goes at once and the CLI prints the finished task's own words (the
// server is gone, where the archive was) instead of a log to follow, with
// or without -wait.
func TestBackupDeleteOfGoneServer(t *testing.T) {
	t.Parallel()
	b, st := realAPI(t)
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	cl := &domain.Client{Name: "acme"}
	must(st.CreateClient(ctx, cl))
	web := &domain.Server{Name: "local", Address: "127.0.0.1"}
	_, err := st.CreateServer(ctx, web, []domain.Service{{Kind: domain.KindBuiltin, Port: 8080}, {Kind: domain.KindSQLite}}, "test")
	must(err)
	p := &domain.Platform{Name: "static", Path: t.TempDir(), WebServerID: web.ID, Type: domain.PlatformStatic}
	_, err = st.CreatePlatform(ctx, p, "test")
	must(err)
	site := &domain.Site{Domain: "example.com", PlatformID: p.ID, DBServerID: web.ID, ClientID: cl.ID}
	task, err := st.CreateSite(ctx, site, "test")
	must(err)
	must(st.StartTask(ctx, task, "test", 0))
	must(st.FinishTask(ctx, task, domain.TaskSucceeded, store.SetSiteStatus(site.ID, domain.SiteEnabled)))
	// Its backups lie on web2, which died and was deleted after the site.
	web2 := &domain.Server{Name: "web2", Address: "10.0.0.2"}
	_, err = st.CreateServer(ctx, web2, nil, "test")
	must(err)
	var backups []*domain.Backup
	for _, reason := range []string{"manual", "pre-delete"} {
		backups = append(backups, &domain.Backup{ID: domain.NewID(), SiteID: site.ID, ClientID: cl.ID, Domain: site.Domain,
			ServerID: web2.ID, Path: "/var/lib/aegir/backups/example.com/" + reason + ".tar.zst", Size: 10, Reason: reason})
	}
	task, err = st.RequestSiteTask(ctx, site.ID, domain.TaskDelete, nil, "test")
	must(err)
	must(st.StartTask(ctx, task, "test", 0))
	must(st.FinishTask(ctx, task, domain.TaskSucceeded, store.AddBackup(backups[0]), store.AddBackup(backups[1]), store.RemoveSite(site.ID)))
	srv, err := st.GetServer(ctx, web2.ID)
	must(err)
	must(st.DeleteServer(ctx, web2.ID, srv.Version))

	for i, args := range [][]string{{}, {"-wait"}} {
		bk := backups[i]
		r := b.run(append([]string{"backup", "delete", bk.ID}, args...)...).want(t, ExitOK)
		contains(t, "stdout", r.stdout, "(delete-backup-of-deleted-site on server web2) succeeded.",
			"The server web2 that held this archive no longer exists: the record of the backup of example.com was removed", bk.Path)
		if strings.Contains(r.stdout, "Follow it with") {
			t.Errorf("%v: a finished task to follow: %s", args, r.stdout)
		}
		if _, err := st.GetBackup(ctx, bk.ID); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("%v: the backup after its delete: %v", args, err)
		}
	}
}
