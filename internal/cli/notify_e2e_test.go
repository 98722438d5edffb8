package cli

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"sync"
	"testing"

	"github.com/aegirhq/aegir/dashboard"
	"github.com/aegirhq/aegir/internal/notify"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/store/boltkv"
	"github.com/aegirhq/aegir/secrets"
)

// webhookSecrets is the server's secrets writer on a real file backend.
type webhookSecrets struct{ fs *secrets.FileStore }

func (w webhookSecrets) PutServiceCredentials(ctx context.Context, id, user, pass string) error {
	return w.fs.Put(ctx, secrets.ServiceAdminRef(id), map[string]string{"username": user, "password": pass})
}
func (w webhookSecrets) PutWebhookSecret(ctx context.Context, id, secret string) error {
	return w.fs.Put(ctx, secrets.WebhookSecretRef(id), map[string]string{"secret": secret})
}
func (w webhookSecrets) DeleteWebhookSecret(ctx context.Context, id string) error {
	return w.fs.Delete(ctx, secrets.WebhookSecretRef(id))
}

// TestNotifyEndToEnd subscribes a webhook on loopback from the CLI through
// the real API, has a notifier (the leader's) deliver a test to it, and
// reads the delivery log; bad input is refused with the right exit codes.
func TestNotifyEndToEnd(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	kv, err := boltkv.Open(filepath.Join(t.TempDir(), "aegir.db"), &boltkv.Config{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := store.New(kv, &store.Config{Logger: quiet})
	t.Cleanup(func() { _ = st.Close() })
	token, _, err := st.EnsureAdmin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := secrets.OpenFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := dashboard.New(&dashboard.Config{Store: st, Logger: quiet, Secrets: webhookSecrets{fs}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	n, err := notify.New(notify.Config{Store: st, Secrets: notify.StoredSecrets{Store: fs}, AllowPrivate: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = n.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })

	var mu sync.Mutex
	var secret string
	verified := 0
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if !notify.Verify(secret, r.Header.Get(notify.HeaderTimestamp), body, r.Header.Get(notify.HeaderSignature)) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		verified++
	}))
	t.Cleanup(rcv.Close)

	b := &bundle{t: t, env: map[string]string{"AEGIR_ADDR": ln.Addr().String(), "AEGIR_TOKEN": token}}
	r := b.run("notify", "add", "-webhook", rcv.URL+"/hook", "-events", "task_failed,queue_site_failing").want(t, ExitOK)
	m := regexp.MustCompile(`Subscription (\S+) created`).FindStringSubmatch(r.stdout)
	s := regexp.MustCompile(`(?m)^  ([0-9a-f]{64})$`).FindStringSubmatch(r.stdout)
	if m == nil || s == nil {
		t.Fatalf("no id or secret in:\n%s", r.stdout)
	}
	id := m[1]
	mu.Lock()
	secret = s[1]
	mu.Unlock()

	r = b.run("notify", "list").want(t, ExitOK)
	contains(t, "stdout", r.stdout, id, "webhook", rcv.URL+"/hook", "task_failed,queue_site_failing")
	if regexp.MustCompile(secret).MatchString(r.stdout) {
		t.Error("list shows the secret")
	}

	r = b.run("notify", "test", id, "-wait", "20s").want(t, ExitOK)
	contains(t, "stdout", r.stdout, "Delivered (attempts: 1, answer: 200)")
	mu.Lock()
	if verified != 1 {
		t.Errorf("the receiver verified %d signed requests", verified)
	}
	mu.Unlock()
	r = b.run("notify", "deliveries", id).want(t, ExitOK)
	contains(t, "stdout", r.stdout, "sent", "Test notification from aegir")

	r = b.run("notify", "add", "-webhook", "ftp://example.com/x").want(t, ExitFailed)
	contains(t, "stderr", r.stderr, "https://")
	r = b.run("notify", "add", "-webhook", "https:///x").want(t, ExitFailed)
	contains(t, "stderr", r.stderr, "no host")
	b.run("notify", "add").want(t, ExitUsage)
	b.run("notify", "add", "-email", "a@example.com", "-webhook", "https://h.example.com/").want(t, ExitUsage)
	r = b.run("notify", "add", "-email", "a@example.com", "-events", "nope").want(t, ExitUsage)
	contains(t, "stderr", r.stderr, "task_failed")

	b.run("notify", "remove", id).want(t, ExitOK)
	b.run("notify", "deliveries", id).want(t, ExitFailed)
}
