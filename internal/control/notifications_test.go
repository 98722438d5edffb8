package control

import (
	"context"
	"errors"
	"testing"

	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/domain"
)

// TestNotificationsScope: a client user subscribes to their own clients'
// events only; a queue user not at all; a user's subscriptions go with
// them.
func TestNotificationsScope(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	alice := &domain.User{Name: "alice", Role: domain.RoleClient, ClientIDs: []string{b.siteA.ClientID}}
	queue := &domain.User{Name: "jobs", Role: domain.RoleQueue}
	for _, u := range []*domain.User{alice, queue} {
		if err := b.st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	n := b.ctl.Notifications
	if _, _, err := n.Create(ctx, As(alice), apiv1.SubscriptionCreate{Email: "a@example.com", ClientID: b.siteB.ClientID}); !errors.Is(err, domain.ErrInvalid) {
		t.Errorf("another client's events: %v", err)
	}
	if _, _, err := n.Create(ctx, As(queue), apiv1.SubscriptionCreate{Email: "q@example.com"}); !errors.Is(err, domain.ErrForbidden) {
		t.Errorf("a queue user: %v", err)
	}
	if _, _, err := n.Create(ctx, As(alice), apiv1.SubscriptionCreate{Webhook: "https://h.example.com/"}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("a webhook without a secrets backend: %v", err)
	}
	sub, secret, err := n.Create(ctx, As(alice), apiv1.SubscriptionCreate{Email: "a@example.com", ClientID: b.siteA.ClientID})
	if err != nil || secret != "" || sub.UserID != alice.ID || len(sub.Events) != len(domain.EventKinds) {
		t.Fatalf("create: %+v %q %v", sub, secret, err)
	}
	if _, err := n.Deliveries(ctx, b.bob, sub.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("bob reads alice's deliveries: %v", err)
	}
	if _, err := n.Test(ctx, b.admin, sub.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("an admin tests alice's subscription: %v", err)
	}
	if err := b.ctl.Users.Delete(ctx, b.admin, alice.ID, alice.Version); err != nil {
		t.Fatal(err)
	}
	if left, err := b.st.ListSubscriptions(ctx, ""); err != nil || len(left) != 0 {
		t.Errorf("after the user's deletion: %+v %v", left, err)
	}
}
