package cli

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
)

func init() { nouns = append(nouns, notifyNoun) }

var notifyNoun = &noun{
	name:    "notify",
	summary: "Be told when tasks fail or queue sites keep failing: your webhook and email subscriptions, and their delivery logs.",
	verbs: []*verb{
		{name: "list", args: "[flags]", summary: "List your subscriptions.", run: subscriptionResource.list,
			examples: []string{"aegir notify list"}},
		{name: "add", args: "-webhook URL | -email ADDR [-events K,...] [-client C]", summary: "Subscribe to events (default: all of " + eventKindList() + "); a webhook's signing secret is shown this once.", run: notifyAdd,
			examples: []string{"aegir notify add -email ops@example.com", "aegir notify add -webhook https://hooks.example.com/aegir -events task_failed,queue_site_failing", "aegir notify add -email owner@acme.example -client acme"}},
		{name: "remove", args: "ID", summary: "Remove a subscription, its delivery log and its secret.", run: notifyRemove,
			examples: []string{"aegir notify remove 06h4vvjmjg07g584cjvk"}},
		{name: "test", args: "ID [-wait D]", summary: "Send a test notification and wait (default 30s) for its delivery's outcome.", run: notifyTest,
			examples: []string{"aegir notify test 06h4vvjmjg07g584cjvk"}},
		{name: "deliveries", args: "ID [-json]", summary: "A subscription's delivery log, newest first: sent or failed, attempts, the receiver's answer.", run: notifyDeliveries,
			examples: []string{"aegir notify deliveries 06h4vvjmjg07g584cjvk"}},
	},
}

func eventKindList() string {
	s := make([]string, len(domain.EventKinds))
	for i, k := range domain.EventKinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

var subscriptionResource = &resource[domain.Subscription]{
	noun: "subscription", collection: "notifications", flagItems: "subscriptions",
	header: []string{"ID", "CHANNEL", "TARGET", "EVENTS", "CLIENT", "CREATED"},
	rows: func(ctx context.Context, c *api) func(*domain.Subscription) []string {
		clients := clientResource.names(ctx, c)
		return func(s *domain.Subscription) []string {
			ev := make([]string, len(s.Events))
			for i, e := range s.Events {
				ev[i] = string(e)
			}
			client := "(all yours)"
			if s.ClientID != "" {
				client = clients.of(s.ClientID)
			}
			return []string{s.ID, string(s.Channel), s.Target, strings.Join(ev, ","), client, when(s.CreatedAt)}
		}
	},
}

func notifyAdd(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	webhook := fs.String("webhook", "", "POST each notification as signed JSON to this http(s) URL")
	email := fs.String("email", "", "mail each notification to this address (through the server's SMTP settings)")
	events := fs.String("events", "", "comma list of events: "+eventKindList()+" (default: all)")
	client := fs.String("client", "", "only this client's events (name or id; default: every event you may see)")
	asJSON := jsonFlag(fs)
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	if (*webhook == "") == (*email == "") {
		return usagef("notify add needs one of -webhook URL or -email ADDR")
	}
	kinds, err := domain.ParseEventKinds(*events)
	if err != nil {
		return usagef("-events: %s", strings.TrimPrefix(err.Error(), "events: "))
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	body := map[string]any{"events": kinds}
	if *webhook != "" {
		body["webhook"] = *webhook
	} else {
		body["email"] = *email
	}
	if *client != "" {
		id, err := clientResource.idOf(ctx, c, *client)
		if err != nil {
			return err
		}
		body["client_id"] = id
	}
	var out struct {
		Subscription domain.Subscription `json:"subscription"`
		Secret       string              `json:"secret"`
	}
	raw, err := c.post(ctx, c.path("notifications"), body, &out)
	if err != nil {
		return err
	}
	if *asJSON {
		return a.printJSON(raw)
	}
	fmt.Fprintf(a.stdout, "Subscription %s created: %s to %s.\n", out.Subscription.ID, out.Subscription.Channel, sanitize(out.Subscription.Target))
	if out.Secret != "" {
		fmt.Fprintf(a.stdout, "Its signing secret is shown only this once:\n\n  %s\n\n"+
			"Each POST carries X-Aegir-Timestamp and X-Aegir-Signature: sha256=HMAC-SHA256(secret, timestamp + \".\" + body), hex.\n", out.Secret)
	}
	fmt.Fprintf(a.stdout, "Try it with: aegir notify test %s\n", out.Subscription.ID)
	return nil
}

func notifyRemove(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	pos, c, err := a.connect(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if _, err := c.do(ctx, http.MethodDelete, c.path("notifications", pos[0]), nil, nil, nil); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "Subscription %s removed.\n", sanitize(pos[0]))
	return nil
}

func notifyTest(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	wait := fs.Duration("wait", 30*time.Second, "how long to wait for the delivery's outcome (0: do not wait)")
	pos, c, err := a.connect(fs, args, 1, 1)
	if err != nil {
		return err
	}
	var out struct {
		EventID string `json:"event_id"`
	}
	if _, err := c.post(ctx, c.path("notifications", pos[0], "test"), map[string]any{}, &out); err != nil {
		return err
	}
	if *wait <= 0 {
		fmt.Fprintf(a.stdout, "Test notification queued (event %s); see: aegir notify deliveries %s\n", out.EventID, sanitize(pos[0]))
		return nil
	}
	fmt.Fprintln(a.stdout, "Test notification queued; waiting for its delivery ...")
	deadline := time.Now().Add(*wait)
	every := a.pollEvery
	if every == 0 {
		every = time.Second
	}
	for {
		ds, err := listAll[domain.Delivery](ctx, c, c.path("notifications", pos[0], "deliveries"), nil)
		if err != nil {
			return err
		}
		for _, d := range ds {
			for _, id := range d.EventIDs {
				if id != out.EventID {
					continue
				}
				if d.Status == domain.DeliverySent {
					fmt.Fprintf(a.stdout, "Delivered (attempts: %d, answer: %d).\n", d.Attempts, d.Code)
					return nil
				}
				return fmt.Errorf("the test notification was not delivered after %s: %s", plural(d.Attempts, "attempt"), sanitize(d.Error))
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no delivery within %s: is the aegir leader running, or is it still retrying? See: aegir notify deliveries %s", *wait, sanitize(pos[0]))
		}
		select {
		case <-time.After(every):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func notifyDeliveries(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	asJSON := jsonFlag(fs)
	pos, c, err := a.connect(fs, args, 1, 1)
	if err != nil {
		return err
	}
	u := c.path("notifications", pos[0], "deliveries")
	if *asJSON {
		raw, err := c.get(ctx, u, nil, nil)
		if err != nil {
			return err
		}
		return a.printJSON(raw)
	}
	ds, err := listAll[domain.Delivery](ctx, c, u, nil)
	if err != nil {
		return err
	}
	if len(ds) == 0 {
		fmt.Fprintln(a.stdout, "No deliveries yet.")
		return nil
	}
	t := newTable(a.stdout, "WHEN", "STATUS", "EVENTS", "ATTEMPTS", "ANSWER", "SUBJECT", "ERROR")
	for _, d := range ds {
		code := ""
		if d.Code != 0 {
			code = strconv.Itoa(d.Code)
		}
		t.row(when(d.At), string(d.Status), strconv.Itoa(d.Events), strconv.Itoa(d.Attempts), code, d.Subject, d.Error)
	}
	return t.flush()
}
