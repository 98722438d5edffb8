package provision_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/provision/webnginx"
	"github.com/aegirhq/aegir/internal/testharness"
)

// httpsGet fetches https://host/ through the builtin server's HTTPS
// listener, trusting only roots.
func httpsGet(t *testing.T, addr, host string, roots *x509.CertPool) (*http.Response, error) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
	resp, err := c.Get("https://" + host + "/")
	if err == nil {
		resp.Body.Close()
	}
	return resp, err
}

// serveTLS starts the bundle's builtin server on an HTTPS listener too.
func serveTLS(t *testing.T, b *bundle) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = b.web.ServeTLS(ln) }()
	return ln.Addr().String()
}

func TestHTTPSWithTheLocalCA(t *testing.T) {
	t.Parallel()
	b := setup(t)
	httpsAddr := serveTLS(t, b)
	site := b.newSite("local.test", "www.local.test")
	site.HTTPS, site.HSTS = domain.HTTPSRedirect, true
	res := b.mustRun(b.ctx(domain.TaskInstall, site, "static1"))
	c := res.Changes.Certificate
	if c == nil || c.Issuer != domain.IssuerLocal || c.Error != "" || len(c.Names) != 2 || time.Until(c.NotAfter) < 29*24*time.Hour {
		t.Fatalf("certificate state %+v", c)
	}
	// A Go client with the local root verifies the chain for every name.
	st, err := b.deps.OpenSecrets(provision.EnvInfo{DataDir: b.dataDir})
	if err != nil {
		t.Fatal(err)
	}
	ca, err := provision.EnsureLocalCA(t.Context(), st, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"local.test", "www.local.test"} {
		resp, err := httpsGet(t, httpsAddr, host, ca.Pool())
		if err != nil || resp.StatusCode != 200 || resp.Header.Get("Strict-Transport-Security") == "" {
			t.Fatalf("https://%s/: %v %v", host, err, resp)
		}
	}
	code, _ := b.get("local.test", "/x")
	if code != http.StatusMovedPermanently {
		t.Errorf("HTTP answered %d, want 301 to HTTPS", code)
	}
	// A verify with a current certificate keeps it and reports nothing new.
	site.Status, site.Certificate = domain.SiteEnabled, c
	res = b.mustRun(b.ctx(domain.TaskVerify, site, "static1"))
	if res.Changes.Certificate != nil {
		t.Errorf("verify re-issued a current certificate: %+v", res.Changes.Certificate)
	}
	// Disable answers 503 over HTTP (not the redirect); enable redirects
	// again.
	b.mustRun(b.ctx(domain.TaskDisable, site, "static1"))
	if code, _ := b.get("local.test", "/"); code != http.StatusServiceUnavailable {
		t.Errorf("disabled: HTTP %d", code)
	}
	site.Status = domain.SiteDisabled
	b.mustRun(b.ctx(domain.TaskEnable, site, "static1"))
	if code, _ := b.get("local.test", "/"); code != http.StatusMovedPermanently {
		t.Errorf("enabled again: HTTP %d", code)
	}
	site.Status = domain.SiteEnabled
	// Delete removes the certificate with the site. Its summary names the
	// site in full: the secret's public fields (the issuer "local", the
	// database user) are not redacted as if they were secrets.
	res = b.mustRun(b.ctx(domain.TaskDelete, site, "static1"))
	if strings.Contains(res.Summary, provision.Redacted) || !strings.Contains(res.Summary, "local.test") {
		t.Errorf("delete's summary %q redacts what is no secret", res.Summary)
	}
	if _, err := st.Get(t.Context(), "sites/"+site.ID+"/tls"); err == nil {
		t.Error("the certificate secret outlived the site")
	}
}

// acmeSetup is a bundle whose back end issues from a real Pebble that
// validates HTTP-01 against the bundle's builtin web server.
func acmeSetup(t *testing.T, validity time.Duration, hosts ...string) (*bundle, *testharness.PebbleServer, string) {
	t.Helper()
	b := setup(t)
	httpsAddr := serveTLS(t, b)
	m := map[string]string{}
	for _, h := range hosts {
		m[h] = "127.0.0.1"
	}
	p := testharness.Pebble(t, testharness.PebbleConfig{HTTPPort: b.webSvc.Port, Hosts: m, Validity: validity})
	return b, p, httpsAddr
}

func (b *bundle) acmeCtx(typ domain.TaskType, site *provision.SiteInfo, p *testharness.PebbleServer, window string) *provision.Context {
	c := b.ctx(typ, site, "static1")
	c.Env.TLS = provision.TLSInfo{Issuer: domain.IssuerACME, ACMEDirectory: p.Directory, ACMERootsFile: p.RootsFile, RenewWindow: window}
	return c
}

func TestACMEIssuesForDomainAndAliasesAndRenews(t *testing.T) {
	t.Parallel()
	b, p, httpsAddr := acmeSetup(t, time.Hour, "acme.test", "www.acme.test")
	site := b.newSite("acme.test", "www.acme.test")
	site.HTTPS = domain.HTTPSOn
	res := b.mustRun(b.acmeCtx(domain.TaskInstall, site, p, ""))
	c := res.Changes.Certificate
	if c == nil || c.Error != "" || c.Issuer != domain.IssuerACME || len(c.Names) != 2 {
		t.Fatalf("certificate state %+v\n%s", c, b.logs.String())
	}
	roots := p.IssuerRoots(t)
	for _, host := range []string{"acme.test", "www.acme.test"} {
		if resp, err := httpsGet(t, httpsAddr, host, roots); err != nil || resp.StatusCode != 200 {
			t.Fatalf("https://%s/ with Pebble's root: %v", host, err)
		}
	}
	// The certificates task renews a certificate inside the window (an
	// hour-long certificate, a two-hour window).
	site.Status, site.Certificate = domain.SiteEnabled, c
	res = b.mustRun(b.acmeCtx(domain.TaskCertificate, site, p, "2h"))
	if r := res.Changes.Certificate; r == nil || r.Serial == c.Serial || r.Error != "" {
		t.Fatalf("renewal: %+v", r)
	}
	// Outside the window nothing is issued.
	site.Certificate = res.Changes.Certificate
	serial := site.Certificate.Serial
	res = b.mustRun(b.acmeCtx(domain.TaskCertificate, site, p, "10m"))
	if res.Changes.Certificate != nil {
		t.Errorf("a certificate outside the window was renewed: %+v", res.Changes.Certificate)
	}
	// Delete revokes the certificate at the CA.
	if st := p.CertStatus(t, serial); st != "Valid" {
		t.Fatalf("Pebble says %q of the served certificate", st)
	}
	b.mustRun(b.acmeCtx(domain.TaskDelete, site, p, ""))
	if st := p.CertStatus(t, serial); st != "Revoked" {
		t.Errorf("after delete Pebble says %q of the certificate, want Revoked", st)
	}
}

func TestACMEChallengeThatCannotPassKeepsTheSiteServing(t *testing.T) {
	t.Parallel()
	// nowhere.fail.test is not in Pebble's DNS: its challenge fails.
	b, p, _ := acmeSetup(t, 0, "fail.test")
	site := b.newSite("fail.test", "nowhere.fail.test")
	site.HTTPS = domain.HTTPSRedirect
	res := b.mustRun(b.acmeCtx(domain.TaskInstall, site, p, ""))
	c := res.Changes.Certificate
	if c == nil || c.Error == "" || c.Hint == "" || c.Failures != 1 || !c.NotAfter.IsZero() {
		t.Fatalf("certificate state %+v", c)
	}
	// Pebble reports a name it cannot resolve as a connection problem.
	if !strings.Contains(c.Hint, "point every name") || !strings.Contains(c.Error, "nowhere.fail.test") {
		t.Errorf("error %q / hint %q do not name the cause", c.Error, c.Hint)
	}
	// The site still serves over HTTP (no redirect without a certificate).
	if code, body := b.get("fail.test", "/"); code != 200 || body == "" {
		t.Errorf("the site does not serve after the failed challenge: %d", code)
	}
	// The certificates task fails with the explanation and hint.
	site.Status, site.Certificate = domain.SiteEnabled, c
	res = b.run(b.acmeCtx(domain.TaskCertificate, site, p, ""))
	if res.Status != domain.TaskFailed || res.ErrorCode != provision.CodeCertificateFailed || res.FixHint == "" {
		t.Fatalf("certificate task: %s %s %q", res.Status, res.ErrorCode, res.FixHint)
	}
	if f := res.Changes.Certificate; f == nil || f.Failures != 2 {
		t.Errorf("failures not counted: %+v", f)
	}
	if code, _ := b.get("fail.test", "/"); code != 200 {
		t.Errorf("the site stopped serving after the failed renewal: %d", code)
	}
}

func TestACMEThroughNginx(t *testing.T) {
	t.Parallel()
	b := setup(t)
	testharness.WebReachable(t, filepath.Dir(b.dataDir)) // nginx's workers read the docroots
	ng := testharness.Nginx(t)
	httpsPort := testharness.FreePort(t)
	b.deps.Web[domain.KindNginx] = webnginx.Factory
	b.webSvc = provision.ServiceInfo{ID: domain.NewID(), ServerID: b.webSrv.ID, Type: domain.ServiceHTTP, Kind: domain.KindNginx,
		Port: ng.Port, Settings: map[string]string{
			"config_dir": ng.ConfDir, "main_config": ng.MainConfig, "pid_file": ng.PidFile, "binary": ng.Bin,
			"https_port": strconv.Itoa(httpsPort),
		}}
	p := testharness.Pebble(t, testharness.PebbleConfig{HTTPPort: ng.Port, Hosts: map[string]string{"ngx.test": "127.0.0.1", "www.ngx.test": "127.0.0.1"}})
	site := b.newSite("ngx.test", "www.ngx.test")
	site.HTTPS, site.HSTS = domain.HTTPSRedirect, true
	t.Cleanup(func() { removeSiteUser(site.Domain) })
	res := b.mustRun(b.acmeCtx(domain.TaskInstall, site, p, ""))
	if c := res.Changes.Certificate; c == nil || c.Error != "" || c.Issuer != domain.IssuerACME {
		t.Fatalf("certificate state %+v\nnginx:\n%s", c, ng.ErrorLogTail(20))
	}
	roots := p.IssuerRoots(t)
	for _, host := range []string{"ngx.test", "www.ngx.test"} {
		resp, err := httpsGet(t, "127.0.0.1:"+strconv.Itoa(httpsPort), host, roots)
		if err != nil || resp.StatusCode != 200 || resp.Header.Get("Strict-Transport-Security") == "" {
			t.Fatalf("https://%s/ through nginx: %v %v", host, err, resp)
		}
	}
	site.Status = domain.SiteEnabled
	b.mustRun(b.ctx(domain.TaskDelete, site, "static1"))
}

// removeSiteUser removes the Unix user a test's site got (back end as
// root with nginx), should the test end before its delete.
func removeSiteUser(d string) {
	name, err := provision.SiteUserName(d)
	if err != nil {
		return
	}
	if u, err := user.Lookup(name); err == nil && u.Name == "aegir site "+d {
		_ = exec.Command("userdel", name).Run()
		_ = exec.Command("groupdel", name).Run()
	}
}
