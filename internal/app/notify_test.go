package app

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aegirhq/aegir/dashboard"
	"github.com/aegirhq/aegir/internal/config"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/notify"
	"github.com/aegirhq/aegir/secrets"
)

// TestLeaderNotifiesFailedTasks wires a node as `aegir server` does, with
// a notifications block in its config file, and runs the leader's work: a
// task the dispatcher fails on recovery reaches a webhook subscription,
// signed, and the leader's work still stops cleanly.
func TestLeaderNotifiesFailedTasks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	conf := filepath.Join(dir, "aegir.hcl")
	if err := os.WriteFile(conf, []byte(`notifications {
  webhook_private_addresses = true
  digest_window = "2s"
}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"AEGIR_DATA_DIR": filepath.Join(dir, "data"), "AEGIR_STORE": "bolt", "AEGIR_SECRETS": "file"}
	cfg, err := config.Load(config.ModeServer, conf, func(k string) string { return env[k] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	n, err := openNode(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.close)

	var mu sync.Mutex
	var got []notify.Payload
	var secret string
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if !notify.Verify(secret, r.Header.Get(notify.HeaderTimestamp), body, r.Header.Get(notify.HeaderSignature)) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var p notify.Payload
		_ = json.Unmarshal(body, &p)
		got = append(got, p)
	}))
	t.Cleanup(rcv.Close)

	ctx := context.Background()
	if _, _, err := n.store.EnsureAdmin(ctx); err != nil {
		t.Fatal(err)
	}
	admin, err := n.store.UserByName(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	sub := &domain.Subscription{UserID: admin.ID, Channel: domain.ChannelWebhook, Target: rcv.URL, Events: []domain.EventKind{domain.EventTaskFailed}}
	if err := n.store.CreateSubscription(ctx, sub); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	secret = "leader-test-secret"
	mu.Unlock()
	if err := n.secrets.Put(ctx, secrets.WebhookSecretRef(sub.ID), map[string]string{"secret": secret}); err != nil {
		t.Fatal(err)
	}
	task := runningTask(t, n) // its runner is gone: the leader's recovery fails it

	leadCtx, stop := context.WithCancel(ctx)
	led := make(chan struct{})
	go func() { defer close(led); n.lead(leadCtx, leadCtx) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		k := len(got)
		mu.Unlock()
		if k > 0 {
			break
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatal("no notification of the failed task")
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	select {
	case <-led:
	case <-time.After(30 * time.Second):
		t.Fatal("the leader's work did not stop")
	}
	if st := n.notifier.Status(); st.Running || st.Sent < 1 || st.Failed != 0 {
		t.Errorf("notifier status after the lead: %+v", st)
	}
	// Delivered before the leader stopped: recorded, and gone from the
	// outbox. (Other events may be there: a task the stop itself ended
	// aegir_stopped, such as the platform's verify, is a failure too.)
	evs, _, err := n.store.WatchEvents(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.TaskID == task.ID {
			t.Errorf("the delivered event is still in the outbox: %+v", e)
		}
	}
	if ds, err := n.store.ListDeliveries(ctx, sub.ID); err != nil || len(ds) < 1 || ds[0].Status != domain.DeliverySent {
		t.Errorf("delivery log: %+v, %v", ds, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if e := got[0].Events[0]; got[0].Kind != string(domain.EventTaskFailed) || e.TaskID != task.ID || e.Explanation == "" {
		t.Errorf("notification %+v", got[0])
	}
}

// TestNotificationsState: ok with counts and the last failure named;
// degraded while the outbox cannot be read.
func TestNotificationsState(t *testing.T) {
	t.Parallel()
	if st, msg := notificationsState(notify.Status{Sent: 2}); st != dashboard.StateOK || !strings.Contains(msg, "2 delivered, 0 failed") {
		t.Errorf("ok: %s %q", st, msg)
	}
	s := notify.Status{Sent: 1, Failed: 1, LastFailure: "email to subscription x: no SMTP server is configured", LastFailureAt: time.Now()}
	if st, msg := notificationsState(s); st != dashboard.StateOK || !strings.Contains(msg, "no SMTP server") {
		t.Errorf("a failure: %s %q", st, msg)
	}
	s.OutboxErr = errors.New("consul: no leader")
	if st, msg := notificationsState(s); st != dashboard.StateDegraded || !strings.Contains(msg, "no leader") {
		t.Errorf("outbox: %s %q", st, msg)
	}
}
