package api

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/recover"

	"github.com/aegirhq/aegir/internal/control"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/logbus"
	"github.com/aegirhq/aegir/internal/store"
)

// TaskLogs is what the log endpoint needs from the log bus: reading a
// task's lines after an id, waiting a little for new ones.
type TaskLogs interface {
	Read(ctx context.Context, taskID, afterID string, max int, wait time.Duration) ([]logbus.Line, bool, error)
}

// CredentialWriter stores a database service's admin credentials in the
// secrets backend. The API never keeps them in the store or echoes them.
type CredentialWriter = control.CredentialWriter

// Canceller stops a running task: the dispatcher kills its runner and then
// finishes the task as cancelled. Queued tasks are cancelled in the store.
type Canceller = control.Canceller

var _ TaskLogs = logbus.Bus(nil)

// Config configures the API server.
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
	// Queues are the periodic queues (queues.go). Default: nil, and the
	// queue and stats endpoints answer 503 unavailable.
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
	// StatusChecks are the components GET /api/v1/status and the
	// overview's System panel check besides the store, which is always
	// first (status.go). Default: none.
	StatusChecks []StatusCheck
	// StatusTimeout bounds each status check, and one store read of
	// GET /api/v1/health. Default: 2s.
	StatusTimeout time.Duration
	// Leader reports whether this process leads (holds the dispatcher's
	// lease), for the status view. Default: nil, reported as not leading.
	Leader func() bool
	// Version is aegir's version, for the status view. Default: "".
	Version string
	// MaxTokenTTL bounds API tokens' lifetimes, for the service layer New
	// builds when Control is nil. Default: control.DefaultMaxTokenTTL.
	MaxTokenTTL time.Duration
	// ClientAddr resolves a request's client address, for the audit log.
	// Default: nil, the TCP peer (no forwarding header is believed).
	ClientAddr func(c *fiber.Ctx) string
	// Control is the service layer the handlers call. Default: one built
	// on Store, Secrets, Canceller, Queues and MaxTokenTTL.
	Control *control.Control
	// HashPassword hashes the password of a user created through the API
	// (package dashboard passes the dashboard's, so the user can log in).
	// Default: nil, and a user create with a password answers 503
	// unavailable.
	HashPassword func(password string) (string, error)
	// Mount registers another transport on the app after the API's routes
	// (package dashboard mounts the HTML dashboard). Default: nil, the API
	// alone.
	Mount func(s *Server) error
}

func (c *Config) withDefaults() Config {
	out := *c
	out.Logger = cmp.Or(out.Logger, slog.Default())
	out.BodyLimit = cmp.Or(out.BodyLimit, 1<<20)
	out.ReadTimeout = cmp.Or(out.ReadTimeout, 30*time.Second)
	out.IdleTimeout = cmp.Or(out.IdleTimeout, 120*time.Second)
	out.LogPoll = cmp.Or(out.LogPoll, 15*time.Second)
	out.StatusTimeout = cmp.Or(out.StatusTimeout, 2*time.Second)
	return out
}

func (c *Config) validate() error {
	if c.Store == nil {
		return errors.New("dashboard: Config.Store is required")
	}
	if c.BodyLimit < 0 {
		return errors.New("dashboard: Config.BodyLimit must not be negative")
	}
	return nil
}

// Server is the REST API on Fiber, and the Fiber app other transports
// mount on (Config.Mount).
type Server struct {
	app  *fiber.App
	cfg  Config
	st   *store.Store
	ctl  *control.Control // the service layer both transports call
	log  *slog.Logger
	doc  map[string]any // the OpenAPI document, built once
	docB []byte

	// base is cancelled by Shutdown so that open log streams end.
	base context.Context
	stop context.CancelFunc
	rid  atomic.Uint64

	status      *statusChecker // GET /status and the overview (status.go)
	healthCheck *healthCheck   // GET /health
	streaming   []string       // paths whose POST body is streamed (siteimport.go)
}

// New builds the server and registers every route.
func New(cfg *Config) (*Server, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	c := cfg.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	ctl := c.Control
	if ctl == nil {
		var err error
		if ctl, err = control.New(&control.Config{Store: c.Store, Secrets: c.Secrets, Canceller: c.Canceller, Queues: c.Queues, Logger: c.Logger, MaxTokenTTL: c.MaxTokenTTL}); err != nil {
			return nil, err
		}
	}
	s := &Server{cfg: c, st: c.Store, ctl: ctl, log: c.Logger.With("component", "dashboard")}
	s.base, s.stop = context.WithCancel(context.Background())
	s.status = newStatusChecker(s)
	s.healthCheck = &healthCheck{ping: s.st.Ping, ttl: healthTTL, timeout: c.StatusTimeout, log: s.log}
	s.app = fiber.New(fiber.Config{
		AppName:               "aegir",
		BodyLimit:             c.BodyLimit,
		ReadTimeout:           c.ReadTimeout,
		WriteTimeout:          c.WriteTimeout,
		IdleTimeout:           c.IdleTimeout,
		ErrorHandler:          s.errorHandler,
		DisableStartupMessage: true,
		CaseSensitive:         true,
		// Bodies are streamed, so an uploaded archive is never held in
		// memory; boundBody reads every other route's body, at most
		// BodyLimit. Multipart forms are parsed by the handlers that take
		// them, never before.
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
	})
	s.app.Use(recover.New())
	s.app.Use(s.requestID)
	s.app.Use(s.boundBody)
	for _, r := range s.routes() {
		h := r.handler
		if !r.op.public {
			h = s.authenticated(h, r.op.queueToken)
		}
		s.app.Add(r.method, Prefix+r.path, h)
	}
	// Other transports (the HTML dashboard), outside /api/v1.
	if c.Mount != nil {
		if err := c.Mount(s); err != nil {
			return nil, err
		}
	}
	doc, err := s.buildOpenAPI()
	if err != nil {
		return nil, err
	}
	s.docB = doc
	return s, nil
}

const Prefix = "/api/v1"

// App returns the Fiber app, for tests (app.Test) and for mounting other
// transports (Config.Mount).
func (s *Server) App() *fiber.App { return s.app }

// Serve serves on ln until Shutdown. Bind it to 127.0.0.1 unless an
// operator asked otherwise.
func (s *Server) Serve(ln net.Listener) error { return s.app.Listener(ln) }

// Shutdown ends open log streams and stops the server, waiting for
// in-flight requests until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stop()
	return s.app.ShutdownWithContext(ctx)
}

// requestID tags each request with an id, sent back in X-Request-Id and
// named in 5xx messages so an operator can find the log line.
func (s *Server) requestID(c *fiber.Ctx) error {
	id := strconv.FormatUint(s.rid.Add(1), 36)
	c.Locals(localRequestID, id)
	c.Set("X-Request-Id", id)
	return c.Next()
}

type localKey int

const (
	localRequestID localKey = iota
	localUser
	localToken
)

// RequestID is the request's id (X-Request-Id), named in 5xx messages.
func RequestID(c *fiber.Ctx) string {
	id, _ := c.Locals(localRequestID).(string)
	return id
}

// SetUser makes u the request's user, as a valid bearer token does; the
// HTML dashboard calls it for a valid session.
func SetUser(c *fiber.Ctx, u *domain.User) { c.Locals(localUser, u) }

// Control is the service layer the API calls, for other transports.
func (s *Server) Control() *control.Control { return s.ctl }

// Store is the store, for other transports' reads that need no access
// rules beyond their own (names for display).
func (s *Server) Store() *store.Store { return s.st }

// Logger is the server's logger.
func (s *Server) Logger() *slog.Logger { return s.log }

// Config is the server's configuration, with defaults filled in.
func (s *Server) Config() Config { return s.cfg }

// RecentStatus is the system status, reusing a round of checks up to
// maxAge old (the overview's System panel).
func (s *Server) RecentStatus(ctx context.Context, maxAge time.Duration) SystemStatus {
	return s.status.recent(ctx, maxAge)
}
