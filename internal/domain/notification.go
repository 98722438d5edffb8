package domain

import (
	"net"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"
)

// EventKind is what a notification is about.
type EventKind string

const (
	// EventTaskFailed: a task ended failed (the dispatcher, as it records
	// the ending).
	EventTaskFailed EventKind = "task_failed"
	// EventQueueSiteFailing: a site failed FailingAfter passes in a row of
	// a periodic queue (cron, backup, stats, verify-backup, certificates);
	// sent once per streak, when it starts.
	EventQueueSiteFailing EventKind = "queue_site_failing"
	// EventCertificateExpiring: a site's HTTPS certificate expires soon
	// and renewal failed to replace it (or it was uploaded); the
	// certificates queue sends it once per certificate.
	EventCertificateExpiring EventKind = "certificate_expiring"
	// EventDiskLow: a client uses most of its disk quota (aegir knows no
	// server's free disk); the stats queue sends it once per streak.
	EventDiskLow EventKind = "disk_low"
	// EventTest: a test notification a person asked for (aegir notify
	// test); it goes to that one subscription, whatever its events.
	EventTest EventKind = "test"
)

// EventKinds are the kinds a subscription may ask for, in the order
// forms list them.
var EventKinds = []EventKind{EventTaskFailed, EventQueueSiteFailing, EventCertificateExpiring, EventDiskLow}

// Channel is how a subscription is delivered.
type Channel string

const (
	ChannelWebhook Channel = "webhook" // an HTTPS (or HTTP) POST of JSON, HMAC-signed
	ChannelEmail   Channel = "email"   // a mail through the configured SMTP server
)

// MaxSubscriptionsPerUser bounds how many subscriptions one user keeps.
const MaxSubscriptionsPerUser = 20

// Subscription is one person's wish to hear of events: which, about what
// (ClientID: one client's, or every event they may see), and where.
// A webhook's signing secret is not here: it lives in the secrets backend
// and is shown once, when the subscription is created.
type Subscription struct {
	ID string `json:"id"`
	// UserID is the owner: only they see it and its deliveries, and it
	// sees only what they may see (a client user: their clients' events).
	UserID string `json:"user_id"`
	// ClientID limits it to one client's events; empty: every event the
	// owner may see.
	ClientID string      `json:"client_id,omitempty"`
	Channel  Channel     `json:"channel"`
	Target   string      `json:"target"` // the webhook's URL or the email address
	Events   []EventKind `json:"events"`
	// CreatedAt is when it was made.
	CreatedAt time.Time `json:"created_at"`
	Version   uint64    `json:"version"`
}

// Validate checks the subscription's fields (not who may own it).
func (s *Subscription) Validate() error {
	if !ValidID(s.UserID) {
		return Invalid("user_id", "missing owner")
	}
	if s.ClientID != "" && !ValidID(s.ClientID) {
		return Invalid("client_id", "client %q not found", Clip(s.ClientID))
	}
	switch s.Channel {
	case ChannelWebhook:
		if err := ValidateWebhookURL(s.Target); err != nil {
			return err
		}
	case ChannelEmail:
		if err := ValidateEmailAddress(s.Target); err != nil {
			return err
		}
	default:
		return Invalid("channel", "unknown channel %q; use webhook or email", Clip(string(s.Channel)))
	}
	if len(s.Events) == 0 {
		return Invalid("events", "name at least one event: %s", joinKinds(EventKinds))
	}
	for i, e := range s.Events {
		if !slices.Contains(EventKinds, e) {
			return Invalid("events", "unknown event %q; use %s", Clip(string(e)), joinKinds(EventKinds))
		}
		if slices.Contains(s.Events[:i], e) {
			return Invalid("events", "event %q named twice", e)
		}
	}
	return nil
}

// Wants reports whether the subscription asked for events of kind.
func (s *Subscription) Wants(kind EventKind) bool { return slices.Contains(s.Events, kind) }

// ParseEventKinds reads a comma list of event kinds ("task_failed,
// disk_low"); empty means every kind.
func ParseEventKinds(list string) ([]EventKind, error) {
	if strings.TrimSpace(list) == "" {
		return slices.Clone(EventKinds), nil
	}
	var out []EventKind
	for _, f := range strings.Split(list, ",") {
		k := EventKind(strings.TrimSpace(f))
		if !slices.Contains(EventKinds, k) {
			return nil, Invalid("events", "unknown event %q; use %s", Clip(string(k)), joinKinds(EventKinds))
		}
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out, nil
}

func joinKinds(ks []EventKind) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// ValidateWebhookURL accepts an absolute http or https URL with a host,
// no user info (credentials belong in the signing secret, not the URL)
// and at most 2048 bytes.
func ValidateWebhookURL(raw string) error {
	if raw == "" {
		return Invalid("target", "give the webhook's URL (https://...)")
	}
	if len(raw) > 2048 {
		return Invalid("target", "the URL is longer than 2048 bytes")
	}
	if strings.ContainsFunc(raw, func(r rune) bool { return r < 0x21 || r == 0x7f }) {
		return Invalid("target", "the URL holds spaces or control characters")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return Invalid("target", "not a URL: give https://host/path")
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return Invalid("target", "the URL must start with https:// or http://, not %q", Clip(u.Scheme))
	}
	if u.Host == "" || u.Hostname() == "" || u.Opaque != "" {
		return Invalid("target", "the URL has no host: give https://host/path")
	}
	if u.User != nil {
		return Invalid("target", "the URL must not carry a user or password; receivers check the signature instead")
	}
	if p := u.Port(); p != "" {
		if n, err := net.LookupPort("tcp", p); err != nil || n == 0 {
			return Invalid("target", "the URL's port %q is not a port number", Clip(p))
		}
	}
	if u.Fragment != "" {
		return Invalid("target", "the URL must not have a #fragment")
	}
	return nil
}

// ValidateEmailAddress accepts one bare address (user@host), at most 254
// bytes, without a display name.
func ValidateEmailAddress(s string) error {
	if s == "" {
		return Invalid("target", "give an email address")
	}
	if len(s) > 254 || strings.ContainsAny(s, "\r\n<>,;\" ") {
		return Invalid("target", "%q is not one plain email address (user@example.com)", Clip(s))
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return Invalid("target", "%q is not one plain email address (user@example.com)", Clip(s))
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return Invalid("target", "%q is not one plain email address (user@example.com)", Clip(s))
	}
	return nil
}

// Event is something that happened that subscriptions may hear of. It
// carries no secret: task explanations are redacted by the back end, and
// task arguments are left out.
type Event struct {
	ID   string    `json:"id"`
	Kind EventKind `json:"kind"`
	At   time.Time `json:"at"`
	// ClientID is the client what happened belongs to; empty for what
	// belongs to no client (a server, a platform), which only admins'
	// subscriptions hear of.
	ClientID string `json:"client_id,omitempty"`
	// Subject is one line saying what happened.
	Subject string `json:"subject"`
	// TargetKind and Target name what it happened to (site, domain).
	TargetKind TargetKind `json:"target_kind,omitempty"`
	TargetID   string     `json:"target_id,omitempty"`
	Target     string     `json:"target,omitempty"`
	// TaskID, TaskType, ErrorCode, Explanation and FixHint describe a
	// failed task (task_failed) or a queue's last failed one.
	TaskID      string   `json:"task_id,omitempty"`
	TaskType    TaskType `json:"task_type,omitempty"`
	ErrorCode   string   `json:"error_code,omitempty"`
	Explanation string   `json:"explanation,omitempty"`
	FixHint     string   `json:"fix_hint,omitempty"`
	// Queue and Failures: queue_site_failing's queue and how many passes
	// in a row failed.
	Queue    string `json:"queue,omitempty"`
	Failures int    `json:"failures,omitempty"`
	// SubscriptionID sends the event to that one subscription only (a
	// test).
	SubscriptionID string `json:"subscription_id,omitempty"`
}

// DeliveryStatus is how a delivery ended.
type DeliveryStatus string

const (
	DeliverySent   DeliveryStatus = "sent"
	DeliveryFailed DeliveryStatus = "failed" // every attempt failed, or a permanent refusal
)

// Delivery is one message sent (or not) to a subscription: one event, or
// a digest of several. Its owner sees it in the delivery log.
type Delivery struct {
	ID             string         `json:"id"`
	SubscriptionID string         `json:"subscription_id"`
	Kind           EventKind      `json:"kind"`   // the event's kind, or the first of a digest's
	Events         int            `json:"events"` // how many events it carried (more than 1: a digest)
	EventIDs       []string       `json:"event_ids,omitempty"`
	Subject        string         `json:"subject"`
	Status         DeliveryStatus `json:"status"`
	Attempts       int            `json:"attempts"`
	// Code is the receiver's last answer: an HTTP status, or an SMTP
	// reply code; 0 when it did not answer.
	Code  int       `json:"code,omitempty"`
	Error string    `json:"error,omitempty"`
	At    time.Time `json:"at"` // when it ended
}
