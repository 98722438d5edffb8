package dashboard

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/notify"
	"github.com/aegirhq/aegir/secrets"
)

// TestUINotifications: a client user subscribes a webhook from the
// dashboard, sees its secret once, sends a test that the leader's notifier
// delivers, and reads it in the delivery log; another client's events and
// a bad URL are refused; another user cannot see the subscription.
func TestUINotifications(t *testing.T) {
	t.Parallel()
	fs, err := secrets.OpenFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b := uiSetup(t, func(c *Config) { c.Secrets = fileSecrets{fs} })
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := notify.New(notify.Config{Store: b.st, Secrets: notify.StoredSecrets{Store: fs}, AllowPrivate: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = n.Run(ctx) }()
	t.Cleanup(func() { stop(); <-done })
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(rcv.Close)

	w := loggedIn(t, b, "alice")
	res, body := w.get("/notifications")
	if res.StatusCode != 200 || !strings.Contains(body, `id="subscription-form"`) || !strings.Contains(body, "No subscriptions yet") {
		t.Fatalf("notifications page: %d %s", res.StatusCode, body)
	}
	if !strings.Contains(body, `value="`+b.ids["clientA"]+`"`) || strings.Contains(body, b.ids["clientB"]) {
		t.Error("the client choice is not alice's clients alone")
	}

	// Another client's events, and a URL without a host: refused, nothing written.
	before := len(b.dump())
	for _, form := range []url.Values{
		{"channel": {"webhook"}, "target": {rcv.URL}, "events": {"task_failed"}, "client_id": {b.ids["clientB"]}},
		{"channel": {"webhook"}, "target": {"https:///hook"}, "events": {"task_failed"}},
		{"channel": {"webhook"}, "target": {"gopher://example.com/"}, "events": {"task_failed"}},
		{"channel": {"email"}, "target": {"alice@example.com"}},
	} {
		res, _ := w.post("/notifications", form)
		if res.StatusCode != http.StatusSeeOther {
			t.Errorf("%v: %d, want a redirect with the reason", form, res.StatusCode)
			continue
		}
		if _, body := w.follow(res); !strings.Contains(body, "flash-error") {
			t.Errorf("%v: no error shown", form)
		}
	}
	if len(b.dump()) != before {
		t.Fatal("a refused subscription wrote to the store")
	}

	res, body = w.post("/notifications", url.Values{"channel": {"webhook"}, "target": {rcv.URL + "/hook"},
		"events": {"task_failed", "queue_site_failing"}, "client_id": {b.ids["clientA"]}})
	if res.StatusCode != http.StatusCreated || !strings.Contains(body, `id="subscription-secret"`) || !strings.Contains(body, "not shown again") {
		t.Fatalf("subscribe: %d %s", res.StatusCode, body)
	}
	m := regexp.MustCompile(`href="/notifications/([0-9a-z]{20})"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no link to the subscription in %s", body)
	}
	id := m[1]
	s := regexp.MustCompile(`value="([0-9a-f]{64})"`).FindStringSubmatch(body)
	if s == nil {
		t.Fatal("no secret on the page")
	}
	if _, body = w.get("/notifications"); strings.Contains(body, s[1]) || !strings.Contains(body, "A task failed") {
		t.Error("the list shows the secret, or not the events")
	}

	// A test, delivered by the notifier, shows in the delivery log.
	res, _ = w.post("/notifications/"+id+"/test", nil)
	if _, body = w.follow(res); !strings.Contains(body, "Test notification queued") {
		t.Fatalf("test: %s", body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(body, `<span class="badge b-ok">sent</span>`) {
		if time.Now().After(deadline) {
			t.Fatalf("no delivery in the log: %s", body)
		}
		time.Sleep(50 * time.Millisecond)
		_, body = w.get("/notifications/" + id)
	}
	if !strings.Contains(body, "Test notification from aegir") {
		t.Errorf("delivery log: %s", body)
	}

	// Another user (an admin too) sees none of it.
	admin := loggedIn(t, b, "admin")
	if res, _ := admin.get("/notifications/" + id); res.StatusCode != http.StatusNotFound {
		t.Errorf("the admin's view of alice's delivery log: %d", res.StatusCode)
	}
	if _, body := admin.get("/notifications"); strings.Contains(body, rcv.URL) {
		t.Error("alice's subscription is in the admin's list")
	}

	res, _ = w.post("/notifications/"+id+"/delete", nil)
	if _, body = w.follow(res); !strings.Contains(body, "Subscription removed") || strings.Contains(body, rcv.URL+"/hook") {
		t.Fatalf("remove: %s", body)
	}
}
