package notify

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
)

// SecretReader reads a webhook subscription's signing secret from the
// secrets backend.
type SecretReader interface {
	WebhookSecret(ctx context.Context, subscriptionID string) (string, error)
}

// Config configures a Notifier.
type Config struct {
	// Store holds the subscriptions, the outbox and the delivery logs.
	// Required.
	Store *store.Store
	// Secrets reads webhooks' signing secrets. Default: none, and webhook
	// deliveries fail saying so.
	Secrets SecretReader
	// Mail is the SMTP server. Default: none, and email deliveries fail
	// saying so.
	Mail *Mail
	// DigestThreshold is how many messages a subscription gets one by one
	// within DigestWindow; later events wait for the window's end and go
	// as one digest. Default: 10.
	DigestThreshold int
	// DigestWindow is that window. Default: 1m.
	DigestWindow time.Duration
	// AllowPrivate lets webhooks reach loopback, private and link-local
	// addresses. Default: false.
	AllowPrivate bool
	// MaxAttempts is how many times a delivery is tried. Default: 6.
	MaxAttempts int
	// RetryBase is the wait after the first failed attempt, doubling after
	// each further one up to RetryMax. Defaults: 2s, 5m.
	RetryBase, RetryMax time.Duration
	// AttemptTimeout bounds one attempt. Default: 15s.
	AttemptTimeout time.Duration
	// Logger receives the notifier's logs. Default: slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	c.DigestThreshold = cmp.Or(c.DigestThreshold, 10)
	c.DigestWindow = cmp.Or(c.DigestWindow, time.Minute)
	c.MaxAttempts = cmp.Or(c.MaxAttempts, 6)
	c.RetryBase = cmp.Or(c.RetryBase, 2*time.Second)
	c.RetryMax = cmp.Or(c.RetryMax, 5*time.Minute)
	c.AttemptTimeout = cmp.Or(c.AttemptTimeout, 15*time.Second)
	c.Logger = cmp.Or(c.Logger, slog.Default())
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Notifier delivers the outbox's events to the subscriptions that want
// them. Only the leader runs it (Run); see the package doc.
type Notifier struct {
	cfg    Config
	st     *store.Store
	log    *slog.Logger
	client *http.Client

	mu sync.Mutex
	// pending counts, per event id, the deliveries still to end; at 0 the
	// event leaves the outbox.
	pending map[string]int
	subs    map[string]*subState
	status  Status
	wg      sync.WaitGroup
}

// Status is what the notifier did since it last took the lead, for the
// status view.
type Status struct {
	Running bool
	// Sent and Failed count deliveries that ended.
	Sent, Failed int
	// Waiting counts the events routed and not yet delivered.
	Waiting int
	// LastFailure says why the last failed delivery failed, and when.
	LastFailure   string
	LastFailureAt time.Time
	// OutboxErr is the last error reading the outbox, nil once it reads
	// again.
	OutboxErr error
}

// Status returns what the notifier did since it last took the lead.
func (n *Notifier) Status() Status {
	n.mu.Lock()
	defer n.mu.Unlock()
	st := n.status
	st.Waiting = len(n.pending)
	return st
}

// subState is one subscription's recent sends and its open digest.
type subState struct {
	sent   []time.Time
	digest []domain.Event
}

// New checks cfg and returns a Notifier.
func New(cfg Config) (*Notifier, error) {
	if cfg.Store == nil {
		return nil, errors.New("notify: Config.Store is required")
	}
	cfg = cfg.withDefaults()
	if cfg.DigestThreshold < 1 || cfg.DigestWindow <= 0 || cfg.MaxAttempts < 1 {
		return nil, errors.New("notify: DigestThreshold, DigestWindow and MaxAttempts must be positive")
	}
	return &Notifier{cfg: cfg, st: cfg.Store, log: cfg.Logger.With("component", "notify"),
		client: newHTTPClient(cfg.AttemptTimeout, cfg.AllowPrivate), pending: map[string]int{}, subs: map[string]*subState{}}, nil
}

// Run delivers events until ctx ends, then waits for the deliveries under
// way to stop (an interrupted one is not recorded and its events stay in
// the outbox for the next leader) and returns nil.
func (n *Notifier) Run(ctx context.Context) error {
	// A leader that lost and regained the lead starts afresh: what it
	// held back last time is still in the outbox.
	n.mu.Lock()
	n.pending, n.subs, n.status = map[string]int{}, map[string]*subState{}, Status{Running: true}
	n.mu.Unlock()
	defer func() {
		n.wg.Wait()
		n.mu.Lock()
		n.status.Running = false
		n.mu.Unlock()
	}()
	seen := map[string]bool{} // events routed, until they leave the outbox
	var idx uint64
	for {
		events, next, err := n.st.WatchEvents(ctx, idx)
		if ctx.Err() != nil {
			return nil
		}
		n.mu.Lock()
		n.status.OutboxErr = err
		n.mu.Unlock()
		if err != nil {
			n.log.Warn("watch the notification outbox", "err", err)
			select {
			case <-time.After(2 * time.Second):
			case <-ctx.Done():
				return nil
			}
			continue
		}
		idx = next
		now := map[string]bool{}
		var fresh []domain.Event
		for _, e := range events {
			now[e.ID] = true
			if !seen[e.ID] {
				seen[e.ID] = true
				fresh = append(fresh, e)
			}
		}
		for id := range seen {
			if !now[id] {
				delete(seen, id)
			}
		}
		if len(fresh) > 0 {
			if err := n.route(ctx, fresh); err != nil {
				n.log.Warn("route notification events; retrying", "err", err)
				for _, e := range fresh {
					delete(seen, e.ID)
				}
				idx = 0
				select {
				case <-time.After(2 * time.Second):
				case <-ctx.Done():
					return nil
				}
			}
		}
	}
}

// route hands each event to the subscriptions that want it and may see
// it, and drops the events no one wants.
func (n *Notifier) route(ctx context.Context, events []domain.Event) error {
	subs, err := n.st.ListSubscriptions(ctx, "")
	if err != nil {
		return err
	}
	users, err := n.st.ListUsers(ctx)
	if err != nil {
		return err
	}
	byID := make(map[string]*domain.User, len(users))
	for i := range users {
		byID[users[i].ID] = &users[i]
	}
	for _, e := range events {
		var to []domain.Subscription
		for _, sub := range subs {
			if Matches(sub, byID[sub.UserID], e) {
				to = append(to, sub)
			}
		}
		if len(to) == 0 {
			if err := n.st.DeleteEvent(ctx, e.ID); err != nil {
				n.log.Warn("drop an event no one wants", "event", e.ID, "err", err)
			}
			continue
		}
		n.mu.Lock()
		n.pending[e.ID] = len(to)
		n.mu.Unlock()
		for _, sub := range to {
			n.offer(ctx, sub, e)
		}
	}
	return nil
}

// Matches reports whether sub, owned by owner, is to hear of e: it asked
// for e's kind and, unless it is this subscription's test, e belongs to a
// client its owner may see (and to its client, when it names one). Events
// of no client (a server's) reach admins only.
func Matches(sub domain.Subscription, owner *domain.User, e domain.Event) bool {
	if owner == nil || owner.ID != sub.UserID {
		return false
	}
	if e.SubscriptionID != "" || e.Kind == domain.EventTest {
		return e.SubscriptionID == sub.ID
	}
	if !sub.Wants(e.Kind) {
		return false
	}
	if sub.ClientID != "" && e.ClientID != sub.ClientID {
		return false
	}
	return owner.CanSeeClient(e.ClientID)
}

// offer sends e to sub now, or adds it to sub's digest when sub already
// had DigestThreshold messages within the window.
func (n *Notifier) offer(ctx context.Context, sub domain.Subscription, e domain.Event) {
	// Tests count too: asking for many cannot flood an address either.
	n.mu.Lock()
	defer n.mu.Unlock()
	st := n.subs[sub.ID]
	if st == nil {
		st = &subState{}
		n.subs[sub.ID] = st
	}
	if st.digest != nil {
		st.digest = append(st.digest, e)
		return
	}
	now := n.cfg.Now()
	kept := st.sent[:0]
	for _, t := range st.sent {
		if now.Sub(t) < n.cfg.DigestWindow {
			kept = append(kept, t)
		}
	}
	st.sent = kept
	if len(st.sent) < n.cfg.DigestThreshold {
		st.sent = append(st.sent, now)
		n.wg.Go(func() { n.deliver(ctx, sub, []domain.Event{e}) })
		return
	}
	st.digest = []domain.Event{e}
	n.wg.Go(func() {
		select {
		case <-time.After(n.cfg.DigestWindow):
		case <-ctx.Done():
			return // its events stay in the outbox
		}
		n.mu.Lock()
		evs := st.digest
		st.digest = nil
		st.sent = append(st.sent, n.cfg.Now())
		n.mu.Unlock()
		n.deliver(ctx, sub, evs)
	})
}
