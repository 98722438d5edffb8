package web

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/domain"
)

// notificationsView is the notifications page: the viewer's subscriptions,
// the form for a new one, and a new webhook's secret once.
type notificationsView struct {
	Items   []domain.Subscription
	Clients []domain.Client
	Names   map[string]string // client id → name
	Kinds   []domain.EventKind
	Secret  string
	Made    *domain.Subscription
	// Form keeps what was typed when the form is shown again.
	Form struct {
		Channel, Target, ClientID string
		Events                    map[domain.EventKind]bool
	}
}

func (u *ui) notificationsData(c *fiber.Ctx) (*notificationsView, error) {
	ctx := c.UserContext()
	subs, err := u.ctl.Notifications.List(ctx, actor(c))
	if err != nil {
		return nil, err
	}
	clients, err := u.ctl.Clients.List(ctx, actor(c))
	if err != nil {
		return nil, err
	}
	d := &notificationsView{Items: subs, Clients: clients, Names: map[string]string{}, Kinds: domain.EventKinds}
	for _, cl := range clients {
		d.Names[cl.ID] = firstOf(cl.Title, cl.Name)
	}
	d.Form.Channel, d.Form.Events = "webhook", map[domain.EventKind]bool{}
	for _, k := range domain.EventKinds {
		d.Form.Events[k] = true
	}
	return d, nil
}

func (u *ui) notificationsPage(c *fiber.Ctx, v *view) error {
	d, err := u.notificationsData(c)
	if err != nil {
		return err
	}
	v.Title, v.Nav = "Notifications", "notifications"
	return u.render(c, "notifications", v, d)
}

// notificationCreate subscribes the viewer; a webhook's secret is shown on
// the page it answers with, and never again.
func (u *ui) notificationCreate(c *fiber.Ctx, v *view) error {
	req := apiv1.SubscriptionCreate{ClientID: strings.TrimSpace(c.FormValue("client_id"))}
	target := strings.TrimSpace(c.FormValue("target"))
	switch c.FormValue("channel") {
	case "email":
		req.Email = target
	default:
		req.Webhook = target
	}
	c.Request().PostArgs().VisitAll(func(k, val []byte) {
		if string(k) == "events" {
			req.Events = append(req.Events, domain.EventKind(val))
		}
	})
	if len(req.Events) == 0 {
		return domain.Invalid("events", "tick at least one event")
	}
	sub, secret, err := u.ctl.Notifications.Create(c.UserContext(), actor(c), req)
	if err != nil {
		return err
	}
	d, err := u.notificationsData(c)
	if err != nil {
		return err
	}
	d.Secret, d.Made = secret, sub
	v.Title, v.Nav = "Notifications", "notifications"
	msg := fmt.Sprintf("Subscribed %s. Send a test from its delivery log.", sub.Target)
	if secret != "" {
		msg = "Webhook added. Copy its signing secret now: it is not shown again."
	}
	v.Flash = &flash{Kind: "ok", Message: msg}
	c.Status(fiber.StatusCreated)
	return u.render(c, "notifications", v, d)
}

// deliveriesView is one subscription's page: what it is, its delivery
// log, and its test and remove buttons.
type deliveriesView struct {
	Sub        *domain.Subscription
	ClientName string
	Items      []domain.Delivery
}

func (u *ui) notificationPage(c *fiber.Ctx, v *view) error {
	ctx := c.UserContext()
	sub, err := u.ctl.Notifications.Get(ctx, actor(c), idParam(c))
	if err != nil {
		return err
	}
	items, err := u.ctl.Notifications.Deliveries(ctx, actor(c), sub.ID)
	if err != nil {
		return err
	}
	d := deliveriesView{Sub: sub, Items: items}
	if sub.ClientID != "" {
		if cl, err := u.ctl.Clients.Get(ctx, actor(c), sub.ClientID); err == nil {
			d.ClientName = firstOf(cl.Title, cl.Name)
		}
	}
	v.Title, v.Nav = "Notifications to "+sub.Target, "notifications"
	return u.render(c, "notification", v, d)
}

func (u *ui) notificationTest(c *fiber.Ctx, v *view) error {
	if _, err := u.ctl.Notifications.Test(c.UserContext(), actor(c), idParam(c)); err != nil {
		return err
	}
	return u.done(c, "/notifications/"+idParam(c), "Test notification queued: reload this page in a moment to see how its delivery went.")
}

func (u *ui) notificationDelete(c *fiber.Ctx, v *view) error {
	if err := u.ctl.Notifications.Remove(c.UserContext(), actor(c), idParam(c)); err != nil {
		return err
	}
	return u.done(c, "/notifications", "Subscription removed.")
}

// eventNames are the event kinds as the page words them.
var eventNames = map[domain.EventKind]string{
	domain.EventTaskFailed:          "A task failed",
	domain.EventQueueSiteFailing:    "A site keeps failing in a queue",
	domain.EventCertificateExpiring: "A certificate expires soon and was not renewed",
	domain.EventDiskLow:             "A client nears its disk quota",
	domain.EventTest:                "Test",
}

func eventName(k domain.EventKind) string {
	if n, ok := eventNames[k]; ok {
		return n
	}
	return string(k)
}

func eventList(ks []domain.EventKind) string {
	out := make([]string, 0, len(ks))
	for _, k := range domain.EventKinds { // the form's order
		if slices.Contains(ks, k) {
			out = append(out, eventName(k))
		}
	}
	return strings.Join(out, ", ")
}

func init() {
	uiFuncs["eventName"] = eventName
	uiFuncs["eventList"] = eventList
}
