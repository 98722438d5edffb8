package dashboard

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/aegirhq/aegir/dashboard/api"
	"github.com/aegirhq/aegir/dashboard/web"
	"github.com/aegirhq/aegir/internal/control"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
)

// Config configures the server: the REST API's settings (api.Config) and
// the HTML dashboard's (web.Config) in one, so that a process starts both
// from one value.
type Config struct {
	// Store is the repository. Required.
	Store *store.Store
	// Logger receives the server's logs. Default: slog.Default().
	Logger *slog.Logger
	// Logs serves task logs. Default: nil, and the log endpoint answers 503
	// unavailable.
	Logs TaskLogs
	// Secrets stores service credentials. Default: nil, and the credentials
	// endpoint answers 503 unavailable.
	Secrets CredentialWriter
	// Canceller stops running tasks. Default: nil, and cancelling a running
	// task answers 409 conflict (queued tasks can always be cancelled).
	Canceller Canceller
	// Queues are the periodic queues. Default: nil, and the queue and
	// stats endpoints answer 503 unavailable.
	Queues Queues
	// BodyLimit is the largest request body accepted. Default: 1 MiB; larger
	// bodies get 413 too_large.
	BodyLimit int
	// ReadTimeout bounds reading one request. Default: 30s.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one response. Default: 0 (none), because
	// log streams stay open for as long as a task runs.
	WriteTimeout time.Duration
	// IdleTimeout closes idle keep-alive connections. Default: 120s.
	IdleTimeout time.Duration
	// LogPoll is how long one read of the log bus waits for new lines while
	// following a log, and how often a keep-alive comment is sent. Default: 15s.
	LogPoll time.Duration
	// SessionKey signs the dashboard's CSRF tokens and flash cookies; at
	// least 32 bytes (sessions themselves are store records). Default: a
	// random key per process, so after a restart open forms must be
	// reloaded.
	SessionKey []byte
	// SecureCookies marks the dashboard's cookies Secure even when the
	// request did not arrive over TLS (a TLS proxy in front). Default:
	// false; requests over TLS get Secure cookies regardless.
	SecureCookies bool
	// LoginLimiter counts failed dashboard logins (web.Config). Default:
	// an in-memory limiter.
	LoginLimiter LoginLimiter
	// LoginDelay is the first delay of a login to an account with recent
	// failures, doubling up to 16 times itself. Default: 1s.
	LoginDelay time.Duration
	// SessionIdle and SessionMax end a dashboard session after that long
	// without a request, and that long after login. Default: 2h, 12h.
	SessionIdle, SessionMax time.Duration
	// TrustedProxies are the proxies whose X-Forwarded-For gives the
	// client's address. Default: none.
	TrustedProxies []netip.Prefix
	// StatusChecks are the components GET /api/v1/status and the
	// overview's System panel check besides the store, which is always
	// first. Default: none.
	StatusChecks []StatusCheck
	// StatusTimeout bounds each status check, and one store read of
	// GET /api/v1/health. Default: 2s.
	StatusTimeout time.Duration
	// Leader reports whether this process leads (holds the dispatcher's
	// lease), for the status view. Default: nil, reported as not leading.
	Leader func() bool
	// Version is aegir's version, for the status view. Default: "".
	Version string
	// MaxTokenTTL bounds the lifetime of the API tokens people create.
	// Default: control.DefaultMaxTokenTTL (a year).
	MaxTokenTTL time.Duration
	// ImportDir and MaxImportSize: where uploaded site archives are
	// written and how large one may be (control.Config). Default: "" (no
	// imports) and control.DefaultMaxImportSize.
	ImportDir     string
	MaxImportSize int64
	// Quotas are every client's default quotas (control.Config.Quotas).
	// Default: none.
	Quotas domain.Quotas
	// LocalCARoot returns the local CA's root certificate (PEM) for the
	// dashboard's download (web.Config). Default: nil, no download.
	LocalCARoot func(ctx context.Context) ([]byte, error)
	// Public are handlers of GET paths outside /api/v1 that anyone may
	// fetch without logging in (aegir server's own binary, for Nomad
	// artifacts), mounted before the dashboard's pages. Default: none.
	Public map[string]fiber.Handler
}

// New builds the service layer, the REST API on it and the HTML dashboard
// on the API's app.
func New(cfg *Config) (*Server, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	var ctl *control.Control
	if cfg.Store != nil {
		var err error
		if ctl, err = control.New(&control.Config{
			Store: cfg.Store, Secrets: cfg.Secrets, Canceller: cfg.Canceller, Queues: cfg.Queues, Logger: cfg.Logger,
			MaxTokenTTL: cfg.MaxTokenTTL, ImportDir: cfg.ImportDir, MaxImportSize: cfg.MaxImportSize,
			Quotas: cfg.Quotas,
		}); err != nil {
			return nil, err
		}
	}
	ui := web.Config{SessionKey: cfg.SessionKey, SecureCookies: cfg.SecureCookies, LoginLimiter: cfg.LoginLimiter,
		LoginDelay: cfg.LoginDelay, SessionIdle: cfg.SessionIdle, SessionMax: cfg.SessionMax, TrustedProxies: cfg.TrustedProxies,
		LocalCARoot: cfg.LocalCARoot}
	return api.New(&api.Config{
		Store: cfg.Store, Logger: cfg.Logger, Logs: cfg.Logs, Secrets: cfg.Secrets, Canceller: cfg.Canceller,
		Queues: cfg.Queues, BodyLimit: cfg.BodyLimit, ReadTimeout: cfg.ReadTimeout, WriteTimeout: cfg.WriteTimeout,
		IdleTimeout: cfg.IdleTimeout, LogPoll: cfg.LogPoll, StatusChecks: cfg.StatusChecks,
		StatusTimeout: cfg.StatusTimeout, Leader: cfg.Leader, Version: cfg.Version, Control: ctl,
		HashPassword: web.HashPassword,
		ClientAddr:   func(c *fiber.Ctx) string { return web.ClientAddr(c, cfg.TrustedProxies) },
		Mount: func(s *api.Server) error {
			for path, h := range cfg.Public {
				s.App().Get(path, h)
			}
			return web.Mount(s, ui)
		},
	})
}

// The types a process and the CLI use, where they have always been.
type (
	// Server is the Fiber app serving the API and the dashboard.
	Server = api.Server
	// TaskLogs is what the log endpoint needs from the log bus.
	TaskLogs = api.TaskLogs
	// CredentialWriter stores a database service's admin credentials.
	CredentialWriter = control.CredentialWriter
	// Canceller stops a running task.
	Canceller = control.Canceller
	// Queues are the periodic queues the API and dashboard show and start.
	Queues = api.Queues
	// StatusCheck checks one component for the status view.
	StatusCheck = api.StatusCheck
	// ComponentState is a component's state: ok, degraded or down.
	ComponentState = api.ComponentState
	// ComponentStatus is one component's state, as GET /api/v1/status lists it.
	ComponentStatus = api.ComponentStatus
	// SystemStatus is the answer of GET /api/v1/status.
	SystemStatus = api.SystemStatus
	// LoginLimiter limits dashboard logins.
	LoginLimiter = web.LoginLimiter
	// RedisLimiterConfig configures NewRedisLimiter.
	RedisLimiterConfig = web.RedisLimiterConfig
)

// The component states.
const (
	StateOK       = api.StateOK
	StateDegraded = api.StateDegraded
	StateDown     = api.StateDown
)

// NewRedisLimiter is web.NewRedisLimiter: a login limiter shared by every
// aegir process through Redis.
var NewRedisLimiter = web.NewRedisLimiter

// EnsureAdminPassword is web.EnsureAdminPassword.
var EnsureAdminPassword = web.EnsureAdminPassword

// NewAdminPassword is web.NewAdminPassword: a first admin's random
// password and its hash.
var NewAdminPassword = web.NewAdminPassword

// WriteAdminPassword is web.WriteAdminPassword.
var WriteAdminPassword = web.WriteAdminPassword

// VerifyPassword is web.VerifyPassword.
var VerifyPassword = web.VerifyPassword

// HashPassword is web.HashPassword: a dashboard password's argon2id hash.
var HashPassword = web.HashPassword
