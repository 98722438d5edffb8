package api

import (
	"github.com/gofiber/fiber/v2"

	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/domain"
)

// notificationRoutes are /api/v1/notifications: the caller's own
// subscriptions, their test and delivery log.
func (s *Server) notificationRoutes() []route {
	return []route{
		{"GET", "/notifications", s.listSubscriptions, operation{tag: "notifications", summary: "List your notification subscriptions", query: listQuery, status: 200, resp: List[domain.Subscription]{}}},
		{"POST", "/notifications", s.createSubscription, operation{tag: "notifications", summary: "Subscribe to events by webhook or email; a webhook's signing secret is shown only in this answer", body: apiv1.SubscriptionCreate{}, status: 201, resp: apiv1.SubscriptionCreated{}}},
		{"GET", "/notifications/:id", s.getSubscription, operation{tag: "notifications", summary: "Get one of your subscriptions", status: 200, resp: domain.Subscription{}}},
		{"DELETE", "/notifications/:id", s.deleteSubscription, operation{tag: "notifications", summary: "Remove a subscription, its delivery log and its secret (yours; an admin: anyone's)", status: 204}},
		{"POST", "/notifications/:id/test", s.testSubscription, operation{tag: "notifications", summary: "Queue a test event for one of your subscriptions; the leader delivers it, and its delivery log shows how it went", status: 202, resp: apiv1.NotificationTest{}}},
		{"GET", "/notifications/:id/deliveries", s.listDeliveries, operation{tag: "notifications", summary: "A subscription's delivery log, newest first (the last 50)", query: listQuery, status: 200, resp: List[domain.Delivery]{}}},
	}
}

func (s *Server) listSubscriptions(c *fiber.Ctx) error {
	out, err := s.ctl.Notifications.List(c.UserContext(), actor(c))
	if err != nil {
		return err
	}
	return paginate(c, out)
}

func (s *Server) createSubscription(c *fiber.Ctx) error {
	var req apiv1.SubscriptionCreate
	if err := s.decode(c, &req); err != nil {
		return err
	}
	sub, secret, err := s.ctl.Notifications.Create(c.UserContext(), actor(c), req)
	if err != nil {
		return err
	}
	c.Status(fiber.StatusCreated)
	return c.JSON(apiv1.SubscriptionCreated{Subscription: sub, Secret: secret})
}

func (s *Server) getSubscription(c *fiber.Ctx) error {
	sub, err := s.ctl.Notifications.Get(c.UserContext(), actor(c), idParam(c))
	if err != nil {
		return err
	}
	return c.JSON(sub)
}

func (s *Server) deleteSubscription(c *fiber.Ctx) error {
	if err := s.ctl.Notifications.Remove(c.UserContext(), actor(c), idParam(c)); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) testSubscription(c *fiber.Ctx) error {
	id, err := s.ctl.Notifications.Test(c.UserContext(), actor(c), idParam(c))
	if err != nil {
		return err
	}
	c.Status(fiber.StatusAccepted)
	return c.JSON(apiv1.NotificationTest{EventID: id})
}

func (s *Server) listDeliveries(c *fiber.Ctx) error {
	out, err := s.ctl.Notifications.Deliveries(c.UserContext(), actor(c), idParam(c))
	if err != nil {
		return err
	}
	return paginate(c, out)
}
