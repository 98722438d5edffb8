package provision

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision/dberr"
	"github.com/aegirhq/aegir/internal/provision/platform"
	"github.com/aegirhq/aegir/internal/provision/weberr"
	"github.com/aegirhq/aegir/internal/servicekind"
	"github.com/aegirhq/aegir/secrets"
)

// webConn is a web driver with what messages need to name it.
type webConn struct {
	WebDriver
	svc *ServiceInfo
	srv *ServerInfo
}

func (w *webConn) String() string {
	return fmt.Sprintf("the web server %s (%s at %s)", w.srv.Name, w.svc.Kind, w.URL())
}

// dbConn is a database driver with what messages need to name it.
type dbConn struct {
	DBDriver
	svc  *ServiceInfo
	srv  *ServerInfo
	none bool // the site has no database (withoutDatabase)
	// clientHosts is where the sites' web server connects from
	// (DBCreds.ClientHosts); set by openSite and openTarget.
	clientHosts []string
}

func (d *dbConn) String() string {
	if !describe(d.svc.Kind).Has(servicekind.AdminCredentials) { // no server to name (sqlite's files)
		return fmt.Sprintf("the database server %s (sqlite)", d.srv.Name)
	}
	host := cmp.Or(d.svc.Settings["host"], d.srv.Address)
	return fmt.Sprintf("the database server %s (%s at %s)", d.srv.Name, d.svc.Kind, hostPort(host, d.svc.Port))
}

// describe returns the descriptor of kind; an unknown kind (a context
// written by hand) has none, and so no capabilities.
func describe(kind domain.ServiceKind) servicekind.Descriptor {
	d, _ := servicekind.Lookup(kind)
	return d
}

func hostPort(host string, port int) string {
	if port == 0 {
		return host
	}
	return host + ":" + strconv.Itoa(port)
}

func (j *job) web(svc *ServiceInfo, srv *ServerInfo) (*webConn, error) {
	f := j.deps.Web[svc.Kind]
	if f == nil {
		return nil, failf(CodeDriverMissing, "Use a web service kind this aegir build supports ("+strings.Join(servicekind.Names(servicekind.HTTP), ", ")+").", nil,
			"This aegir build has no driver for %s web servers (service %s on %s)", svc.Kind, svc.ID, srv.Name)
	}
	d, err := f(*svc, *srv, j.c.Env, j.log.With("service", string(svc.Kind)))
	if err != nil {
		hint := fmt.Sprintf("Check the web service's settings ('aegir service show %[1]s http') against what its kind reads ('aegir service kinds %[2]s'), and change them with 'aegir service set %[1]s http KEY=VALUE'.", srv.Name, svc.Kind)
		return nil, failf(CodeDriverFailed, hint, err,
			"The %s web service on %s could not be set up", svc.Kind, srv.Name)
	}
	return &webConn{WebDriver: d, svc: svc, srv: srv}, nil
}

// db builds the database driver with the service's admin credentials from
// the secrets backend (none are needed for sqlite).
func (j *job) db(ctx context.Context, svc *ServiceInfo, srv *ServerInfo, adminPurpose string) (*dbConn, error) {
	f := j.deps.DB[svc.Kind]
	if f == nil {
		return nil, failf(CodeDriverMissing, "Use a database kind this aegir build supports ("+strings.Join(servicekind.Names(servicekind.DB), ", ")+").", nil,
			"This aegir build has no driver for %s database servers (service %s on %s)", svc.Kind, svc.ID, srv.Name)
	}
	admin := map[string]string{}
	if describe(svc.Kind).Has(servicekind.AdminCredentials) {
		ref := j.secretRef(adminPurpose, secrets.ServiceAdminRef(svc.ID))
		a, err := j.getSecret(ctx, ref)
		if errors.Is(err, secrets.ErrNotFound) {
			return nil, failf(CodeSecretsUnavailable,
				fmt.Sprintf("Store the admin credentials of %s with: aegir server credentials %s", srv.Name, srv.Name), nil,
				"No admin credentials are stored for the %s server %s", svc.Kind, srv.Name)
		}
		if err != nil {
			return nil, asFailure(err, CodeSecretsUnavailable, secretsHint(err, "Check that the secrets backend is reachable."),
				fmt.Sprintf("The admin credentials of the database server %s could not be read", srv.Name))
		}
		admin = a
	}
	d, err := f(*svc, *srv, admin, j.c.Env, j.log.With("service", string(svc.Kind)))
	if err != nil {
		return nil, failf(CodeDriverFailed, "Check the database service's settings against the documentation of its kind.", err,
			"The %s database service on %s could not be set up", svc.Kind, srv.Name)
	}
	return &dbConn{DBDriver: d, svc: svc, srv: srv}, nil
}

func (j *job) checkDB(ctx context.Context, d *dbConn) error {
	err := d.Check(ctx)
	switch {
	case err == nil:
		return nil
	case dberr.Code(err) == CodeDBAuthFailed:
		return failf(CodeDBAuthFailed,
			fmt.Sprintf("Set the right admin credentials for this database server: aegir server credentials %s -db-user USER (the password is read from stdin).", d.srv.Name),
			err, "%s refused aegir's admin credentials, so nothing was changed", capital(d.String()))
	default:
		return failf(CodeDBUnreachable,
			fmt.Sprintf("Check that the database server is running and that aegir's admin credentials are right (aegir server credentials %s).", d.srv.Name),
			err, "%s did not answer, so nothing was changed", capital(d.String()))
	}
}

func (j *job) checkWeb(ctx context.Context, w *webConn) error {
	if err := w.Check(ctx); err != nil {
		return failf(cmp.Or(weberr.Code(err), CodeWebUnavailable), "Check that the web server is installed and running, and the web service's settings.",
			err, "%s failed its check, so nothing was changed", capital(w.String()))
	}
	return nil
}

func capital(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-32) + s[1:]
}

// openPlatform recognises the platform on disk and checks its type.
func (j *job) openPlatform(pi *PlatformInfo) (*platform.Platform, error) {
	p, err := platform.Open(pi.Path, pi.Type)
	switch {
	case err == nil:
		return p, nil
	case errors.Is(err, platform.ErrMissing):
		return nil, failf(CodePlatformMissing,
			fmt.Sprintf("Put the platform's code at %s on the web server (or fix the platform's path), then run verify-platform.", pi.Path), nil,
			"The platform %s has no directory at %s", pi.Name, pi.Path)
	case errors.Is(err, platform.ErrManifest):
		return nil, failf(CodePlatformType, "Fix aegir.hcl (see the php platform documentation), then run verify-platform.", err,
			"The platform %s has an invalid manifest", pi.Name)
	default:
		return nil, failf(CodePlatformType,
			"Point the platform at a directory of its declared type, or create a new platform with the right type.", err,
			"The platform %s at %s is not a %s platform", pi.Name, pi.Path, pi.Type)
	}
}

// siteSecret is what aegir keeps for a site at secrets.SiteDBRef.
type siteSecret struct {
	Password string
	HashSalt string
}

func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// newSiteSecret generates a site's database password and salt and stores
// them; the returned undo deletes them.
func (j *job) newSiteSecret(ctx context.Context, siteID string, reuse *siteSecret) (siteSecret, error) {
	s := siteSecret{Password: randomToken(), HashSalt: randomToken()}
	if reuse != nil {
		s = *reuse
	}
	j.red.Add(s.Password, s.HashSalt)
	st, err := j.openSecrets()
	if err != nil {
		return s, err
	}
	ref := secrets.SiteDBRef(siteID)
	if err := st.Put(ctx, ref, map[string]string{"username": NameFor(siteID), "password": s.Password, "hash_salt": s.HashSalt}); err != nil {
		return s, failf(CodeSecretsUnavailable, "Check that the secrets backend is reachable and writable.", err,
			"The new site's database password could not be stored")
	}
	return s, nil
}

func (j *job) siteSecret(ctx context.Context, siteID, purpose string) (siteSecret, error) {
	ref := j.secretRef(purpose, secrets.SiteDBRef(siteID))
	v, err := j.getSecret(ctx, ref)
	if errors.Is(err, secrets.ErrNotFound) {
		return siteSecret{}, failf(CodeSecretsUnavailable,
			"The site's credentials are gone from the secrets backend; restore them, or delete and reinstall the site.", nil,
			"No database password is stored for the site (%s)", ref)
	}
	if err != nil {
		return siteSecret{}, asFailure(err, CodeSecretsUnavailable, "Check that the secrets backend is reachable.",
			"The site's database password could not be read")
	}
	return siteSecret{Password: v["password"], HashSalt: v["hash_salt"]}, nil
}

func (j *job) deleteSiteSecret(ctx context.Context, siteID string) error {
	st, err := j.openSecrets()
	if err != nil {
		return err
	}
	if err := st.Delete(ctx, secrets.SiteDBRef(siteID)); err != nil && !errors.Is(err, secrets.ErrNotFound) {
		return err
	}
	return nil
}

// creds returns the site's database credentials on d.
func creds(d *dbConn, siteID string, s siteSecret) DBCreds {
	c := d.Locate(NameFor(siteID))
	c.Password = s.Password
	c.ClientHosts = d.clientHosts
	return c
}

// siteLoc is where a site lives: its platform, dir and names.
type siteLoc struct {
	ID       string
	Domain   string
	Aliases  []string
	Redirect bool
	Profile  string
	Plat     *platform.Platform
	Dir      string
	PHP      *domain.SitePHP // the site's own pool limits; nil: the service's
	// HTTPS and HSTS are the site's HTTPS setting (off for a clone's new
	// site, which starts on HTTP).
	HTTPS domain.HTTPSMode
	HSTS  bool
	// Cred, when set, is the site's Unix user and group: its hooks run
	// as them (SysProcAttr.Credential). Nil runs them as aegir.
	Cred *syscall.Credential
	// Owner is who owns the site's files (siteuser.go); nil when aegir
	// changes no owners or the task did not look it up.
	Owner *owner
}

func (j *job) writeSettings(loc siteLoc, c DBCreds, s siteSecret) error {
	file := loc.Plat.SettingsFile(loc.Dir)
	if file == "" || !hasDatabase(loc) { // a php site's settings are its database connection
		return nil
	}
	b, err := loc.Plat.RenderSettings(platform.Settings{
		Domain: loc.Domain, Aliases: loc.Aliases, SiteDir: loc.Dir, HashSalt: s.HashSalt,
		DB: platform.DB{Driver: c.Kind, Host: c.Host, Port: c.Port, Socket: c.Socket, Path: c.Path, Name: c.Name, User: c.User, Password: c.Password},
	})
	if err != nil {
		return failf(CodeContextInvalid, "Fix the database service's settings (host, port, socket).", err,
			"The settings file for %s was not written because a value is unsafe", loc.Domain)
	}
	if err := writeOwned(file, b, loc.Owner); err != nil {
		return failf(CodeFilesFailed, "Check that aegir can write to the platform's sites directory.", err,
			"The settings file %s could not be written", file)
	}
	j.log.Info("settings written", "file", file)
	return nil
}

func (j *job) webSite(loc siteLoc, w *webConn, disabled bool) WebSite {
	ws := WebSite{
		Domain:          loc.Domain,
		Aliases:         loc.Aliases,
		RedirectAliases: loc.Redirect,
		Docroot:         loc.Plat.Docroot(loc.Dir),
		Disabled:        disabled,
		PHP:             loc.Plat.PHP(),
	}
	spec := loc.Plat.Site()
	if ws.PHP {
		ws.FastCGI = w.svc.Settings["php_fastcgi"]
		ws.Env = map[string]string{"AEGIR_SITE_DIR": loc.Dir, "AEGIR_SITE_DOMAIN": loc.Domain}
		if f := loc.Plat.SettingsFile(loc.Dir); f != "" && spec.Database {
			ws.Env["AEGIR_SETTINGS"] = f
		}
		for k, v := range spec.Env { // names checked by the manifest: never AEGIR_*
			ws.Env[k] = v
		}
		ws.Pool = j.sitePool(loc, w)
	}
	if spec.NginxSnippet != "" {
		ws.NginxSnippet = spec.NginxSnippet
		ws.PlatformDir = loc.Plat.Path
	}
	if f := loc.Plat.SettingsFile(loc.Dir); f != "" {
		ws.Deny = []string{f} // never served, even when the docroot holds it
	}
	return ws
}

func (j *job) publish(ctx context.Context, w *webConn, loc siteLoc, disabled bool) error {
	if j.expect == nil {
		j.expect = map[string]*platform.Expect{}
	}
	j.expect[loc.Domain] = loc.Plat.Site().Expect // what waitAnswer checks
	ws := j.webSite(loc, w, disabled)
	plan := j.withTLS(ctx, w, loc, &ws)
	if err := w.Publish(ctx, ws); err != nil {
		return failf(cmp.Or(weberr.Code(err), CodeWebPublishFailed),
			"Read the web server's error above; its previous config for the site was kept, and the other sites are unaffected.",
			err, "%s refused the config for %s", capital(w.String()), loc.Domain)
	}
	j.log.Info("web config published", "domain", loc.Domain, "disabled", disabled, "https", ws.TLS != nil)
	if err := j.ensureCertificate(ctx, w, loc, ws, plan, false); err != nil {
		return err
	}
	if loc.HTTPS == domain.HTTPSRedirect && (ws.TLS != nil || j.res.Changes.Certificate != nil && j.res.Changes.Certificate.Error == "") {
		j.expect[loc.Domain] = nil // plain HTTP answers the redirect, not the page
	}
	return nil
}

// waitAnswer polls the site through the web server with its domain as Host
// until it answers as expected: 503 when disabled, else 2xx or 3xx, and
// when the platform declares an expect check (published by publish), the
// answer to its path must contain its text: an application's error page
// served with status 200 fails with CodeSiteWrongAnswer and the start of
// the body.
func (j *job) waitAnswer(ctx context.Context, w *webConn, domainName string, disabled bool) error {
	deadline := time.Now().Add(cmp.Or(j.runner.CheckTimeout, 20*time.Second))
	exp := j.expect[domainName]
	path := "/"
	if exp != nil && !disabled {
		path = exp.Path
	}
	var last string
	var body []byte
	var wrongSince time.Time // an answer without the text; two seconds of them fail
	for {
		code, b, err := j.getBody(ctx, w.URL(), domainName, path)
		switch {
		case err != nil:
			last = err.Error()
		case disabled && code == http.StatusServiceUnavailable:
			j.log.Info("site answers", "domain", domainName, "status", code)
			return nil
		case !disabled && code >= 200 && code < 400:
			if exp == nil || bytes.Contains(b, []byte(exp.Text)) {
				j.log.Info("site answers", "domain", domainName, "status", code, "path", path)
				return nil
			}
			last, body = fmt.Sprintf("HTTP %d without the text %q", code, exp.Text), b
			if wrongSince.IsZero() {
				wrongSince = time.Now()
			}
		default:
			last, body, wrongSince = fmt.Sprintf("HTTP %d", code), nil, time.Time{}
		}
		if time.Now().After(deadline) || ctx.Err() != nil || body != nil && time.Since(wrongSince) > 2*time.Second {
			if body != nil {
				return failf(CodeSiteWrongAnswer,
					"The application answered with something else than the page the platform's expect check names: read its answer above and the application's log, fix the site, then run verify.", nil,
					"%s answered %s at %s through %s; the answer begins: %s", domainName, last, path, w.String(), bodyStart(body))
			}
			want := "a 2xx or 3xx answer"
			if disabled {
				want = "503 (site disabled)"
			}
			return failf(CodeSiteNotAnswering,
				"Check the web server's log for the site, and that the docroot holds an index page; then run verify.", nil,
				"%s did not answer as expected through %s: expected %s, last got %s", domainName, w.String(), want, last)
		}
		select {
		case <-ctx.Done():
		case <-time.After(25 * time.Millisecond):
		}
	}
}

func (j *job) get(ctx context.Context, base, host string) (int, error) {
	code, _, err := j.getBody(ctx, base, host, "/")
	return code, err
}

// getBody asks for path on the site and returns the status and the first
// MiB of the body.
func (j *job) getBody(ctx context.Context, base, host, path string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Host = host
	resp, err := j.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	return resp.StatusCode, b, nil
}

// bodyStart is the first 300 bytes of an answer, quoted, for a failure.
func bodyStart(b []byte) string {
	if len(b) > 300 {
		return strconv.Quote(string(b[:300])) + " ..."
	}
	return strconv.Quote(string(b))
}

// runCommand runs argv (never through a shell) in dir with the site's
// context in the environment, streaming its output to the log. Only PATH,
// HOME and LANG are passed on from aegir's own environment, so tokens such
// as VAULT_TOKEN never reach platform code.
func (j *job) runCommand(ctx context.Context, what string, argv []string, dir string, env map[string]string) error {
	return j.runCommandAs(ctx, what, argv, dir, env, nil)
}

// runCommandAs is runCommand as the user and group of cred when it is set.
func (j *job) runCommandAs(ctx context.Context, what string, argv []string, dir string, env map[string]string, cred *syscall.Credential) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + cmp.Or(os.Getenv("PATH"), "/usr/local/bin:/usr/bin:/bin"), "HOME=" + cmp.Or(os.Getenv("HOME"), "/"), "LANG=C.UTF-8"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out := &lineWriter{log: j.log, level: slog.LevelInfo, attrs: []any{"command", what}}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = procAttr(cred)
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	j.log.Info("running", "command", what, "argv", platform.ShowArgv(argv))
	start := time.Now()
	err := cmd.Run()
	out.Flush()
	j.log.Debug("command finished", "command", what, "elapsed", time.Since(start).Round(time.Millisecond).String())
	return err
}

// siteEnv is the environment of a platform hook for a site: the variables
// of the platform's env block, then aegir's AEGIR_* variables (the
// database's only when the site has one).
func siteEnv(loc siteLoc, c DBCreds) map[string]string {
	spec := loc.Plat.Site()
	env := map[string]string{}
	for k, v := range spec.Env { // names checked by the manifest: never AEGIR_*
		env[k] = v
	}
	env["AEGIR_SITE_ID"] = loc.ID
	env["AEGIR_SITE_DOMAIN"] = loc.Domain
	env["AEGIR_SITE_DIR"] = loc.Dir
	env["AEGIR_PLATFORM_DIR"] = loc.Plat.Path
	if !spec.Database {
		return env
	}
	env["AEGIR_DB_DRIVER"] = c.Kind
	env["AEGIR_DB_HOST"] = c.Host
	env["AEGIR_DB_SOCKET"] = c.Socket
	env["AEGIR_DB_PATH"] = c.Path
	env["AEGIR_DB_NAME"] = c.Name
	env["AEGIR_DB_USER"] = c.User
	env["AEGIR_DB_PASSWORD"] = c.Password
	if c.Port > 0 {
		env["AEGIR_DB_PORT"] = strconv.Itoa(c.Port)
	}
	if f := loc.Plat.SettingsFile(loc.Dir); f != "" {
		env["AEGIR_SETTINGS"] = f
	}
	return env
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// loopbackHosts are the host parts of a site's database account when its
// web server reaches the database server on the same machine: through
// the socket ('localhost'), or over TCP to 127.0.0.1 or ::1, which a
// server running with skip-name-resolve sees as those addresses.
var loopbackHosts = []string{"localhost", "127.0.0.1", "::1"}

// clientHosts says where the site's web server web connects to d from, as
// d's server sees it (DBCreds.ClientHosts): loopback when they are the
// same server or d is reached over loopback or a socket, else the web
// server's address. nil for databases without accounts (sqlite) or
// without a web server in the context.
func clientHosts(web *ServerInfo, d *dbConn) ([]string, error) {
	if web == nil || !describe(d.svc.Kind).Has(servicekind.AdminCredentials) {
		return nil, nil
	}
	dbHost := cmp.Or(d.svc.Settings["host"], d.srv.Address)
	if web.ID == d.srv.ID || isLoopback(dbHost) || isLoopback(web.Address) ||
		d.svc.Settings["socket"] != "" || d.svc.Settings["socket_dir"] != "" {
		return loopbackHosts, nil
	}
	if err := servicekind.HostList(web.Address); err != nil || web.Address == "" || strings.Contains(web.Address, ",") {
		return nil, failf(CodeContextInvalid, "Set the web server's address to the IP address or name its database server sees it connect from.", err,
			"The address %q of the web server %s cannot be a database account's host", web.Address, web.Name)
	}
	return []string{web.Address}, nil
}

func isLoopback(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(h, "[]"))
	return ip != nil && ip.IsLoopback()
}
