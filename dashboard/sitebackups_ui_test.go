package dashboard

import (
	"archive/tar"
	"bytes"
	"context"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
)

// badArchive is a zstd-compressed tar with an entry that climbs out of
// files/.
func badArchive(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(zw)
	body := []byte("x\n")
	if err := tw.WriteHeader(&tar.Header{Name: "files/../../escape", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	_, _ = tw.Write(body)
	_ = tw.Close()
	_ = zw.Close()
	return buf.Bytes()
}

// TestUISitesFromBackupsAndBatch: the new-site page offers the backups of
// deleted sites and brings one back; its archive upload is taken only as a
// raw body with the CSRF header, a bad archive comes back with the reason
// and leaves nothing; a platform with a same-type sibling offers the batch
// migrate form, which follows to the batch's page.
func TestUISitesFromBackupsAndBatch(t *testing.T) {
	t.Parallel()
	importDir := t.TempDir()
	b := uiSetup(t, func(c *Config) { c.ImportDir = importDir })
	ctx := context.Background()
	w := loggedIn(t, b, "admin")

	// A backup of a site that no longer exists.
	goneID := domain.NewID()
	b.finish(b.taskOf(b.ids["siteB"], domain.TaskInstall), domain.TaskSucceeded, store.AddBackup(&domain.Backup{
		SiteID: goneID, ClientID: b.ids["clientA"], Domain: "gone.example.com", Path: "/srv/backups/gone.tar.zst", Reason: "pre-delete",
	}))
	_, page := w.get("/sites/new")
	for _, want := range []string{`id="site-from-backup"`, "gone.example.com", `id="site-import"`} {
		if !strings.Contains(page, want) {
			t.Errorf("new-site page lacks %s", want)
		}
	}
	backups, _ := b.st.ListBackups(ctx, goneID, nil)
	res, _ := w.post("/sites", url.Values{"from_backup": {backups[0].ID}, "platform_id": {b.ids["platform"]}, "db_server_id": {b.ids["server"]}})
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/tasks/") {
		t.Fatalf("bring back: %d to %q", res.StatusCode, loc)
	}
	site, err := b.st.SiteByDomain(ctx, "gone.example.com")
	if err != nil || site.ID != goneID || site.ClientID != b.ids["clientA"] {
		t.Fatalf("site back: %+v %v", site, err)
	}
	install := b.taskOf(goneID, domain.TaskInstall)
	if install.Args["backup_id"] != backups[0].ID {
		t.Errorf("its install restores %q, want %s", install.Args["backup_id"], backups[0].ID)
	}
	// Its install failed: retrying from the site's page restores the
	// backup again.
	b.finish(install, domain.TaskFailed, store.SetSiteStatus(goneID, domain.SiteFailed))
	if _, body := w.get("/sites/" + goneID); !strings.Contains(body, "Retry install from the backup") || !strings.Contains(body, `name="backup_id" value="`+backups[0].ID+`"`) {
		t.Fatalf("the failed site's page does not retry from the backup")
	}
	res, _ = w.post("/sites/"+goneID+"/tasks", url.Values{"type": {"install"}, "backup_id": {backups[0].ID}, "follow": {"1"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("retry install: %d", res.StatusCode)
	}
	if p, _ := b.st.ListTasks(ctx, store.TaskFilter{TargetID: goneID, Type: domain.TaskInstall, Status: domain.TaskQueued}); p.Total != 1 || p.Items[0].Args["backup_id"] != backups[0].ID {
		t.Errorf("retried install: %+v", p.Items)
	}

	// The archive upload.
	q := url.Values{"platform_id": {b.ids["platform"]}, "db_server_id": {b.ids["server"]}, "client_id": {b.ids["clientA"]}, "domain": {"up.example.com"}, "back": {"/sites/new"}}
	upload := func(ct, token string) *http.Response {
		req, _ := http.NewRequest("POST", w.base+"/sites/import?"+q.Encode(), bytes.NewReader(badArchive(t)))
		req.Header.Set("Content-Type", ct)
		if token != "" {
			req.Header.Set("X-CSRF-Token", token)
		}
		res, _ := w.do(req)
		return res
	}
	if res := upload("application/octet-stream", ""); res.StatusCode != http.StatusForbidden {
		t.Errorf("upload without the CSRF header: %d", res.StatusCode)
	}
	if res := upload("multipart/form-data; boundary=x", w.csrf); res.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("multipart upload: %d", res.StatusCode)
	}
	res = upload("application/octet-stream", w.csrf)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/sites/new" {
		t.Fatalf("bad archive: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	if _, body := w.follow(res); !strings.Contains(body, "outside files/") {
		t.Errorf("bad archive's reason not shown")
	}
	if _, err := b.st.SiteByDomain(ctx, "up.example.com"); err == nil {
		t.Errorf("a bad archive made a site")
	}
	if left, _ := os.ReadDir(importDir); len(left) != 0 {
		t.Errorf("a bad archive left %d files", len(left))
	}

	// Batch migrate from the platform page.
	p2 := &domain.Platform{Name: "p2", Path: "/srv/platforms/p2", WebServerID: b.ids["server"], Type: domain.PlatformPHP}
	if _, err := b.st.CreatePlatform(ctx, p2, "test"); err != nil {
		t.Fatal(err)
	}
	b.finish(b.taskOf(p2.ID, domain.TaskVerifyPlatform), domain.TaskSucceeded, store.UpdatePlatform(p2.ID, func(p *domain.Platform) error { return p.Transition(domain.PlatformReady) }))
	b.finish(b.taskOf(b.ids["platform"], domain.TaskVerifyPlatform), domain.TaskSucceeded, store.UpdatePlatform(b.ids["platform"], func(p *domain.Platform) error { return p.Transition(domain.PlatformReady) }))
	b.enable(b.ids["siteA"])
	platformPage := "/platforms/" + b.ids["platform"]
	if _, body := w.get(platformPage); !strings.Contains(body, `id="platform-migrate"`) || !strings.Contains(body, ">p2<") {
		t.Fatalf("platform page lacks the batch migrate form")
	}
	res, _ = w.post(platformPage+"/tasks", url.Values{"type": {"migrate-sites"}, "to_platform_id": {p2.ID}, "parallel": {"2"}, "continue": {"true"}, "confirm": {"p1"}})
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/tasks/") {
		t.Fatalf("batch migrate: %d to %q", res.StatusCode, loc)
	}
	batch, err := b.st.GetTask(ctx, strings.TrimPrefix(loc, "/tasks/"))
	if err != nil || batch.Type != domain.TaskMigrateSites || batch.Args["to_platform_id"] != p2.ID || batch.Args["parallel"] != "2" || batch.Args["continue"] != "true" {
		t.Fatalf("batch: %+v %v", batch, err)
	}
}
