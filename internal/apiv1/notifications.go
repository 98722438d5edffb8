package apiv1

import "github.com/aegirhq/aegir/internal/domain"

// SubscriptionCreate is the body of POST /notifications: one of Webhook
// (an http or https URL) or Email (an address); Events is the kinds to
// hear of (empty: every kind); ClientID limits it to one client's events
// (a client user may name only their own clients; empty: every event the
// user may see).
type SubscriptionCreate struct {
	Webhook  string             `json:"webhook,omitempty"`
	Email    string             `json:"email,omitempty"`
	Events   []domain.EventKind `json:"events,omitempty"`
	ClientID string             `json:"client_id,omitempty"`
}

// SubscriptionCreated is the answer to POST /notifications. Secret is a
// webhook's signing key (HMAC-SHA256 of each body, header
// X-Aegir-Signature): shown only in this answer, never again.
type SubscriptionCreated struct {
	Subscription *domain.Subscription `json:"subscription"`
	Secret       string               `json:"secret,omitempty"`
}

// NotificationTest is the answer to POST /notifications/{id}/test: the
// test event queued for the leader's notifier; its delivery appears in
// the subscription's delivery log with this event id.
type NotificationTest struct {
	EventID string `json:"event_id"`
}
