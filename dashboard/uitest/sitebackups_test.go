package uitest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
)

// staticPlatform makes a static platform directory and its record, and
// waits for its verify.
func (p *product) staticPlatform(name string) *domain.Platform {
	p.t.Helper()
	dir := filepath.Join(p.dataDir, "platforms", name)
	if err := os.MkdirAll(filepath.Join(dir, "public"), 0o755); err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "public", "index.html"), []byte("<h1>It works</h1>\n"), 0o644); err != nil {
		p.t.Fatal(err)
	}
	pf := &domain.Platform{Name: name, Path: dir, WebServerID: p.localID, Type: domain.PlatformStatic}
	task, err := p.st.CreatePlatform(context.Background(), pf, "test")
	if err != nil {
		p.t.Fatal(err)
	}
	p.waitTask(task.ID)
	return pf
}

// TestBrowserSitesFromBackupsAndBatch: a deleted site comes back through
// the new-site page's form, an archive is imported through its upload
// (the file sent by app.js), and the platform page's batch migrate moves
// the sites, its page listing each child; screenshots of each page.
func TestBrowserSitesFromBackupsAndBatch(t *testing.T) {
	ctx := newBrowser(t)
	p := startProduct(t)
	shots := artifacts(t)
	t.Logf("screenshots: %s", shots)
	bg := context.Background()
	pf := p.staticPlatform("example")

	// A site, deleted: its final backup is kept.
	site := &domain.Site{Domain: "gone.localhost", PlatformID: pf.ID, DBServerID: p.localID, ClientID: p.clientID}
	install, err := p.st.CreateSite(bg, site, "test")
	if err != nil {
		t.Fatal(err)
	}
	p.waitTask(install.ID)
	del, err := p.st.RequestSiteTask(bg, site.ID, domain.TaskDelete, nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	p.waitTask(del.ID)
	backups, err := p.st.ListBackups(bg, site.ID, nil)
	if err != nil || len(backups) != 1 {
		t.Fatalf("backups of the deleted site: %v %v", backups, err)
	}

	run(t, ctx, "log in as admin", login(p.url, "admin", p.password))
	run(t, ctx, "bring the deleted site back",
		chromedp.Navigate(p.url+"/sites/new"),
		chromedp.WaitVisible("#site-from-backup", chromedp.ByQuery),
		chromedp.SetValue("#site-from-backup select[name=from_backup]", backups[0].ID, chromedp.ByQuery),
		chromedp.SetValue("#site-from-backup select[name=platform_id]", pf.ID, chromedp.ByQuery),
		chromedp.SetValue("#site-from-backup select[name=db_server_id]", p.localID, chromedp.ByQuery),
	)
	screenshot(t, ctx, shots, "site-new-from-backup")
	run(t, ctx, "its install restores the backup",
		chromedp.Click("#site-from-backup button[type=submit]", chromedp.ByQuery),
		waitJS(`document.getElementById("task-status") && document.getElementById("task-status").dataset.status === "succeeded"`),
	)
	if back, err := p.st.SiteByDomain(bg, "gone.localhost"); err != nil || back.ID != site.ID || back.Status != domain.SiteEnabled {
		t.Fatalf("site back: %+v %v", back, err)
	}

	run(t, ctx, "import the archive under a new domain",
		chromedp.Navigate(p.url+"/sites/new"),
		chromedp.WaitVisible("#site-import", chromedp.ByQuery),
		chromedp.SetUploadFiles("#site-import input[type=file]", []string{backups[0].Path}, chromedp.ByQuery),
		chromedp.SendKeys("#site-import input[name=domain]", "imported.localhost", chromedp.ByQuery),
		chromedp.SetValue("#site-import select[name=platform_id]", pf.ID, chromedp.ByQuery),
		chromedp.SetValue("#site-import select[name=db_server_id]", p.localID, chromedp.ByQuery),
		chromedp.SetValue("#site-import select[name=client_id]", p.clientID, chromedp.ByQuery),
	)
	screenshot(t, ctx, shots, "site-new-import")
	run(t, ctx, "the import's install succeeds",
		chromedp.Click("#site-import button[type=submit]", chromedp.ByQuery),
		waitJS(`location.pathname.startsWith("/tasks/") && document.getElementById("task-status") && document.getElementById("task-status").dataset.status === "succeeded"`),
	)
	if code, body := p.getSite("imported.localhost"); code != 200 || !strings.Contains(body, "It works") {
		t.Errorf("the imported site answers %d %q", code, clip(body, 200))
	}

	// Batch migrate both sites to a second platform from the platform page.
	pf2 := p.staticPlatform("example2")
	run(t, ctx, "the batch migrate form",
		chromedp.Navigate(p.url+"/platforms/"+pf.ID),
		chromedp.WaitVisible("#platform-migrate", chromedp.ByQuery),
		chromedp.Click("#platform-migrate summary", chromedp.ByQuery),
		chromedp.SetValue("#platform-migrate select[name=to_platform_id]", pf2.ID, chromedp.ByQuery),
		chromedp.SetValue("#platform-migrate input[name=parallel]", "2", chromedp.ByQuery),
		chromedp.SendKeys("#platform-migrate input[name=confirm]", "example", chromedp.ByQuery),
	)
	screenshot(t, ctx, shots, "platform-migrate")
	run(t, ctx, "the batch succeeds and lists its children",
		chromedp.Click("#platform-migrate button[type=submit]", chromedp.ByQuery),
		waitJS(`document.getElementById("task-status") && document.getElementById("task-status").dataset.status === "succeeded"`),
		chromedp.Reload(),
		chromedp.WaitVisible("#task-children", chromedp.ByQuery),
	)
	screenshot(t, ctx, shots, "batch-task")
	page, err := p.st.ListSites(bg, store.SiteFilter{PlatformID: pf2.ID})
	if err != nil || page.Total != 2 {
		t.Fatalf("sites on example2: %d %v", page.Total, err)
	}
}
