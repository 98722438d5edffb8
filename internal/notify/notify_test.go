package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/store/boltkv"
	"github.com/aegirhq/aegir/secrets"
)

// bundle is a store on bbolt with two clients (acme, globex), an admin
// and alice (a user of acme), a file secrets backend, and the emitter.
type bundle struct {
	st           *store.Store
	sec          *secrets.FileStore
	em           Emitter
	acme, globex *domain.Client
	admin, alice *domain.User
}

func setup(t *testing.T) *bundle {
	t.Helper()
	ctx := context.Background()
	kv, err := boltkv.Open(filepath.Join(t.TempDir(), "aegir.db"), &boltkv.Config{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(kv, nil)
	t.Cleanup(func() { _ = st.Close() })
	sec, err := secrets.OpenFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b := &bundle{st: st, sec: sec, em: Emitter{Store: st}, acme: &domain.Client{Name: "acme"}, globex: &domain.Client{Name: "globex"}}
	for _, c := range []*domain.Client{b.acme, b.globex} {
		if err := st.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	b.admin = &domain.User{Name: "admin", Role: domain.RoleAdmin}
	b.alice = &domain.User{Name: "alice", Role: domain.RoleClient, ClientIDs: []string{b.acme.ID}}
	for _, u := range []*domain.User{b.admin, b.alice} {
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// subscribe stores a subscription of u to target (a URL or an address)
// with a webhook secret, and returns it and the secret.
func (b *bundle) subscribe(t *testing.T, u *domain.User, clientID, target string) (*domain.Subscription, string) {
	t.Helper()
	sub := &domain.Subscription{UserID: u.ID, ClientID: clientID, Target: target, Events: domain.EventKinds, Channel: domain.ChannelWebhook}
	if !strings.HasPrefix(target, "http") {
		sub.Channel = domain.ChannelEmail
	}
	if err := b.st.CreateSubscription(context.Background(), sub); err != nil {
		t.Fatal(err)
	}
	secret := "s3cret-" + sub.ID
	if err := b.sec.Put(context.Background(), secrets.WebhookSecretRef(sub.ID), map[string]string{"secret": secret}); err != nil {
		t.Fatal(err)
	}
	return sub, secret
}

// run starts a notifier on b until the test ends.
func (b *bundle) run(t *testing.T, cfg Config) *Notifier {
	t.Helper()
	cfg.Store, cfg.Secrets, cfg.Logger = b.st, StoredSecrets{Store: b.sec}, nil
	if cfg.RetryBase == 0 {
		cfg.RetryBase = 10 * time.Millisecond
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = n.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return n
}

// failTask emits the task_failed event of a task on a site of client.
func (b *bundle) failTask(t *testing.T, clientID, domainName string) {
	t.Helper()
	task := domain.Task{ID: domain.NewID(), Type: domain.TaskType("backup"), TargetKind: domain.TargetSite, TargetID: domain.NewID(),
		TargetName: domainName, ClientID: clientID, Status: domain.TaskFailed, ErrorCode: "disk_full",
		Explanation: "The backup could not be written: no space left on the device.", FixHint: "Free some space.",
		Args: map[string]string{"password": "must-not-leak"}}
	if err := b.em.TaskFailed(context.Background(), task); err != nil {
		t.Fatal(err)
	}
}

// receiver is a webhook receiver on loopback that checks signatures and
// answers the first failFirst requests with 500.
type receiver struct {
	srv       *httptest.Server
	mu        sync.Mutex
	secret    string
	failFirst int
	requests  int
	bad       []string
	got       []Payload
}

func newReceiver(t *testing.T, secret string, failFirst int) *receiver {
	r := &receiver{secret: secret, failFirst: failFirst}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.requests++
		if !Verify(r.secret, req.Header.Get(HeaderTimestamp), body, req.Header.Get(HeaderSignature)) {
			r.bad = append(r.bad, "bad signature: "+req.Header.Get(HeaderSignature))
		}
		if Verify("wrong-secret", req.Header.Get(HeaderTimestamp), body, req.Header.Get(HeaderSignature)) {
			r.bad = append(r.bad, "a wrong secret verified")
		}
		if req.Header.Get(HeaderDelivery) == "" || req.Header.Get("Content-Type") != "application/json" {
			r.bad = append(r.bad, "missing headers")
		}
		if r.requests <= r.failFirst {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		var p Payload
		if err := json.Unmarshal(body, &p); err != nil {
			r.bad = append(r.bad, "body: "+err.Error())
		}
		if req.Header.Get(HeaderEvent) != p.Kind {
			r.bad = append(r.bad, "event header "+req.Header.Get(HeaderEvent)+" for kind "+p.Kind)
		}
		if strings.Contains(string(body), "must-not-leak") {
			r.bad = append(r.bad, "a task argument reached the receiver")
		}
		r.got = append(r.got, p)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) payloads() ([]Payload, int, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Payload(nil), r.got...), r.requests, append([]string(nil), r.bad...)
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func deliveries(t *testing.T, st *store.Store, subID string) []domain.Delivery {
	t.Helper()
	d, err := st.ListDeliveries(context.Background(), subID)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func outbox(t *testing.T, st *store.Store) int {
	t.Helper()
	evs, _, err := st.WatchEvents(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

// TestWebhookSignedAndRetried: a receiver that answers 500 twice gets the
// same signed delivery a third time, which it takes; the delivery log says
// so and the event leaves the outbox.
func TestWebhookSignedAndRetried(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rcv := newReceiver(t, "", 2)
	sub, secret := b.subscribe(t, b.alice, "", rcv.srv.URL+"/hook?x=1")
	rcv.secret = secret
	b.run(t, Config{AllowPrivate: true})
	b.failTask(t, b.acme.ID, "a.example.com")

	waitFor(t, "a recorded delivery", func() bool { return len(deliveries(t, b.st, sub.ID)) == 1 })
	got, requests, bad := rcv.payloads()
	if len(bad) > 0 {
		t.Fatalf("receiver saw problems: %q", bad)
	}
	if requests != 3 || len(got) != 1 {
		t.Fatalf("requests = %d, payloads = %d; want 3 attempts, 1 taken", requests, len(got))
	}
	p := got[0]
	if p.Kind != string(domain.EventTaskFailed) || len(p.Events) != 1 || p.Events[0].Target != "a.example.com" ||
		p.Events[0].ErrorCode != "disk_full" || p.SubscriptionID != sub.ID {
		t.Errorf("payload = %+v", p)
	}
	d := deliveries(t, b.st, sub.ID)[0]
	if d.Status != domain.DeliverySent || d.Attempts != 3 || d.Code != 200 || d.ID != p.DeliveryID {
		t.Errorf("delivery = %+v", d)
	}
	waitFor(t, "an empty outbox", func() bool { return outbox(t, b.st) == 0 })
}

// TestWebhookGivesUp: a receiver that always fails is tried MaxAttempts
// times; the delivery is logged failed with its last answer.
func TestWebhookGivesUp(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rcv := newReceiver(t, "", 1000)
	sub, secret := b.subscribe(t, b.admin, "", rcv.srv.URL)
	rcv.secret = secret
	b.run(t, Config{AllowPrivate: true, MaxAttempts: 3})
	b.failTask(t, b.globex.ID, "g.example.com")
	waitFor(t, "a recorded delivery", func() bool { return len(deliveries(t, b.st, sub.ID)) == 1 })
	d := deliveries(t, b.st, sub.ID)[0]
	if d.Status != domain.DeliveryFailed || d.Attempts != 3 || d.Code != 500 || !strings.Contains(d.Error, "500") {
		t.Errorf("delivery = %+v", d)
	}
	if _, requests, _ := rcv.payloads(); requests != 3 {
		t.Errorf("requests = %d, want 3", requests)
	}
}

// TestDigest: many events at once make DigestThreshold messages and then
// one digest of all the rest.
func TestDigest(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rcv := newReceiver(t, "", 0)
	sub, secret := b.subscribe(t, b.alice, b.acme.ID, rcv.srv.URL)
	rcv.secret = secret
	b.run(t, Config{AllowPrivate: true, DigestThreshold: 3, DigestWindow: 500 * time.Millisecond})
	const events = 12
	for i := range events {
		b.failTask(t, b.acme.ID, "s"+string(rune('a'+i))+".example.com")
	}
	waitFor(t, "every event delivered", func() bool {
		got, _, _ := rcv.payloads()
		n := 0
		for _, p := range got {
			n += len(p.Events)
		}
		return n >= events
	})
	got, _, bad := rcv.payloads()
	if len(bad) > 0 {
		t.Fatalf("receiver saw problems: %q", bad)
	}
	var single, digests, inDigest int
	for _, p := range got {
		if p.Kind == "digest" {
			digests++
			inDigest += len(p.Events)
		} else {
			single++
		}
	}
	if single != 3 || digests != 1 || inDigest != events-3 {
		t.Errorf("%d single messages and %d digests of %d events; want 3, 1 and %d", single, digests, inDigest, events-3)
	}
	waitFor(t, "4 deliveries logged", func() bool { return len(deliveries(t, b.st, sub.ID)) == 4 })
	if d := deliveries(t, b.st, sub.ID)[0]; d.Events != events-3 || !strings.HasPrefix(d.Subject, "9 events: ") {
		t.Errorf("digest delivery = %+v", d)
	}
	waitFor(t, "an empty outbox", func() bool { return outbox(t, b.st) == 0 })
}

// TestTenancy: a client user's subscription hears only of their clients'
// events; events of no client reach admins only; an event no one may see
// leaves the outbox undelivered.
func TestTenancy(t *testing.T) {
	t.Parallel()
	b := setup(t)
	aliceRcv, adminRcv := newReceiver(t, "", 0), newReceiver(t, "", 0)
	aliceSub, s1 := b.subscribe(t, b.alice, "", aliceRcv.srv.URL)
	adminSub, s2 := b.subscribe(t, b.admin, "", adminRcv.srv.URL)
	aliceRcv.secret, adminRcv.secret = s1, s2
	b.run(t, Config{AllowPrivate: true})
	b.failTask(t, b.globex.ID, "g.example.com")
	b.failTask(t, "", "web1")
	b.failTask(t, b.acme.ID, "a.example.com")
	waitFor(t, "the admin's 3 deliveries", func() bool { return len(deliveries(t, b.st, adminSub.ID)) == 3 })
	waitFor(t, "an empty outbox", func() bool { return outbox(t, b.st) == 0 })
	got, _, _ := aliceRcv.payloads()
	if len(got) != 1 || got[0].Events[0].Target != "a.example.com" {
		t.Errorf("alice got %+v; want acme's event only", got)
	}
	if n := len(deliveries(t, b.st, aliceSub.ID)); n != 1 {
		t.Errorf("alice's log has %d deliveries", n)
	}

	// The rule itself, with a subscription limited to one client.
	limited := domain.Subscription{ID: "x", UserID: b.admin.ID, ClientID: b.acme.ID, Events: domain.EventKinds}
	for _, c := range []struct {
		sub   domain.Subscription
		owner *domain.User
		e     domain.Event
		want  bool
	}{
		{*aliceSub, b.alice, domain.Event{Kind: domain.EventTaskFailed, ClientID: b.acme.ID}, true},
		{*aliceSub, b.alice, domain.Event{Kind: domain.EventTaskFailed, ClientID: b.globex.ID}, false},
		{*aliceSub, b.alice, domain.Event{Kind: domain.EventDiskLow}, false},
		{*aliceSub, nil, domain.Event{Kind: domain.EventTaskFailed, ClientID: b.acme.ID}, false},
		{*aliceSub, b.admin, domain.Event{Kind: domain.EventTaskFailed, ClientID: b.acme.ID}, false},
		{*aliceSub, b.alice, domain.Event{Kind: domain.EventTest, SubscriptionID: aliceSub.ID}, true},
		{*aliceSub, b.alice, domain.Event{Kind: domain.EventTest, SubscriptionID: adminSub.ID}, false},
		{limited, b.admin, domain.Event{Kind: domain.EventDiskLow}, false},
		{limited, b.admin, domain.Event{Kind: domain.EventTaskFailed, ClientID: b.globex.ID}, false},
		{limited, b.admin, domain.Event{Kind: domain.EventQueueSiteFailing, ClientID: b.acme.ID}, true},
	} {
		if got := Matches(c.sub, c.owner, c.e); got != c.want {
			t.Errorf("Matches(%s's sub, client %q, %s event of %q) = %v", c.sub.UserID, c.sub.ClientID, c.e.Kind, c.e.ClientID, got)
		}
	}
}

// TestPrivateAddressRefused: without webhook_private_addresses a webhook
// on loopback is refused at connect time, once, and logged as such.
func TestPrivateAddressRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rcv := newReceiver(t, "", 0)
	sub, _ := b.subscribe(t, b.admin, "", rcv.srv.URL)
	b.run(t, Config{})
	b.failTask(t, b.acme.ID, "a.example.com")
	waitFor(t, "a recorded delivery", func() bool { return len(deliveries(t, b.st, sub.ID)) == 1 })
	d := deliveries(t, b.st, sub.ID)[0]
	if d.Status != domain.DeliveryFailed || d.Attempts != 1 || !strings.Contains(d.Error, "webhook_private_addresses") {
		t.Errorf("delivery = %+v", d)
	}
	if strings.Contains(d.Error, rcv.srv.URL) {
		t.Errorf("the error shows the URL: %s", d.Error)
	}
	if _, requests, _ := rcv.payloads(); requests != 0 {
		t.Errorf("the receiver got %d requests", requests)
	}
}

// TestQueueSiteFailing: the queue's event names the site, the queue and
// the streak, and reaches the site's client's user.
func TestQueueSiteFailing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rcv := newReceiver(t, "", 0)
	sub, secret := b.subscribe(t, b.alice, "", rcv.srv.URL)
	rcv.secret = secret
	b.run(t, Config{AllowPrivate: true})
	site := domain.Site{ID: domain.NewID(), Domain: "a.example.com", ClientID: b.acme.ID}
	if err := b.em.SiteFailing(context.Background(), "backup", site, queueRun(3)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a recorded delivery", func() bool { return len(deliveries(t, b.st, sub.ID)) == 1 })
	got, _, _ := rcv.payloads()
	if len(got) != 1 || got[0].Kind != string(domain.EventQueueSiteFailing) || got[0].Events[0].Queue != "backup" ||
		got[0].Events[0].Failures != 3 || got[0].Subject != "Site a.example.com failed 3 backup passes in a row" {
		t.Errorf("got %+v", got)
	}
}

func queueRun(failures int) apiv1.QueueRun {
	return apiv1.QueueRun{Last: time.Now().UTC(), Failures: failures, TaskID: domain.NewID(), Error: "The backup could not be written."}
}

// TestTestsCannotFlood: test notifications asked for in a burst go like
// any events, a few one by one and then one digest, so nobody can make
// aegir flood an address.
func TestTestsCannotFlood(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rcv := newReceiver(t, "", 0)
	sub, secret := b.subscribe(t, b.alice, "", rcv.srv.URL)
	rcv.secret = secret
	b.run(t, Config{AllowPrivate: true, DigestThreshold: 2, DigestWindow: 300 * time.Millisecond})
	for range 6 {
		if err := b.st.AddEvent(context.Background(), &domain.Event{Kind: domain.EventTest, SubscriptionID: sub.ID, Subject: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "3 deliveries logged", func() bool { return len(deliveries(t, b.st, sub.ID)) == 3 })
	got, requests, _ := rcv.payloads()
	if requests != 3 || len(got) != 3 || got[2].Kind != "digest" || len(got[2].Events) != 4 {
		t.Errorf("%d requests; payloads %+v", requests, got)
	}
}

// TestClientUsersSeeNoPaths: a task's words reach a client user's
// subscription with server paths and addresses hidden, as the API shows
// them to client users; an admin's get them as written. (The e2e test on
// the built binary found a restore's explanation naming the backup
// directory in a client user's mail.)
func TestClientUsersSeeNoPaths(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tenant, admin := newReceiver(t, "", 0), newReceiver(t, "", 0)
	_, tenant.secret = b.subscribe(t, b.alice, "", tenant.srv.URL)
	_, admin.secret = b.subscribe(t, b.admin, "", admin.srv.URL)
	b.run(t, Config{AllowPrivate: true})
	task := domain.Task{ID: domain.NewID(), Type: domain.TaskType("restore"), TargetKind: domain.TargetSite, TargetID: domain.NewID(),
		TargetName: "a.example.com", ClientID: b.acme.ID, Status: domain.TaskFailed, ErrorCode: "backup_missing",
		Explanation: "The backup archive /var/lib/aegir/backups/a.example.com/x.tar.zst is gone from 10.0.0.5.",
		FixHint:     "Put it back at /var/lib/aegir/backups/a.example.com/x.tar.zst."}
	if err := b.em.TaskFailed(context.Background(), task); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both deliveries", func() bool {
		g1, _, _ := tenant.payloads()
		g2, _, _ := admin.payloads()
		return len(g1) == 1 && len(g2) == 1
	})
	got, _, bad := tenant.payloads()
	if len(bad) > 0 {
		t.Fatalf("tenant receiver: %q", bad)
	}
	e := got[0].Events[0]
	if strings.Contains(e.Explanation+e.FixHint, "/var/lib") || strings.Contains(e.Explanation, "10.0.0.5") ||
		!strings.Contains(e.Explanation, "(path hidden)") || !strings.Contains(e.Explanation, "(address hidden)") || e.ErrorCode != "backup_missing" {
		t.Errorf("the client user's event: %+v", e)
	}
	got, _, _ = admin.payloads()
	if e := got[0].Events[0]; e.Explanation != task.Explanation || e.FixHint != task.FixHint {
		t.Errorf("the admin's event: %+v", e)
	}
}
