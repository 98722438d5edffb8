package queue

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/locks"
	"github.com/aegirhq/aegir/internal/store"
)

// Config configures the queues.
type Config struct {
	// Store holds the sites, tasks and backups, and the queues' own
	// records (Store.GetQueueRecord and the like). Required.
	Store *store.Store
	// Locker keeps a queue's passes from overlapping ("queue/<name>").
	// Required.
	Locker locks.Locker
	// Logger receives the queues' logs. Default: slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// Poll is how often a pass looks at the tasks it queued. Default: 250ms.
	Poll time.Duration
	// LockTTL is the lease of a pass's lock (renewed while held).
	// Default: 1m.
	LockTTL time.Duration
	// KeepOutputs is how many cron outputs are kept per site. Default: 5.
	KeepOutputs int
	// Progress is how often a running pass writes its progress to its
	// record when it changed; it writes at least every LockTTL/4 anyway,
	// so a record that stops changing for 2 × LockTTL is reported lost.
	// Default: 1s.
	Progress time.Duration
	// OnSettings is called after PutSettings stored a queue's new
	// settings, e.g. to re-register its Nomad periodic job when its
	// interval changed. It must not block. Default: none.
	OnSettings func(name string, s Settings)
	// Events hears of a site that has just failed FailingAfter passes in
	// a row (once per streak), for notifications. Default: none.
	// It also hears of certificate_expiring and disk_low (warnings.go).
	Events SiteEvents
	// StartRetry is how long a pass that cannot start because the store
	// or Redis does not answer is retried (with backoff) before StartPass
	// or RunPass gives up (startretry.go). Default: 30s.
	StartRetry time.Duration
	// EndRetry is how long a pass whose end (its runs, its record) cannot
	// be written because the store does not answer retries, holding its
	// lock, before it gives up and its record shows lost (at most 10s
	// once Close has been called). Default: 2m.
	EndRetry time.Duration
	// RenewWindow is how long before expiry the certificates queue
	// renews a site's certificate. Default 30 days.
	RenewWindow time.Duration
	// ExpiryWarning: a certificate that expires within it and that
	// renewal failed to replace (or that was uploaded) is warned of
	// (certificate_expiring, warnings.go). Default 14 days.
	ExpiryWarning time.Duration
	// QuotaDefaults are the configuration's default quotas (those an
	// admin stored override them, and a client's own override both), for
	// the disk_low warning. Default: none.
	QuotaDefaults domain.Quotas
	// DiskWarnPercent is the share of its disk quota at which a client
	// is warned of (disk_low). Default 90.
	DiskWarnPercent int
}

// Queues runs the periodic queues: passes (RunPass), their settings and
// what they recorded. Safe for concurrent use.
type Queues struct {
	cfg Config
	st  *store.Store
	log *slog.Logger

	// base ends the passes StartPass runs in the background; Close
	// cancels it and waits for them (wg) to record how far they got.
	base   context.Context
	stop   context.CancelFunc
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// New checks cfg and returns the queues.
func New(cfg Config) (*Queues, error) {
	if cfg.Store == nil || cfg.Locker == nil {
		return nil, errors.New("queue: Config.Store and Config.Locker are required")
	}
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Poll = cmp.Or(cfg.Poll, 250*time.Millisecond)
	cfg.LockTTL = cmp.Or(cfg.LockTTL, time.Minute)
	cfg.KeepOutputs = cmp.Or(cfg.KeepOutputs, 5)
	cfg.Progress = cmp.Or(cfg.Progress, time.Second)
	cfg.StartRetry = cmp.Or(cfg.StartRetry, 30*time.Second)
	cfg.EndRetry = cmp.Or(cfg.EndRetry, 2*time.Minute)
	cfg.RenewWindow = cmp.Or(cfg.RenewWindow, 30*24*time.Hour)
	cfg.ExpiryWarning = cmp.Or(cfg.ExpiryWarning, 14*24*time.Hour)
	cfg.DiskWarnPercent = cmp.Or(cfg.DiskWarnPercent, 90)
	q := &Queues{cfg: cfg, st: cfg.Store, log: cfg.Logger.With("component", "queues")}
	q.base, q.stop = context.WithCancel(context.Background())
	return q, nil
}

// SiteEvents is told of sites that keep failing in a queue, and of the
// warnings the queues find (warnings.go). The queues log its errors; they
// never change a pass.
type SiteEvents interface {
	SiteFailing(ctx context.Context, queue string, site domain.Site, run Run) error
	// CertificateExpiring: site's certificate c expires soon and nothing
	// renewed it.
	CertificateExpiring(ctx context.Context, site domain.Site, c domain.Certificate, now time.Time) error
	// DiskLow: client cl uses used bytes of its disk quota of limit.
	DiskLow(ctx context.Context, cl domain.Client, used, limit int64) error
}

// ErrPassRunning means a pass of the queue is already running somewhere.
var ErrPassRunning = fmt.Errorf("a pass of this queue is already running; wait for it to end: %w", domain.ErrConflict)

// Settings returns a queue's settings (its defaults, version 0, until
// someone stores others).
func (q *Queues) Settings(ctx context.Context, name string) (Settings, error) {
	if !Known(name) {
		return Settings{}, domain.NotFound("queue", name)
	}
	var s Settings
	version, ok, err := q.getJSON(ctx, store.QueueSettingsKey(name), &s)
	if err != nil {
		return Settings{}, err
	}
	if !ok {
		return Defaults(name), nil
	}
	s.Version = version
	return s, nil
}

// PutSettings validates and stores a queue's settings, check-and-set on
// s.Version (0: the queue still has its defaults). It returns the stored
// settings with their new version.
func (q *Queues) PutSettings(ctx context.Context, name string, s Settings) (Settings, error) {
	if err := ValidateSettings(&s, name); err != nil {
		return Settings{}, err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return Settings{}, err
	}
	version, err := q.st.PutQueueRecord(ctx, store.QueueSettingsKey(name), b, s.Version)
	if errors.Is(err, store.ErrCASFailed) {
		return Settings{}, fmt.Errorf("the %s queue's settings changed since version %d; read them again: %w", name, s.Version, domain.ErrConflict)
	}
	if err != nil {
		return Settings{}, err
	}
	s.Version = version
	if q.cfg.OnSettings != nil {
		q.cfg.OnSettings(name, s)
	}
	return s, nil
}

// getJSON reads and decodes one record and returns its version; ok is
// false when it does not exist.
func (q *Queues) getJSON(ctx context.Context, key store.QueueKey, v any) (uint64, bool, error) {
	rec, err := q.st.GetQueueRecord(ctx, key)
	if errors.Is(err, store.ErrKeyNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	if err := json.Unmarshal(rec.Value, v); err != nil {
		return 0, false, fmt.Errorf("decode the queues' record %s: %w", key, err)
	}
	return rec.Version, true, nil
}

// Runs returns every site's run record of a queue, by site id.
func (q *Queues) Runs(ctx context.Context, name string) (map[string]Run, error) {
	recs, err := q.st.ListQueueRecords(ctx, store.QueueRuns(name))
	if err != nil {
		return nil, err
	}
	out := make(map[string]Run, len(recs))
	for _, rec := range recs {
		var r Run
		if err := json.Unmarshal(rec.Value, &r); err != nil {
			q.log.Warn("skipping an undecodable run record", "queue", name, "site", rec.ID, "err", err)
			continue
		}
		out[rec.ID] = r
	}
	return out, nil
}

// putRuns writes run records. Only the holder of the queue's lock writes
// them, so they are plain sets.
func (q *Queues) putRuns(ctx context.Context, name string, runs map[string]Run) error {
	recs := make(map[store.QueueKey][]byte, len(runs))
	set := store.QueueRuns(name)
	for id, r := range runs {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		recs[set.Key(id)] = b
	}
	return q.st.SetQueueRecords(ctx, recs)
}

// siteStates reads every site and whether its platform is locked.
func (q *Queues) siteStates(ctx context.Context) ([]SiteState, map[string]*domain.Site, error) {
	ps, err := q.st.ListPlatforms(ctx)
	if err != nil {
		return nil, nil, err
	}
	locked := map[string]bool{}
	for _, p := range ps {
		locked[p.ID] = p.Locked || p.Status == domain.PlatformDeleted
	}
	var out []SiteState
	byID := map[string]*domain.Site{}
	for off := 0; ; {
		page, err := q.st.ListSites(ctx, store.SiteFilter{Offset: off, Limit: 1000})
		if err != nil {
			return nil, nil, err
		}
		for i := range page.Items {
			s := &page.Items[i]
			out = append(out, SiteState{ID: s.ID, Status: s.Status, PlatformLocked: locked[s.PlatformID]})
			byID[s.ID] = s
		}
		off += len(page.Items)
		if len(page.Items) == 0 || off >= page.Total {
			return out, byID, nil
		}
	}
}

// Status is a queue's overview; FailingSite a site that keeps failing in
// it (internal/apiv1).
type (
	Status      = apiv1.QueueStatus
	FailingSite = apiv1.QueueFailingSite
)

// Status returns a queue's overview: settings, last and next pass,
// backlog and failing sites.
func (q *Queues) Status(ctx context.Context, name string) (*Status, error) {
	s, err := q.Settings(ctx, name)
	if err != nil {
		return nil, err
	}
	st := &Status{Name: name, Settings: s, Failing: []FailingSite{}}
	var last PassReport
	if _, ok, err := q.getJSON(ctx, store.QueueLastPassKey(name), &last); err != nil {
		return nil, err
	} else if ok {
		if last.State == "" {
			last.State = PassDone // recorded before passes had states
		}
		st.LastPass = &last
		next := last.Started.Add(s.Interval.D())
		st.NextPass = &next
	}
	if st.Current, err = q.runningPass(ctx, name); err != nil {
		return nil, err
	}
	if st.Current != nil && st.LastPass != nil && st.Current.ID == st.LastPass.ID {
		st.Current = nil // ended: its last-pass record is written just before its own
	}
	sites, byID, err := q.siteStates(ctx)
	if err != nil {
		return nil, err
	}
	runs, err := q.Runs(ctx, name)
	if err != nil {
		return nil, err
	}
	p := PlanPass(sites, runs, q.cfg.Now(), s)
	st.Eligible, st.Backlog, st.FailingTotal = p.Eligible, p.Backlog, len(p.Failing)
	for _, id := range p.Failing[:min(len(p.Failing), 100)] {
		r := runs[id]
		st.Failing = append(st.Failing, FailingSite{SiteID: id, Domain: byID[id].Domain, Run: r, Retry: r.Last.Add(Backoff(r.Failures, s))})
	}
	return st, nil
}

// List returns every queue's overview.
func (q *Queues) List(ctx context.Context) ([]Status, error) {
	out := make([]Status, 0, len(Names))
	for _, n := range Names {
		st, err := q.Status(ctx, n)
		if err != nil {
			return nil, err
		}
		out = append(out, *st)
	}
	return out, nil
}

func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
