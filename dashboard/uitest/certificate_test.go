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

// TestBrowserCertificatePanel: a site created with HTTPS redirect gets a
// certificate from the local CA during its real install; its page shows
// the HTTPS panel (setting, issuer, expiry, names) in a real browser; the
// edit form turns HTTPS off and, after the verify, the panel says off.
func TestBrowserCertificatePanel(t *testing.T) {
	ctx := newBrowser(t)
	p := startProduct(t)
	shots := artifacts(t)
	ctxb := context.Background()
	platformDir := filepath.Join(p.dataDir, "platforms", "tls")
	if err := os.MkdirAll(filepath.Join(platformDir, "public"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(platformDir, "public", "index.html"), []byte("<h1>It works</h1>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pf := &domain.Platform{Name: "tls", Path: platformDir, WebServerID: p.localID, Type: domain.PlatformStatic}
	task, err := p.st.CreatePlatform(ctxb, pf, "test")
	if err != nil {
		t.Fatal(err)
	}
	p.waitTask(task.ID)
	site := &domain.Site{Domain: "secure.localhost", Aliases: []string{"www.secure.localhost"}, HTTPS: domain.HTTPSRedirect, HSTS: true,
		PlatformID: pf.ID, DBServerID: p.localID, ClientID: p.clientID}
	task, err = p.st.CreateSite(ctxb, site, "test")
	if err != nil {
		t.Fatal(err)
	}
	p.waitTask(task.ID)

	run(t, ctx, "log in as admin", login(p.url, "admin", p.password))
	var issuer, expiry, setting string
	run(t, ctx, "certificate panel",
		chromedp.Navigate(p.url+"/sites/"+site.ID),
		chromedp.WaitVisible("#certificate", chromedp.ByQuery),
		chromedp.Text("#cert-issuer", &issuer, chromedp.ByQuery),
		chromedp.Text("#cert-expiry", &expiry, chromedp.ByQuery),
		chromedp.Text("#certificate dl", &setting, chromedp.ByQuery),
	)
	screenshot(t, ctx, shots, "certificate-panel")
	if !strings.HasPrefix(issuer, "local") || expiry == "" || !strings.Contains(setting, "redirect · HSTS") || !strings.Contains(setting, "www.secure.localhost") {
		t.Fatalf("panel: issuer %q expiry %q text %q", issuer, expiry, setting)
	}
	run(t, ctx, "turn HTTPS off",
		chromedp.Navigate(p.url+"/sites/"+site.ID+"/edit"),
		chromedp.WaitVisible("#site-https", chromedp.ByQuery),
		chromedp.SetValue("#site-https", "off", chromedp.ByQuery),
		chromedp.Click("#site-edit button[type=submit]", chromedp.ByQuery),
		chromedp.WaitVisible("#certificate", chromedp.ByQuery),
	)
	vt, err := p.st.ListTasks(ctxb, store.TaskFilter{TargetID: site.ID, Type: domain.TaskVerify, Limit: 1})
	if err != nil || len(vt.Items) == 0 {
		t.Fatalf("no verify after the edit: %v", err)
	}
	p.waitTask(vt.Items[0].ID)
	run(t, ctx, "panel says off", chromedp.Reload(), waitJS(`document.querySelector("#certificate dl dd").textContent.trim() === "off"`))
	if s, _ := p.st.GetSite(ctxb, site.ID); s.HTTPS != "" || s.HSTS {
		t.Errorf("site after the edit: https %q hsts %v", s.HTTPS, s.HSTS)
	}
}
