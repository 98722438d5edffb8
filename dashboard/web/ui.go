package web

import (
	"bytes"
	"cmp"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/aegirhq/aegir/dashboard/api"
	"github.com/aegirhq/aegir/internal/control"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config configures the HTML dashboard.
type Config struct {
	// SessionKey signs the dashboard's CSRF tokens and flash cookies; at
	// least 32 bytes (sessions themselves are store records). Default: a
	// random key per process, so after a restart open forms must be
	// reloaded.
	SessionKey []byte
	// SecureCookies marks the dashboard's cookies Secure even when the
	// request did not arrive over TLS (a TLS proxy in front). Default:
	// false; requests over TLS get Secure cookies regardless.
	SecureCookies bool
	// LoginLimiter counts failed dashboard logins per account, per client
	// address and per (address, account) pair (login.go says what each
	// does). Default: an in-memory limiter with its defaults.
	LoginLimiter LoginLimiter
	// LoginDelay is the first delay of a login to an account with recent
	// failures; it doubles with each further failure, up to 16 times
	// itself (login.go). Default: 1s.
	LoginDelay time.Duration
	// SessionIdle ends a session after this long without a request.
	// Default: 2h.
	SessionIdle time.Duration
	// SessionMax ends a session this long after login. Default: 12h.
	SessionMax time.Duration
	// TrustedProxies are the proxies whose X-Forwarded-For is believed
	// (clientaddr.go). Default: none; the client address is the peer's.
	TrustedProxies []netip.Prefix
	// LocalCARoot returns the local CA's root certificate (PEM), offered
	// at /tls/local-ca.pem for browsers and clients to trust. Default:
	// nil, and that page is a 404 (no local CA).
	LocalCARoot func(ctx context.Context) ([]byte, error)
}

// ui is the HTML dashboard: server-rendered pages on the same service
// layer and access rules as the API. See doc.go for the design.
type ui struct {
	api     *api.Server      // the app, the live data handlers, the status
	ctl     *control.Control // every read and write with access rules
	st      *store.Store     // names for display, sessions, logins
	logs    api.TaskLogs     // task logs for the task page; nil: none
	log     *slog.Logger
	pages   map[string]*template.Template
	keys    *sessionKeys
	limiter LoginLimiter
	secure  bool // cookies get Secure (TLS in front)
	bufs    sync.Pool

	loginDelay              time.Duration
	sessionIdle, sessionMax time.Duration
	trusted                 []netip.Prefix
	localCA                 func(ctx context.Context) ([]byte, error)
	swept                   atomic.Int64 // unix nanoseconds of the last session sweep
}

// uiSecurityHeaders are sent with every HTML page and asset.
var uiSecurityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
	"X-Content-Type-Options":     "nosniff",
	"Referrer-Policy":            "same-origin",
	"X-Frame-Options":            "DENY",
	"Cross-Origin-Opener-Policy": "same-origin",
}

// Mount registers the dashboard's routes on the API server's app: pages
// at the root, assets under /static, JSON and SSE for the page script
// under /live. The API stays alone under /api/v1. Call it from
// api.Config.Mount.
func Mount(s *api.Server, cfg Config) error {
	u := &ui{api: s, ctl: s.Control(), st: s.Store(), logs: s.Config().Logs, log: s.Logger(),
		limiter: cfg.LoginLimiter, secure: cfg.SecureCookies, trusted: cfg.TrustedProxies, localCA: cfg.LocalCARoot,
		loginDelay: cmp.Or(cfg.LoginDelay, time.Second), sessionIdle: cmp.Or(cfg.SessionIdle, 2*time.Hour),
		sessionMax: cmp.Or(cfg.SessionMax, 12*time.Hour)}
	if u.limiter == nil {
		u.limiter = NewMemoryLimiter(MemoryLimiterConfig{})
	}
	var err error
	if u.keys, err = newSessionKeys(cfg.SessionKey); err != nil {
		return err
	}
	if u.pages, err = parsePages(); err != nil {
		return err
	}
	u.bufs.New = func() any { return new(bytes.Buffer) }
	app := s.App()

	static, _ := fs.Sub(staticFS, "static")
	app.Get("/static/*", u.headers, u.serveStatic(static))

	// The local CA's root is public, like any root certificate: no login.
	app.Get("/tls/local-ca.pem", u.headers, u.localCARoot)
	app.Get("/login", u.headers, u.page(u.loginPage, false))
	app.Post("/login", u.headers, u.page(u.loginSubmit, false))
	app.Post("/logout", u.headers, u.page(u.logout, true))

	get := func(p string, h pageHandler) { app.Get(p, u.headers, u.page(h, true)) }
	post := func(p string, h pageHandler) { app.Post(p, u.headers, u.page(h, true)) }
	get("/", u.overview)
	get("/sites", u.sitesPage)
	get("/sites/new", u.siteNewPage)
	post("/sites", u.siteCreate)
	// The upload's body is never parsed as a form: RawBody refuses
	// anything but the file itself before the page reads its CSRF token.
	app.Post(siteImportPath, u.headers, func(c *fiber.Ctx) error {
		if err := api.RawBody(c); err != nil {
			return err
		}
		return c.Next()
	}, u.page(u.siteImportSubmit, true))
	s.AddStreamingPath(siteImportPath)
	get("/sites/:id", u.sitePage)
	get("/sites/:id/edit", u.siteEditPage)
	post("/sites/:id", u.siteUpdate)
	post("/sites/:id/tasks", u.siteTaskSubmit)
	get("/platforms", u.platformsPage)
	get("/platforms/new", u.adminOnly(u.platformNewPage))
	post("/platforms", u.adminOnly(u.platformCreate))
	get("/platforms/:id", u.platformPage)
	post("/platforms/:id/tasks", u.adminOnly(u.platformTaskSubmit))
	get("/servers", u.adminOnly(u.serversPage))
	get("/servers/new", u.adminOnly(u.serverNewPage))
	post("/servers", u.adminOnly(u.serverCreate))
	get("/servers/:id", u.adminOnly(u.serverPage))
	post("/servers/:id", u.adminOnly(u.serverUpdate))
	post("/servers/:id/tasks", u.adminOnly(u.serverTaskSubmit))
	post("/servers/:id/delete", u.adminOnly(u.serverDelete))
	post("/servers/:id/services", u.adminOnly(u.serviceCreate))
	post("/services/:id", u.adminOnly(u.serviceUpdate))
	post("/services/:id/delete", u.adminOnly(u.serviceDelete))
	get("/clients", u.clientsPage)
	get("/clients/new", u.adminOnly(u.clientNewPage))
	post("/clients", u.adminOnly(u.clientCreate))
	get("/clients/:id", u.clientPage)
	post("/clients/:id", u.adminOnly(u.clientUpdate))
	post("/clients/:id/delete", u.adminOnly(u.clientDelete))
	post("/quota-defaults", u.adminOnly(u.quotaDefaultsUpdate))
	get("/packages", u.packagesPage)
	get("/tasks", u.tasksPage)
	get("/audit", u.auditPage)
	get("/tasks/:id", u.taskPage)
	post("/tasks/:id/cancel", u.taskCancel)
	post("/tasks/:id/retry", u.taskRetry)
	get("/users", u.adminOnly(u.usersPage))
	post("/users", u.adminOnly(u.userCreate))
	get("/users/:id", u.adminOnly(u.userPage))
	post("/users/:id", u.adminOnly(u.userUpdate))
	post("/users/:id/delete", u.adminOnly(u.userDelete))
	get("/tokens", u.tokensPage)
	post("/tokens", u.tokenCreate)
	post("/tokens/:id/delete", u.tokenDelete)
	get("/notifications", u.notificationsPage)
	post("/notifications", u.notificationCreate)
	get("/notifications/:id", u.notificationPage)
	post("/notifications/:id/test", u.notificationTest)
	post("/notifications/:id/delete", u.notificationDelete)
	get("/queues", u.adminOnly(u.queuesPage))
	post("/queues/:id", u.adminOnly(u.queueUpdate))
	post("/queues/:id/run", u.adminOnly(u.queueRun))
	post("/backups/:id/delete", u.backupDelete)
	app.Get("/backups/:id/download", u.headers, u.backupDownload())
	get("/account", u.accountPage)
	post("/account/password", u.passwordChange)
	get("/account/sessions", u.ownSessionsPage)
	post("/account/sessions/end", u.ownSessionsEnd)
	get("/users/:id/sessions", u.adminOnly(u.userSessionsPage))
	post("/users/:id/sessions/end", u.adminOnly(u.userSessionsEnd))

	// The page script's live data: the API's own handlers behind the
	// session instead of a bearer token, so the access rules are the same.
	live := func(p string, h fiber.Handler) { app.Get(p, u.headers, u.sessionJSON(h)) }
	live("/live/tasks/:id", s.GetTask)
	live("/live/tasks/:id/log", s.TaskLog)
	live("/live/sites/:id", s.GetSite)
	live("/live/queues/:id/passes/:pass", api.RequireAdminEntity("queue", s.GetQueuePass))

	// Anything else outside the API is an HTML 404.
	notFound := u.page(func(c *fiber.Ctx, v *view) error { return errNotFoundPage }, false)
	app.Use(func(c *fiber.Ctx) error {
		if p := c.Path(); p == api.Prefix || strings.HasPrefix(p, api.Prefix+"/") {
			return c.Next()
		}
		for k, v := range uiSecurityHeaders {
			c.Set(k, v)
		}
		return notFound(c)
	})
	return nil
}

// headers sets the security headers on every dashboard response.
func (u *ui) headers(c *fiber.Ctx) error {
	for k, v := range uiSecurityHeaders {
		c.Set(k, v)
	}
	return c.Next()
}

func (u *ui) serveStatic(root fs.FS) fiber.Handler {
	return func(c *fiber.Ctx) error {
		name := path.Clean(c.Params("*"))
		b, err := fs.ReadFile(root, name)
		if err != nil || strings.HasPrefix(name, ".") {
			return c.Status(fiber.StatusNotFound).SendString("not found")
		}
		switch path.Ext(name) {
		case ".css":
			c.Set(fiber.HeaderContentType, "text/css; charset=utf-8")
		case ".js":
			c.Set(fiber.HeaderContentType, "text/javascript; charset=utf-8")
		case ".svg":
			c.Set(fiber.HeaderContentType, "image/svg+xml")
		}
		c.Set(fiber.HeaderCacheControl, "public, max-age=3600")
		return c.Send(b)
	}
}

// view is what every page template gets.
type view struct {
	Title   string
	Nav     string // the active navigation entry
	User    *domain.User
	Admin   bool
	CSRF    string
	Flash   *flash
	Data    any
	Now     time.Time
	Version string
}

// pageHandler renders a page into v or redirects; errors become HTML
// error pages (or a flash and a redirect, for form posts).
type pageHandler func(c *fiber.Ctx, v *view) error

var errNotFoundPage = domain.NotFound("page", "")

// page wraps h: it loads the session (and, when auth is set, requires
// one), checks the CSRF token of every POST, and renders errors as pages.
func (u *ui) page(h pageHandler, auth bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		v := &view{Now: time.Now().UTC()}
		sess, user := u.loadSession(c)
		if user != nil {
			api.SetUser(c, user)
			api.SetClientAddr(c, u.clientAddr(c))
			v.User, v.Admin = user, user.Role == domain.RoleAdmin
		}
		if auth && user == nil {
			if c.Method() == fiber.MethodGet {
				return c.Redirect("/login?next="+url.QueryEscape(string(c.Request().URI().RequestURI())), fiber.StatusSeeOther)
			}
			return c.Redirect("/login", fiber.StatusSeeOther)
		}
		v.CSRF = u.csrfToken(c, sess)
		if c.Method() == fiber.MethodPost && !u.checkCSRF(c, sess) {
			c.Status(fiber.StatusForbidden)
			return u.render(c, "error", v, errorView{Status: 403, Title: "Form expired",
				Message: "The form was too old or came from another site. Go back, reload the page and try again."})
		}
		v.Flash = u.takeFlash(c)
		c.Set(fiber.HeaderCacheControl, "no-store")
		err := h(c, v)
		if err == nil {
			return nil
		}
		return u.renderError(c, v, err)
	}
}

// errorView is the data of the error page.
type errorView struct {
	Status  int
	Title   string
	Message string
}

func (u *ui) renderError(c *fiber.Ctx, v *view, err error) error {
	status, detail := api.MapError(err, api.RequestID(c))
	if user := api.CurrentUser(c); user != nil && user.Role != domain.RoleAdmin {
		detail = api.RedactForClient(err, detail)
	}
	if status >= 500 {
		u.log.Error("page failed", "method", c.Method(), "path", c.Path(), "err", err, "request_id", api.RequestID(c))
	} else {
		u.log.Debug("page refused", "method", c.Method(), "path", c.Path(), "err", err)
	}
	// A refused form goes back where it came from with the reason.
	if c.Method() == fiber.MethodPost && status < 500 && status != fiber.StatusNotFound {
		back := u.backTo(c)
		var be *backError
		if errors.As(err, &be) && localPath(be.back) {
			back = be.back
		}
		u.setFlash(c, "error", detail.Message)
		return c.Redirect(back, fiber.StatusSeeOther)
	}
	title := http.StatusText(status)
	if status == fiber.StatusNotFound {
		title, detail.Message = "Not found", "There is nothing here, or it is not yours to see."
	}
	c.Status(status)
	return u.render(c, "error", v, errorView{Status: status, Title: title, Message: detail.Message})
}

// backError sends a refused form back to a page of the handler's choosing:
// the form again, filled with what was typed.
type backError struct {
	err  error
	back string
}

func (e *backError) Error() string { return e.err.Error() }
func (e *backError) Unwrap() error { return e.err }

// backTo is where a refused form returns: the form's "back" field when it
// is a local path, else the referring page on this site, else "/".
func (u *ui) backTo(c *fiber.Ctx) string {
	if b := c.FormValue("back"); localPath(b) {
		return b
	}
	if ref, err := url.Parse(c.Get(fiber.HeaderReferer)); err == nil && ref.Host == string(c.Request().Host()) && localPath(ref.RequestURI()) {
		return ref.RequestURI()
	}
	return "/"
}

// render executes the page template into a pooled buffer and sends it.
func (u *ui) render(c *fiber.Ctx, name string, v *view, data any) error {
	t, ok := u.pages[name]
	if !ok {
		return fmt.Errorf("no page template %q", name)
	}
	v.Data = data
	buf := u.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer u.bufs.Put(buf)
	if err := t.ExecuteTemplate(buf, "layout", v); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Send(buf.Bytes())
}

// done answers a successful form: a flash and a redirect (303, so a reload
// does not post again).
func (u *ui) done(c *fiber.Ctx, to, format string, args ...any) error {
	u.setFlash(c, "ok", fmt.Sprintf(format, args...))
	return c.Redirect(to, fiber.StatusSeeOther)
}

// adminOnly answers 404 to client users, as the API does for admin-only
// entities: nothing about them leaks.
func (u *ui) adminOnly(h pageHandler) pageHandler {
	return func(c *fiber.Ctx, v *view) error {
		if !v.Admin {
			return errNotFoundPage
		}
		return h(c, v)
	}
}

// sessionJSON runs an API handler for the page script with the session's
// user. Errors are the API's JSON errors.
func (u *ui) sessionJSON(h fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		_, user := u.loadSession(c)
		if user == nil {
			return api.Unauthorized("your session ended; log in again")
		}
		api.SetUser(c, user)
		api.SetClientAddr(c, u.clientAddr(c))
		c.Set(fiber.HeaderCacheControl, "no-store")
		return h(c)
	}
}

var errBadForm = errors.New("bad form")

// actor is the acting user of the request for the service layer.
func actor(c *fiber.Ctx) control.Actor { return api.Actor(c) }

// idParam returns the :id route parameter, copied out of Fiber's buffer.
func idParam(c *fiber.Ctx) string {
	return string([]byte(c.Params("id")))
}
