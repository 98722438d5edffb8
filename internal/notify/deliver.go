package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
)

// Payload is a webhook's JSON body: one event, or a digest of several.
type Payload struct {
	DeliveryID     string `json:"delivery_id"`
	SubscriptionID string `json:"subscription_id"`
	// Kind is the event's kind, or "digest" for several.
	Kind    string         `json:"kind"`
	Subject string         `json:"subject"`
	SentAt  time.Time      `json:"sent_at"`
	Events  []domain.Event `json:"events"`
}

// deliver sends evs to sub as one message, with retries, records the
// delivery in sub's log and then lets the events leave the outbox. When
// ctx ends first nothing is recorded and the events stay.
func (n *Notifier) deliver(ctx context.Context, sub domain.Subscription, evs []domain.Event) {
	evs = n.forOwner(ctx, sub, evs)
	d := &domain.Delivery{ID: domain.NewID(), SubscriptionID: sub.ID, Kind: evs[0].Kind, Events: len(evs)}
	for _, e := range evs {
		d.EventIDs = append(d.EventIDs, e.ID)
	}
	kind := string(evs[0].Kind)
	d.Subject = evs[0].Subject
	if len(evs) > 1 {
		kind = "digest"
		d.Subject = fmt.Sprintf("%d events: %s, and %d more", len(evs), evs[0].Subject, len(evs)-1)
	}
	for i := range evs {
		evs[i].SubscriptionID = "" // routing, not for the receiver
	}
	send, err := n.sender(ctx, sub, d, kind, evs)
	for try := 1; err == nil; try++ {
		a := send(n.cfg.Now())
		d.Attempts, d.Code = try, a.code
		if a.err == nil {
			d.Status, d.Error = domain.DeliverySent, ""
			break
		}
		if ctx.Err() != nil {
			return // interrupted, not refused: the next leader sends it
		}
		d.Error = clip(a.err.Error(), 500)
		if !a.retry || try >= n.cfg.MaxAttempts {
			d.Status = domain.DeliveryFailed
			break
		}
		wait := min(n.cfg.RetryBase<<(try-1), n.cfg.RetryMax)
		n.log.Debug("delivery attempt failed; retrying", "subscription", sub.ID, "delivery", d.ID, "attempt", try, "wait", wait, "err", a.err)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return
		}
	}
	if err != nil {
		d.Status, d.Error = domain.DeliveryFailed, clip(err.Error(), 500)
	}
	// The message went (or was refused for good): record it and let its
	// events go even when the leader is stopping meanwhile, so the next
	// one does not send it again.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	d.At = n.cfg.Now().UTC()
	if err := n.st.AddDelivery(ctx, d); err != nil && !errors.Is(err, domain.ErrNotFound) {
		n.log.Warn("record a delivery", "subscription", sub.ID, "delivery", d.ID, "err", err)
	}
	n.mu.Lock()
	if d.Status == domain.DeliveryFailed {
		n.status.Failed++
		n.status.LastFailure, n.status.LastFailureAt = fmt.Sprintf("%s to subscription %s: %s", sub.Channel, sub.ID, d.Error), d.At
	} else {
		n.status.Sent++
	}
	n.mu.Unlock()
	if d.Status == domain.DeliveryFailed {
		n.log.Warn("notification not delivered", "subscription", sub.ID, "channel", sub.Channel, "delivery", d.ID, "attempts", d.Attempts, "err", d.Error)
	} else {
		n.log.Info("notification delivered", "subscription", sub.ID, "channel", sub.Channel, "delivery", d.ID, "events", d.Events)
	}
	for _, e := range evs {
		n.done(ctx, e.ID)
	}
}

// forOwner returns evs as sub's owner may read them: as written for an
// admin; for anyone else (or an owner that cannot be read) a copy with
// the paths and server addresses in the tasks' words hidden, as the API
// hides them from client users (domain.ClientRedactor).
func (n *Notifier) forOwner(ctx context.Context, sub domain.Subscription, evs []domain.Event) []domain.Event {
	if owner, err := n.st.GetUser(ctx, sub.UserID); err == nil && owner.Role == domain.RoleAdmin {
		return evs
	}
	var addrs []string
	if servers, err := n.st.ListServers(ctx); err == nil {
		for _, srv := range servers {
			if srv.Address != "" {
				addrs = append(addrs, srv.Address)
			}
		}
	} else {
		n.log.Warn("read the servers' addresses to hide them from a client user's notification; paths and IP addresses are still hidden", "subscription", sub.ID, "err", err)
	}
	r := domain.ClientRedactor(addrs)
	out := make([]domain.Event, len(evs))
	for i, e := range evs {
		e.Subject, e.Explanation, e.FixHint = r(e.Subject), r(e.Explanation), r(e.FixHint)
		out[i] = e
	}
	return out
}

// sender prepares one message for sub and returns the function that tries
// it once; an error means it cannot be sent at all.
func (n *Notifier) sender(ctx context.Context, sub domain.Subscription, d *domain.Delivery, kind string, evs []domain.Event) (func(time.Time) attempt, error) {
	switch sub.Channel {
	case domain.ChannelWebhook:
		if n.cfg.Secrets == nil {
			return nil, errors.New("no secrets backend to read the webhook's signing secret from")
		}
		secret, err := n.cfg.Secrets.WebhookSecret(ctx, sub.ID)
		if err == nil && secret == "" {
			err = errors.New("it is empty")
		}
		if err != nil {
			return nil, fmt.Errorf("read the webhook's signing secret: %w (remove the subscription and add it again)", err)
		}
		body, err := json.Marshal(Payload{DeliveryID: d.ID, SubscriptionID: sub.ID, Kind: kind, Subject: d.Subject, SentAt: n.cfg.Now().UTC(), Events: evs})
		if err != nil {
			return nil, err
		}
		return func(now time.Time) attempt {
			return postWebhook(ctx, n.client, sub.Target, secret, d.ID, kind, body, now)
		}, nil
	case domain.ChannelEmail:
		subject := "[aegir] " + d.Subject
		text := mailText(evs)
		return func(now time.Time) attempt {
			return sendMail(ctx, n.cfg.Mail, sub.Target, subject, text, d.ID, now, n.cfg.AttemptTimeout)
		}, nil
	}
	return nil, fmt.Errorf("unknown channel %q", sub.Channel)
}

// mailText is the body of a notification mail.
func mailText(evs []domain.Event) string {
	var b strings.Builder
	if len(evs) > 1 {
		fmt.Fprintf(&b, "%d events arrived together; one message for all of them.\n\n", len(evs))
	}
	for i, e := range evs {
		if i > 0 {
			b.WriteString("\n----\n\n")
		}
		fmt.Fprintf(&b, "%s\n", e.Subject)
		fmt.Fprintf(&b, "When: %s\n", e.At.UTC().Format(time.RFC3339))
		if e.Target != "" {
			fmt.Fprintf(&b, "What: %s %s\n", e.TargetKind, e.Target)
		}
		if e.TaskID != "" {
			fmt.Fprintf(&b, "Task: %s %s (aegir task show %s)\n", e.TaskType, e.TaskID, e.TaskID)
		}
		if e.ErrorCode != "" {
			fmt.Fprintf(&b, "Error: %s\n", e.ErrorCode)
		}
		if e.Explanation != "" {
			fmt.Fprintf(&b, "\n%s\n", e.Explanation)
		}
		if e.FixHint != "" {
			fmt.Fprintf(&b, "\nWhat to do: %s\n", e.FixHint)
		}
	}
	b.WriteString("\n-- \naegir notifications: aegir notify list shows your subscriptions; aegir notify remove ID stops one.\n")
	return b.String()
}

// done counts one delivery of an event as ended; the last one removes the
// event from the outbox.
func (n *Notifier) done(ctx context.Context, eventID string) {
	n.mu.Lock()
	n.pending[eventID]--
	last := n.pending[eventID] <= 0
	if last {
		delete(n.pending, eventID)
	}
	n.mu.Unlock()
	if last {
		if err := n.st.DeleteEvent(ctx, eventID); err != nil {
			n.log.Warn("remove a delivered event from the outbox", "event", eventID, "err", err)
		}
	}
}

func clip(s string, n int) string {
	if len(s) > n {
		s = s[:n] + "…"
	}
	return strings.ToValidUTF8(s, "")
}
