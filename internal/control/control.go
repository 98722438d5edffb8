package control

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
)

// CredentialWriter stores a database service's admin credentials in the
// secrets backend. They are never kept in the store or echoed.
type CredentialWriter interface {
	PutServiceCredentials(ctx context.Context, serviceID, username, password string) error
}

// Canceller stops a running task: the dispatcher kills its runner and then
// finishes the task as cancelled. Queued tasks are cancelled in the store.
type Canceller interface {
	Cancel(ctx context.Context, taskID, by string) error
}

// Config configures the service layer.
type Config struct {
	// Store is the repository. Required.
	Store *store.Store
	// Secrets stores service credentials. Default: nil, and storing
	// credentials fails with ErrUnavailable.
	Secrets CredentialWriter
	// Canceller stops running tasks. Default: nil, and cancelling a running
	// task fails with domain.ErrConflict (queued tasks can always be
	// cancelled).
	Canceller Canceller
	// Queues are the periodic queues. Default: nil, and every Queues
	// method fails with ErrUnavailable.
	Queues QueueRunner
	// Logger receives a line for each change of the queues. Default:
	// slog.Default().
	Logger *slog.Logger
	// MaxTokenTTL bounds the lifetime of the API tokens people create: a
	// longer ttl is refused, and a token asked for without one lasts this
	// long. Default: DefaultMaxTokenTTL.
	MaxTokenTTL time.Duration
	// ImportDir is where uploaded site archives are written (POST
	// /sites/import); the back end reads them there, so it must be a
	// directory the web servers' back ends see (one machine, or shared
	// storage). Default: "", and importing fails with ErrUnavailable.
	ImportDir string
	// MaxImportSize bounds an uploaded site archive, in bytes. Default:
	// DefaultMaxImportSize.
	MaxImportSize int64
	// Quotas are the default quotas of every client (domain.QuotaNames; a
	// client's own override them; 0 or missing: no limit). Default: none.
	Quotas domain.Quotas
}

// DefaultMaxImportSize is Config.MaxImportSize's default: 1 GiB.
const DefaultMaxImportSize = 1 << 30

// DefaultMaxTokenTTL is Config.MaxTokenTTL's default: a year.
const DefaultMaxTokenTTL = 365 * 24 * time.Hour

// Control holds one service per resource, all on the same store.
type Control struct {
	Sites     *Sites
	Platforms *Platforms
	Servers   *Servers
	Services  *Services
	Clients   *Clients
	Users     *Users
	Tokens    *Tokens
	Tasks     *Tasks
	Backups   *Backups
	Packages  *Packages
	Queues    *Queues
	Audit     *Audit

	Notifications *Notifications
}

// New builds the services.
func New(cfg *Config) (*Control, error) {
	if cfg == nil || cfg.Store == nil {
		return nil, errors.New("control: Config.Store is required")
	}
	if cfg.MaxImportSize < 0 {
		return nil, errors.New("control: Config.MaxImportSize must not be negative")
	}
	if err := cfg.Quotas.Validate("quotas"); err != nil {
		return nil, err
	}
	if cfg.MaxTokenTTL < 0 {
		return nil, errors.New("control: Config.MaxTokenTTL must not be negative")
	}
	b := &base{st: cfg.Store, secrets: cfg.Secrets, canceller: cfg.Canceller, queues: cfg.Queues,
		log:         cmp.Or(cfg.Logger, slog.Default()).With("component", "control"),
		maxTokenTTL: cmp.Or(cfg.MaxTokenTTL, DefaultMaxTokenTTL),
		importDir:   cfg.ImportDir, maxImportSize: cmp.Or(cfg.MaxImportSize, DefaultMaxImportSize),
		quotas: maps.Clone(cfg.Quotas)}
	return &Control{
		Sites: &Sites{b}, Platforms: &Platforms{b}, Servers: &Servers{b}, Services: &Services{b},
		Clients: &Clients{b}, Users: &Users{b}, Tokens: &Tokens{b}, Tasks: &Tasks{b},
		Backups: &Backups{b}, Packages: &Packages{b}, Queues: &Queues{b}, Audit: &Audit{b},
		Notifications: &Notifications{b},
	}, nil
}

// base is what every service shares.
type base struct {
	st        *store.Store
	secrets   CredentialWriter
	canceller Canceller
	queues    QueueRunner
	log       *slog.Logger
	// maxTokenTTL bounds tokens' lifetimes (Config.MaxTokenTTL).
	maxTokenTTL time.Duration
	// importDir and maxImportSize: Config.ImportDir and MaxImportSize.
	importDir     string
	maxImportSize int64
	// quotas are the clients' default quotas (Config.Quotas).
	quotas domain.Quotas
}

// ErrUnavailable says a part of the server a request needs is not
// configured in this process (no secrets backend, no dispatcher).
var ErrUnavailable = errors.New("unavailable")

// Refusal is an error whose message is meant for the person who asked,
// as it is, and whose identity (Kind: domain.ErrForbidden, ErrConflict,
// ErrUnavailable...) decides how a transport answers.
type Refusal struct {
	Kind    error
	Message string
}

func (e *Refusal) Error() string { return e.Message }
func (e *Refusal) Unwrap() error { return e.Kind }

func refuse(kind error, format string, args ...any) error {
	return &Refusal{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// Unavailable refuses a request that needs what; the message says what
// the operator can do.
func Unavailable(what string) error {
	return refuse(ErrUnavailable, "%s is not available on this server; it runs without one (check how aegir was started)", what)
}
