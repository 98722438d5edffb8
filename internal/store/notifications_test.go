package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
)

// TestNotifications: subscriptions, the outbox and the delivery log, on
// both backends: owned by existing users, capped per user, the log kept to
// its newest KeepDeliveries and removed with its subscription.
func TestNotifications(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		f := setup(t, s)
		u := &domain.User{Name: "alice", Role: domain.RoleClient, ClientIDs: []string{f.client.ID}}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		sub := &domain.Subscription{UserID: u.ID, ClientID: f.client.ID, Channel: domain.ChannelEmail, Target: "a@example.com", Events: domain.EventKinds}
		if err := s.CreateSubscription(ctx, sub); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateSubscription(ctx, &domain.Subscription{UserID: domain.NewID(), Channel: domain.ChannelEmail, Target: "x@example.com", Events: domain.EventKinds}); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("a subscription of no user: %v", err)
		}
		if err := s.CreateSubscription(ctx, &domain.Subscription{UserID: u.ID, ClientID: domain.NewID(), Channel: domain.ChannelEmail, Target: "x@example.com", Events: domain.EventKinds}); !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("a subscription to no client: %v", err)
		}
		got, err := s.GetSubscription(ctx, sub.ID)
		if err != nil || got.Target != "a@example.com" || got.Version == 0 {
			t.Fatalf("get: %+v %v", got, err)
		}
		if all, err := s.ListSubscriptions(ctx, u.ID); err != nil || len(all) != 1 {
			t.Fatalf("list: %+v %v", all, err)
		}
		if none, err := s.ListSubscriptions(ctx, domain.NewID()); err != nil || len(none) != 0 {
			t.Fatalf("someone else's list: %+v %v", none, err)
		}

		// The outbox: added, listed oldest first, removed.
		for _, subject := range []string{"one", "two"} {
			if err := s.AddEvent(ctx, &domain.Event{Kind: domain.EventTaskFailed, ClientID: f.client.ID, Subject: subject}); err != nil {
				t.Fatal(err)
			}
		}
		evs, idx, err := s.WatchEvents(ctx, 0)
		if err != nil || len(evs) != 2 || evs[0].Subject != "one" || idx == 0 || evs[0].At.IsZero() {
			t.Fatalf("outbox: %+v %d %v", evs, idx, err)
		}
		for _, e := range evs {
			if err := s.DeleteEvent(ctx, e.ID); err != nil {
				t.Fatal(err)
			}
		}
		if evs, _, _ = s.WatchEvents(ctx, 0); len(evs) != 0 {
			t.Fatalf("outbox after deletes: %+v", evs)
		}

		// The delivery log keeps the newest KeepDeliveries, newest first.
		for i := range store.KeepDeliveries + 3 {
			d := &domain.Delivery{SubscriptionID: sub.ID, Kind: domain.EventTaskFailed, Events: 1, Status: domain.DeliverySent, Attempts: 1, Subject: string(rune('a' + i%26))}
			if err := s.AddDelivery(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		ds, err := s.ListDeliveries(ctx, sub.ID)
		if err != nil || len(ds) != store.KeepDeliveries || ds[0].ID < ds[len(ds)-1].ID {
			t.Fatalf("log: %d entries, %v", len(ds), err)
		}

		if err := s.DeleteSubscription(ctx, sub.ID, sub.Version); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetSubscription(ctx, sub.ID); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("after delete: %v", err)
		}
		if ds, _ := s.ListDeliveries(ctx, sub.ID); len(ds) != 0 {
			t.Errorf("the log outlived its subscription: %d", len(ds))
		}
		if err := s.AddDelivery(ctx, &domain.Delivery{SubscriptionID: sub.ID}); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("a delivery of a removed subscription: %v", err)
		}

		// At most MaxSubscriptionsPerUser each.
		for range domain.MaxSubscriptionsPerUser {
			if err := s.CreateSubscription(ctx, &domain.Subscription{UserID: u.ID, Channel: domain.ChannelEmail, Target: "a@example.com", Events: domain.EventKinds}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.CreateSubscription(ctx, &domain.Subscription{UserID: u.ID, Channel: domain.ChannelEmail, Target: "a@example.com", Events: domain.EventKinds}); !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("one too many: %v", err)
		}
	})
}
