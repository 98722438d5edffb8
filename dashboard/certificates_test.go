package dashboard

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/certs"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/secrets"
)

const testRootPEM = "-----BEGIN CERTIFICATE-----\nTESTROOT\n-----END CERTIFICATE-----\n"

// The HTTPS panel: the edit form sets the mode and HSTS (a verify applies
// it), the site page shows the certificate's issuer, expiry and the last
// failure with its hint and a renew button, the overview lists the
// certificates that need attention, and the local CA's root downloads
// without a login.
func TestUICertificatePanel(t *testing.T) {
	t.Parallel()
	b := uiSetup(t, func(c *Config) {
		c.LocalCARoot = func(context.Context) ([]byte, error) { return []byte(testRootPEM), nil }
	})
	ctx := context.Background()
	b.enable(b.siteA.ID)
	w := loggedIn(t, b, "admin")

	site, err := b.st.GetSite(ctx, b.siteA.ID)
	if err != nil {
		t.Fatal(err)
	}
	w.get("/sites/" + site.ID + "/edit")
	res, _ := w.post("/sites/"+site.ID, url.Values{"version": {strconv.FormatUint(site.Version, 10)}, "aliases": {"www.a.example.com"},
		"https": {"redirect"}, "hsts": {"on"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("edit: %d", res.StatusCode)
	}
	site, err = b.st.GetSite(ctx, site.ID)
	if err != nil || site.HTTPS != domain.HTTPSRedirect || !site.HSTS {
		t.Fatalf("site after edit: %+v %v", site, err)
	}
	verify := b.taskOf(site.ID, domain.TaskVerify)
	// The verify reports a failed issuance on top of a certificate that
	// expires in three days.
	now := time.Now().UTC()
	cert := &domain.Certificate{Issuer: domain.IssuerLocal, Names: []string{"a.example.com", "www.a.example.com"},
		NotBefore: now.Add(-80 * 24 * time.Hour), NotAfter: now.Add(72 * time.Hour), RenewedAt: now.Add(-80 * 24 * time.Hour),
		Error: "acme: connection refused", Hint: "Open port 80 to the web server.", FailedAt: now, Failures: 2}
	b.finish(verify, domain.TaskSucceeded, store.EditSite(site.ID, store.CertificateEdit(cert)))

	_, body := w.get("/sites/" + site.ID)
	for _, want := range []string{`id="certificate"`, "redirect · HSTS", `id="cert-issuer">local`, "/tls/local-ca.pem",
		"acme: connection refused", "Open port 80 to the web server.", "2 times in a row", `id="task-certificate"`} {
		if !strings.Contains(body, want) {
			t.Errorf("site page lacks %q", want)
		}
	}
	_, body = w.get("/")
	if !strings.Contains(body, `id="certificates"`) || !strings.Contains(body, "a.example.com") || !strings.Contains(body, "Open port 80") {
		t.Errorf("overview does not list the certificate: %s", body)
	}
	// The renew button queues a certificate task.
	w.get("/sites/" + site.ID)
	res, _ = w.post("/sites/"+site.ID+"/tasks", url.Values{"type": {"certificate"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("renew: %d", res.StatusCode)
	}
	b.taskOf(site.ID, domain.TaskCertificate)
	// An edit form without the HTTPS field keeps the setting.
	site, _ = b.st.GetSite(ctx, site.ID)
	w.get("/sites/" + site.ID + "/edit")
	w.post("/sites/"+site.ID, url.Values{"version": {strconv.FormatUint(site.Version, 10)}, "aliases": {"www.a.example.com"}})
	if site, _ = b.st.GetSite(ctx, site.ID); site.HTTPS != domain.HTTPSRedirect || site.Certificate == nil {
		t.Errorf("an edit without https lost the setting or the certificate state: %+v", site)
	}

	// The root downloads without a session.
	res, body = b.browser().get("/tls/local-ca.pem")
	if res.StatusCode != 200 || body != testRootPEM || res.Header.Get("Content-Type") != "application/x-pem-file" {
		t.Fatalf("root download: %d %q %q", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
}

func TestUINoLocalCA(t *testing.T) {
	t.Parallel()
	b := uiSetup(t)
	if res, _ := b.browser().get("/tls/local-ca.pem"); res.StatusCode != http.StatusNotFound {
		t.Fatalf("root download without a local CA: %d", res.StatusCode)
	}
}

// PutSiteCertificate makes fileSecrets (notifications_test.go) the API's
// certificate writer too, as aegir's own wiring makes it.
func (f fileSecrets) PutSiteCertificate(ctx context.Context, siteID string, cert, key []byte) error {
	return f.fs.Put(ctx, secrets.SiteCertRef(siteID), map[string]string{"cert": string(cert), "key": string(key), "issuer": domain.IssuerUploaded})
}

func TestUploadCertificate(t *testing.T) {
	t.Parallel()
	fs, err := secrets.OpenFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b := setup(t, func(c *Config) { c.Secrets = fileSecrets{fs} })
	b.enable(b.siteB.ID)
	ca, err := certs.NewLocalCA("upload test CA", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	good, _ := ca.Issue([]string{"b.example.com", "www.b.example.com"}, time.Now())
	onlyMain, _ := ca.Issue([]string{"b.example.com"}, time.Now())
	other, _ := ca.Issue([]string{"b.example.com", "www.b.example.com"}, time.Now())
	body := func(cert, key []byte) string {
		js, _ := json.Marshal(map[string]string{"certificate": string(cert), "key": string(key)})
		return string(js)
	}
	for _, tc := range []struct {
		name, token, body string
		status            int
		contains          string
	}{
		{"alias not covered", "admin", body(onlyMain.CertPEM, onlyMain.KeyPEM), 400, "does not cover www.b.example.com"},
		{"key of another certificate", "bob", body(good.CertPEM, other.KeyPEM), 400, "does not belong"},
		{"not PEM", "admin", body([]byte("x"), good.KeyPEM), 400, "no PEM"},
		{"another client's site", "alice", body(good.CertPEM, good.KeyPEM), 404, "not_found"},
		{"good, by the site's client", "bob", body(good.CertPEM, good.KeyPEM), 202, `"type":"verify"`},
	} {
		res, out := b.do("PUT", "/api/v1/sites/{siteB}/certificate", tc.token, tc.body, nil)
		if res.StatusCode != tc.status || !strings.Contains(string(out), tc.contains) {
			t.Errorf("%s: %d %s, want %d with %q", tc.name, res.StatusCode, out, tc.status, tc.contains)
		}
		if strings.Contains(string(out), "PRIVATE KEY") {
			t.Errorf("%s: the answer echoes the key", tc.name)
		}
	}
	v, err := fs.Get(context.Background(), secrets.SiteCertRef(b.siteB.ID))
	if err != nil || v["cert"] != string(good.CertPEM) || v["issuer"] != domain.IssuerUploaded {
		t.Fatalf("stored certificate: %v %v", v["issuer"], err)
	}
}
