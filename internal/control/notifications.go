package control

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"strings"

	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/domain"
)

// WebhookSecrets keeps webhook subscriptions' signing secrets in the
// secrets backend. Config.Secrets provides it when it has these methods
// (the server's secrets writer does); without it webhooks cannot be
// created (ErrUnavailable), email subscriptions still can.
type WebhookSecrets interface {
	PutWebhookSecret(ctx context.Context, subscriptionID, secret string) error
	DeleteWebhookSecret(ctx context.Context, subscriptionID string) error
}

// Notifications are people's subscriptions to events (task failures,
// queue sites that keep failing...), each their own: a user sees and
// changes only their own subscriptions and delivery logs (an admin may
// remove anyone's), and a client user may subscribe only to their own
// clients' events. Deliveries are the leader's (internal/notify).
type Notifications struct{ *base }

// List returns the actor's own subscriptions.
func (s *Notifications) List(ctx context.Context, a Actor) ([]domain.Subscription, error) {
	if a.User() == nil {
		return nil, domain.ErrForbidden
	}
	return s.st.ListSubscriptions(ctx, a.User().ID)
}

// Create subscribes the actor. A webhook gets a new signing secret,
// returned here only: it is kept in the secrets backend and never shown
// again.
func (s *Notifications) Create(ctx context.Context, a Actor, req apiv1.SubscriptionCreate) (*domain.Subscription, string, error) {
	u := a.User()
	if u == nil || u.Role == domain.RoleQueue {
		return nil, "", refuse(domain.ErrForbidden, "only admins and client users can subscribe to notifications")
	}
	sub := &domain.Subscription{UserID: u.ID, ClientID: strings.TrimSpace(req.ClientID), Events: req.Events}
	switch w, m := strings.TrimSpace(req.Webhook), strings.TrimSpace(req.Email); {
	case w != "" && m != "":
		return nil, "", domain.Invalid("target", "give a webhook URL or an email address, not both")
	case w != "":
		sub.Channel, sub.Target = domain.ChannelWebhook, w
	case m != "":
		sub.Channel, sub.Target = domain.ChannelEmail, m
	default:
		return nil, "", domain.Invalid("target", "give a webhook URL (https://...) or an email address")
	}
	if len(sub.Events) == 0 {
		sub.Events = append([]domain.EventKind(nil), domain.EventKinds...)
	}
	if sub.ClientID != "" {
		if err := a.ownClient("client_id", sub.ClientID); err != nil {
			return nil, "", err
		}
	}
	if err := sub.Validate(); err != nil {
		return nil, "", err
	}
	ws, _ := s.secrets.(WebhookSecrets)
	if sub.Channel == domain.ChannelWebhook && ws == nil {
		return nil, "", Unavailable("a secrets backend for webhook signing keys")
	}
	ctx = a.record(ctx, "create", "subscription", "", sub.ClientID, func(e *domain.AuditEntry) {
		e.Fields = auditSubscription(sub)
	})
	if err := s.st.CreateSubscription(ctx, sub); err != nil {
		return nil, "", err
	}
	if sub.Channel != domain.ChannelWebhook {
		return sub, "", nil
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, "", err
	}
	secret := hex.EncodeToString(raw[:])
	if err := ws.PutWebhookSecret(ctx, sub.ID, secret); err != nil {
		if derr := s.st.DeleteSubscription(context.WithoutCancel(ctx), sub.ID, 0); derr != nil {
			s.log.Error("remove a webhook subscription whose secret could not be stored", "subscription", sub.ID, "err", derr)
		}
		return nil, "", err
	}
	return sub, secret, nil
}

// auditSubscription is what the audit log keeps of a subscription: a
// webhook's host only, since some receivers put a key in the URL's path.
func auditSubscription(sub *domain.Subscription) map[string]string {
	target := sub.Target
	if sub.Channel == domain.ChannelWebhook {
		if u, err := url.Parse(sub.Target); err == nil {
			target = u.Scheme + "://" + u.Host
		}
	}
	ev := make([]string, len(sub.Events))
	for i, e := range sub.Events {
		ev[i] = string(e)
	}
	return map[string]string{"channel": string(sub.Channel), "target": target, "events": strings.Join(ev, ","), "client_id": sub.ClientID}
}

// own returns a subscription the actor owns (or any, for an admin when
// anyone is true); any other is not found.
func (s *Notifications) own(ctx context.Context, a Actor, id string, anyone bool) (*domain.Subscription, error) {
	if a.User() == nil {
		return nil, domain.NotFound("subscription", id)
	}
	sub, err := s.st.GetSubscription(ctx, id)
	if err != nil {
		return nil, err
	}
	if sub.UserID != a.User().ID && !(anyone && a.Admin()) {
		return nil, domain.NotFound("subscription", id)
	}
	return sub, nil
}

// Get returns one of the actor's subscriptions.
func (s *Notifications) Get(ctx context.Context, a Actor, id string) (*domain.Subscription, error) {
	return s.own(ctx, a, id, false)
}

// Remove deletes a subscription of the actor's (an admin: anyone's), its
// delivery log and its signing secret.
func (s *Notifications) Remove(ctx context.Context, a Actor, id string) error {
	sub, err := s.own(ctx, a, id, true)
	if err != nil {
		return err
	}
	ctx = a.record(ctx, "delete", "subscription", id, sub.ClientID, func(e *domain.AuditEntry) {
		e.Fields = auditSubscription(sub)
	})
	if err := s.st.DeleteSubscription(ctx, id, sub.Version); err != nil {
		return err
	}
	if ws, _ := s.secrets.(WebhookSecrets); ws != nil && sub.Channel == domain.ChannelWebhook {
		if err := ws.DeleteWebhookSecret(ctx, id); err != nil {
			s.log.Warn("delete a removed webhook's signing secret", "subscription", id, "err", err)
		}
	}
	return nil
}

// Test queues a test event for one of the actor's subscriptions; the
// leader delivers it like any other, and the delivery log shows how it
// went.
func (s *Notifications) Test(ctx context.Context, a Actor, id string) (string, error) {
	sub, err := s.own(ctx, a, id, false)
	if err != nil {
		return "", err
	}
	e := &domain.Event{Kind: domain.EventTest, ClientID: sub.ClientID, SubscriptionID: sub.ID,
		Subject: "Test notification from aegir, asked for by " + a.Name()}
	if err := s.st.AddEvent(ctx, e); err != nil {
		return "", err
	}
	return e.ID, nil
}

// Deliveries returns the delivery log of one of the actor's subscriptions
// (an admin: anyone's), newest first.
func (s *Notifications) Deliveries(ctx context.Context, a Actor, id string) ([]domain.Delivery, error) {
	if _, err := s.own(ctx, a, id, true); err != nil {
		return nil, err
	}
	return s.st.ListDeliveries(ctx, id)
}

// removeAllOf removes a deleted user's subscriptions and their secrets,
// logging what it could not remove (the notifier ignores subscriptions
// whose owner is gone anyway).
func (s *Notifications) removeAllOf(ctx context.Context, userID string) {
	subs, err := s.st.ListSubscriptions(ctx, userID)
	if err != nil {
		s.log.Warn("list a deleted user's subscriptions", "user", userID, "err", err)
		return
	}
	ws, _ := s.secrets.(WebhookSecrets)
	for _, sub := range subs {
		if err := s.st.DeleteSubscription(ctx, sub.ID, sub.Version); err != nil {
			s.log.Warn("remove a deleted user's subscription", "subscription", sub.ID, "err", err)
			continue
		}
		if ws != nil && sub.Channel == domain.ChannelWebhook {
			if err := ws.DeleteWebhookSecret(ctx, sub.ID); err != nil {
				s.log.Warn("delete a removed webhook's signing secret", "subscription", sub.ID, "err", err)
			}
		}
	}
}
