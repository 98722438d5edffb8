package queue

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/certs"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/notify"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/secrets"
)

// hooked is a webhook receiver on loopback subscribed (as an admin, to
// every kind) through a real notifier to what the queues of b emit.
type hooked struct {
	mu  sync.Mutex
	got []notify.Payload
	bad []string
}

func subscribeHook(t *testing.T, b *passBundle) *hooked {
	t.Helper()
	ctx := context.Background()
	h := &hooked{}
	const secret = "queue-warnings-secret"
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		if !notify.Verify(secret, r.Header.Get(notify.HeaderTimestamp), body, r.Header.Get(notify.HeaderSignature)) {
			h.bad = append(h.bad, "bad signature")
		}
		var p notify.Payload
		if err := json.Unmarshal(body, &p); err != nil {
			h.bad = append(h.bad, err.Error())
		}
		h.got = append(h.got, p)
	}))
	t.Cleanup(rcv.Close)
	admin := &domain.User{Name: "admin", Role: domain.RoleAdmin}
	must(t, b.st.CreateUser(ctx, admin))
	sub := &domain.Subscription{UserID: admin.ID, Channel: domain.ChannelWebhook, Target: rcv.URL, Events: domain.EventKinds}
	must(t, b.st.CreateSubscription(ctx, sub))
	sec, err := secrets.OpenFile(t.TempDir())
	must(t, err)
	must(t, sec.Put(ctx, secrets.WebhookSecretRef(sub.ID), map[string]string{"secret": secret}))
	n, err := notify.New(notify.Config{Store: b.st, Secrets: notify.StoredSecrets{Store: sec}, AllowPrivate: true, RetryBase: 10 * time.Millisecond})
	must(t, err)
	nctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = n.Run(nctx) }()
	t.Cleanup(func() { cancel(); <-done })
	b.q.cfg.Events = notify.Emitter{Store: b.st} // before any pass runs
	return h
}

// kinds returns the kinds received so far (a digest's events one by one).
func (h *hooked) kinds(t *testing.T) []notify.Payload {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.bad) > 0 {
		t.Fatalf("receiver: %v", h.bad)
	}
	return append([]notify.Payload(nil), h.got...)
}

// waitHook waits until the receiver holds n payloads.
func (h *hooked) wait(t *testing.T, n int, what string) []notify.Payload {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := h.kinds(t)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: got %+v", what, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCertificateExpiringNotified: a site serving an uploaded certificate
// that expires in five days (nothing can renew it) makes the certificates
// queue's real pass fail and warn once (certificate_expiring, through the
// notifier to a webhook); the next passes do not warn again, and the
// third failure in a row reaches the receiver as queue_site_failing of the
// certificates queue. The site keeps serving over HTTP throughout.
func TestCertificateExpiringNotified(t *testing.T) {
	t.Parallel()
	var dataDir string
	b := setupPassEnv(t, 1, func(_ int, env *provision.EnvInfo, _ *Config) { dataDir = env.DataDir })
	hook := subscribeHook(t, b)
	ctx := t.Context()
	b.clock.Add(time.Since(b.clock.Now())) // certificates expire in real time

	site := b.sites[0]
	ca, err := certs.NewLocalCA("test CA", time.Now().Add(-time.Hour))
	must(t, err)
	expires := time.Now().Add(5 * 24 * time.Hour)
	bundle, err := ca.Issue([]string{site.Domain}, expires.Add(-certs.LocalLeafLifetime))
	must(t, err)
	sec, err := secrets.OpenFile(filepath.Join(dataDir, "secrets"))
	must(t, err)
	must(t, sec.Put(ctx, secrets.SiteCertRef(site.ID), map[string]string{"cert": string(bundle.CertPEM), "key": string(bundle.KeyPEM), "issuer": domain.IssuerUploaded}))
	s, err := b.st.GetSite(ctx, site.ID)
	must(t, err)
	s.HTTPS = domain.HTTPSOn
	_, err = b.st.UpdateSite(ctx, s, "test")
	must(t, err)
	b.settle(t) // verify serves the upload and records that it cannot be renewed
	if s, err = b.st.GetSite(ctx, site.ID); err != nil || s.Certificate == nil || s.Certificate.Issuer != domain.IssuerUploaded || s.Certificate.NotAfter.IsZero() || s.Certificate.Error == "" {
		t.Fatalf("certificate state after verify: %+v, %v", s.Certificate, err)
	}

	set, err := b.q.Settings(ctx, Certificates)
	must(t, err)
	set.Frequency, set.Interval, set.MaxBackoff = Duration(time.Hour), Duration(time.Hour), Duration(time.Hour)
	_, err = b.q.PutSettings(ctx, Certificates, set)
	must(t, err)
	for pass := 1; pass <= FailingAfter; pass++ {
		rep, err := b.q.RunPass(ctx, Certificates)
		must(t, err)
		if rep.Failed != 1 {
			t.Fatalf("pass %d: %+v", pass, rep)
		}
		if pass == 1 {
			got := hook.wait(t, 1, "certificate_expiring")
			e := got[0].Events[0]
			if got[0].Kind != string(domain.EventCertificateExpiring) || e.Target != site.Domain || e.TargetID != site.ID || e.FixHint == "" || e.Explanation == "" {
				t.Fatalf("first notification: %+v", got[0])
			}
		}
		b.clock.Add(2 * time.Hour) // past the backoff
		if code := getStatus(t, b.webURL, site.Domain); code != 200 {
			t.Fatalf("the site answers %d over HTTP after pass %d", code, pass)
		}
	}
	got := hook.wait(t, 2, "queue_site_failing")
	time.Sleep(200 * time.Millisecond) // room for a wrong third
	got = hook.kinds(t)
	if len(got) != 2 || got[1].Kind != string(domain.EventQueueSiteFailing) || got[1].Events[0].Queue != Certificates || got[1].Events[0].Failures != FailingAfter {
		t.Fatalf("notifications: %+v", got)
	}
}

// TestDiskLowNotified: a client whose sites (as the real stats pass
// measures them) pass 90% of its disk quota is warned once (disk_low);
// back under the quota share the mark goes, and crossing again warns
// again.
func TestDiskLowNotified(t *testing.T) {
	t.Parallel()
	b := setupPass(t, 2)
	hook := subscribeHook(t, b)
	ctx := t.Context()
	cl, err := b.st.GetClient(ctx, b.sites[0].ClientID)
	must(t, err)
	setQuota := func(limit int64) {
		t.Helper()
		c, err := b.st.GetClient(ctx, cl.ID)
		must(t, err)
		c.Quotas = domain.Quotas{domain.QuotaDisk: limit}
		must(t, b.st.UpdateClient(ctx, c))
	}
	set, err := b.q.Settings(ctx, Stats)
	must(t, err)
	set.Interval = set.Frequency
	_, err = b.q.PutSettings(ctx, Stats, set)
	must(t, err)
	pass := func() {
		t.Helper()
		rep, err := b.q.RunPass(ctx, Stats)
		must(t, err)
		if rep.Succeeded != 2 {
			t.Fatalf("stats pass: %+v", rep)
		}
		b.clock.Add(set.Frequency.D())
	}
	setQuota(1 << 40) // far from it
	pass()
	setQuota(1) // far over
	pass()
	got := hook.wait(t, 1, "disk_low")
	if e := got[0].Events[0]; got[0].Kind != string(domain.EventDiskLow) || e.Target != cl.Name || e.FixHint == "" {
		t.Fatalf("notification: %+v", got[0])
	}
	pass() // still over: no second warning
	setQuota(1 << 40)
	pass() // back under: the streak ends
	setQuota(1)
	pass()
	hook.wait(t, 2, "the second disk_low")
	time.Sleep(200 * time.Millisecond)
	if got := hook.kinds(t); len(got) != 2 || got[1].Kind != string(domain.EventDiskLow) {
		t.Fatalf("notifications: %+v", got)
	}
}
