package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aegirhq/aegir/internal/domain"
)

// Notifications keep three collections:
//
//   - notify/subs/<id>: the subscriptions (domain.Subscription);
//   - notify/events/<id>: the outbox of events not yet delivered, written
//     by whoever saw the event (the dispatcher, a queue pass, a person's
//     test) and emptied by the leader's notifier once every subscription
//     that wants the event has had its delivery (ids sort by time);
//   - notify/deliveries/<subscription id>/<id>: each subscription's
//     delivery log, the newest KeepDeliveries.
const (
	prefixNotifySubs       = "notify/subs/"
	prefixNotifyEvents     = "notify/events/"
	prefixNotifyDeliveries = "notify/deliveries/"
)

// KeepDeliveries is how many deliveries a subscription's log keeps.
const KeepDeliveries = 50

func setSubscriptionVersion(v *domain.Subscription, n uint64) { v.Version = n }

// CreateSubscription validates and stores a new subscription for an
// existing user (and client, when it names one), at most
// domain.MaxSubscriptionsPerUser per user. Who may subscribe to what is
// the caller's to check.
func (s *Store) CreateSubscription(ctx context.Context, sub *domain.Subscription) error {
	if err := sub.Validate(); err != nil {
		return err
	}
	if _, err := s.GetUser(ctx, sub.UserID); err != nil {
		return err
	}
	if sub.ClientID != "" {
		if _, err := s.GetClient(ctx, sub.ClientID); err != nil {
			return domain.Invalid("client_id", "client %q not found", sub.ClientID)
		}
	}
	own, err := s.ListSubscriptions(ctx, sub.UserID)
	if err != nil {
		return err
	}
	if len(own) >= domain.MaxSubscriptionsPerUser {
		return domain.Invalid("target", "a user keeps at most %d subscriptions; remove one first", domain.MaxSubscriptionsPerUser)
	}
	sub.ID = domain.NewID()
	sub.CreatedAt = s.now().UTC()
	t := newTx()
	if err := t.create(prefixNotifySubs+sub.ID, sub, nil); err != nil {
		return err
	}
	pairs, err := s.commit(ctx, t)
	if err != nil {
		return err
	}
	sub.Version = versionOf(pairs, 0)
	return nil
}

// GetSubscription returns one subscription.
func (s *Store) GetSubscription(ctx context.Context, id string) (*domain.Subscription, error) {
	return get(ctx, s.kv, prefixNotifySubs+id, "subscription", id, setSubscriptionVersion)
}

// ListSubscriptions returns a user's subscriptions (everyone's when
// userID is empty), oldest first.
func (s *Store) ListSubscriptions(ctx context.Context, userID string) ([]domain.Subscription, error) {
	all, err := list(ctx, s.kv, prefixNotifySubs, setSubscriptionVersion)
	if err != nil || userID == "" {
		return all, err
	}
	out := all[:0]
	for _, sub := range all {
		if sub.UserID == userID {
			out = append(out, sub)
		}
	}
	return out, nil
}

// DeleteSubscription removes a subscription (check-and-set on version;
// 0 skips the check) and then its delivery log.
func (s *Store) DeleteSubscription(ctx context.Context, id string, version uint64) error {
	sub, err := s.GetSubscription(ctx, id)
	if err != nil {
		return err
	}
	if version == 0 {
		version = sub.Version
	}
	t := newTx()
	t.deleteCAS(prefixNotifySubs+id, version, nil)
	if _, err := s.commit(ctx, t); err != nil {
		return err
	}
	pairs, _, err := s.kv.List(ctx, prefixNotifyDeliveries+id+"/")
	if err != nil {
		return err
	}
	return s.deleteKeys(ctx, pairs)
}

// deleteKeys deletes the keys of pairs, in transactions small enough to
// leave room for an audit entry.
func (s *Store) deleteKeys(ctx context.Context, pairs []*Pair) error {
	for len(pairs) > 0 {
		n := min(len(pairs), MaxTxnOps-1-auditOpsMax)
		t := newTx()
		for _, p := range pairs[:n] {
			t.add(Op{Verb: OpDelete, Key: p.Key}, nil)
		}
		if _, err := s.commit(ctx, t); err != nil {
			return err
		}
		pairs = pairs[n:]
	}
	return nil
}

// AddEvent puts an event into the notification outbox, with a new id
// and, when unset, the store's time.
func (s *Store) AddEvent(ctx context.Context, e *domain.Event) error {
	if e.Kind == "" {
		return errors.New("store: an event needs a kind")
	}
	if e.At.IsZero() {
		e.At = s.now().UTC()
	}
	e.ID = domain.NewID()
	t := newTx()
	if err := t.create(prefixNotifyEvents+e.ID, e, nil); err != nil {
		return err
	}
	_, err := s.commit(ctx, t)
	return err
}

// WatchEvents returns the outbox, oldest first, once it changed after
// index (at once for 0), with the index to pass next time; like every
// watch it may return without a change.
func (s *Store) WatchEvents(ctx context.Context, index uint64) ([]domain.Event, uint64, error) {
	pairs, idx, err := s.kv.Watch(ctx, prefixNotifyEvents, index)
	if err != nil {
		return nil, index, err
	}
	out := make([]domain.Event, 0, len(pairs))
	for _, p := range pairs {
		var e domain.Event
		if err := json.Unmarshal(p.Value, &e); err != nil {
			s.log.Warn("undecodable notification event dropped", "key", p.Key, "err", err)
			_ = s.DeleteEvent(ctx, strings.TrimPrefix(p.Key, prefixNotifyEvents))
			continue
		}
		out = append(out, e)
	}
	return out, idx, nil
}

// DeleteEvent removes an event from the outbox; a missing one is no error.
func (s *Store) DeleteEvent(ctx context.Context, id string) error {
	if !domain.ValidID(id) {
		return nil
	}
	t := newTx()
	t.add(Op{Verb: OpDelete, Key: prefixNotifyEvents + id}, nil)
	_, err := s.commit(ctx, t)
	return err
}

// AddDelivery records a delivery (under d.ID when it is a valid id, a
// new one otherwise) in its subscription's log, dropping the
// oldest beyond KeepDeliveries in the same transaction. A subscription
// deleted meanwhile gets no log.
func (s *Store) AddDelivery(ctx context.Context, d *domain.Delivery) error {
	if _, err := s.GetSubscription(ctx, d.SubscriptionID); err != nil {
		return err
	}
	prefix := prefixNotifyDeliveries + d.SubscriptionID + "/"
	pairs, _, err := s.kv.List(ctx, prefix)
	if err != nil {
		return err
	}
	if !domain.ValidID(d.ID) {
		d.ID = domain.NewID()
	}
	if d.At.IsZero() {
		d.At = s.now().UTC()
	}
	t := newTx()
	if err := t.create(prefix+d.ID, d, nil); err != nil {
		return err
	}
	for i := 0; i < len(pairs)-(KeepDeliveries-1) && i < MaxTxnOps/2; i++ {
		t.add(Op{Verb: OpDelete, Key: pairs[i].Key}, nil)
	}
	_, err = s.commit(ctx, t)
	return err
}

// ListDeliveries returns a subscription's delivery log, newest first.
func (s *Store) ListDeliveries(ctx context.Context, subscriptionID string) ([]domain.Delivery, error) {
	if !domain.ValidID(subscriptionID) {
		return nil, domain.NotFound("subscription", subscriptionID)
	}
	pairs, _, err := s.kv.List(ctx, prefixNotifyDeliveries+subscriptionID+"/")
	if err != nil {
		return nil, err
	}
	out := make([]domain.Delivery, 0, len(pairs))
	for i := len(pairs) - 1; i >= 0; i-- {
		var d domain.Delivery
		if err := json.Unmarshal(pairs[i].Value, &d); err != nil {
			return nil, fmt.Errorf("decode %s: %w", pairs[i].Key, err)
		}
		out = append(out, d)
	}
	return out, nil
}
