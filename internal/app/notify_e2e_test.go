package app_test

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"mime/quotedprintable"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/testharness"
)

// hook is a webhook receiver on 127.0.0.1 that answers 500 to the first
// failFirst requests and 200 after, and keeps every request.
type hook struct {
	*httptest.Server
	mu        sync.Mutex
	failFirst int
	reqs      []hookReq
}

type hookReq struct {
	header http.Header
	body   []byte
	code   int
}

func startHook(t *testing.T, failFirst int) *hook {
	h := &hook{failFirst: failFirst}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		code := 200
		if len(h.reqs) < h.failFirst {
			code = 500
		}
		h.reqs = append(h.reqs, hookReq{header: r.Header.Clone(), body: body, code: code})
		h.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hook) requests() []hookReq {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookReq(nil), h.reqs...)
}

// signature is the README's check: "sha256=" + hex(hmac_sha256(secret,
// timestamp + "." + body)), computed here independently of aegir's code.
func signature(secret, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp + "." + string(body)))
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// waitUntil polls cond every 50ms for up to limit.
func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var subscriptionID = regexp.MustCompile(`Subscription (\S+) created`)

// TestNotificationsThroughTheBinary drives the README's notifications on
// the built `aegir dev` with the built CLI. By default a webhook on
// 127.0.0.1 is refused (final, named). With webhook_private_addresses
// from the config file: an admin's webhook subscription to task_failed
// and a client user's email subscription hear of a restore that really
// fails (its archive deleted); the receiver answers 500 first and the
// retry carries the same delivery id; both POSTs are signed with the
// secret `notify add` showed, as the README's formula computes it; `notify
// deliveries` shows one delivery sent after 2 attempts; the mail comes
// through STARTTLS, logged in, to the client user; the secret is in no
// log.
func TestNotificationsThroughTheBinary(t *testing.T) {
	t.Parallel()

	// The default: no webhooks to private addresses.
	plain := startDev(t)
	refused := startHook(t, 0)
	out, _ := plain.mustCLI(0, "notify", "add", "-webhook", refused.URL, "-events", "task_failed")
	m := subscriptionID.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("notify add said %q", out)
	}
	_, errOut := plain.mustCLI(1, "notify", "test", m[1], "-wait", "60s")
	if !strings.Contains(errOut, "private") || !strings.Contains(errOut, "webhook_private_addresses") {
		t.Errorf("a webhook to 127.0.0.1 by default: %q", errOut)
	}
	if n := len(refused.requests()); n != 0 {
		t.Errorf("the default reached a private address %d times", n)
	}
	out, _ = plain.mustCLI(0, "notify", "deliveries", m[1])
	if !strings.Contains(out, "failed") || !strings.Contains(out, "private") {
		t.Errorf("the refused delivery's log:\n%s", out)
	}

	cert, _, certPEM := testharness.SelfSigned(t)
	box := testharness.SMTP(t, &cert)
	dir := t.TempDir()
	caFile, pwFile := filepath.Join(dir, "smtp-ca.pem"), filepath.Join(dir, "smtp-password")
	if err := os.WriteFile(caFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pwFile, []byte(testharness.SMTPPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := writeConfig(t, fmt.Sprintf(`notifications {
  webhook_private_addresses = true
  smtp {
    address       = %q
    from          = "aegir@example.com"
    username      = "aegir"
    password_file = %q
    ca_file       = %q
  }
}
`, box.Addr, pwFile, caFile))
	d := startDev(t, "-config", conf)
	d.waitPlatformsReady()
	d.mustCLI(0, "client", "create", "acme")
	bob := d.as(d.clientUser("bob", "acme"))

	rcv := startHook(t, 1)
	out, _ = d.mustCLI(0, "notify", "add", "-webhook", rcv.URL+"/aegir", "-events", "task_failed")
	m = subscriptionID.FindStringSubmatch(out)
	secret := regexp.MustCompile(`shown only this once:\s+(\S+)`).FindStringSubmatch(out)
	if m == nil || secret == nil {
		t.Fatalf("notify add said %q", out)
	}
	sub := m[1]
	// A client user may not subscribe to another client's events.
	if code, _, errOut := bob.cliCode("notify", "add", "-email", "bob@acme.example", "-client", "default"); code == 0 {
		t.Errorf("bob subscribed to the default client's events: %s", errOut)
	}
	out, _ = bob.mustCLI(0, "notify", "add", "-email", "bob@acme.example", "-events", "task_failed")
	if !strings.Contains(out, "created") {
		t.Fatalf("bob's notify add said %q", out)
	}

	// A restore that fails for real: its archive is gone.
	d.mustCLI(0, "site", "create", "fail.acme.test", "-platform", "example", "-db-server", "local", "-client", "acme", "-wait")
	d.mustCLI(0, "site", "backup", "fail.acme.test", "-wait")
	var backup backupRecord
	for _, b := range d.backups() {
		if b.Domain == "fail.acme.test" {
			backup = b
		}
	}
	if backup.ID == "" {
		t.Fatal("no backup of fail.acme.test")
	}
	if err := os.Remove(backup.Path); err != nil {
		t.Fatal(err)
	}
	d.mustCLI(1, "site", "restore", "fail.acme.test", "-backup", backup.ID, "-yes", "-wait")

	// The webhook: a 500, then the retry, both signed.
	waitUntil(t, 60*time.Second, "the webhook's retry", func() bool { return len(rcv.requests()) >= 2 })
	reqs := rcv.requests()
	for i, r := range reqs {
		ts := r.header.Get("X-Aegir-Timestamp")
		if got, want := r.header.Get("X-Aegir-Signature"), signature(secret[1], ts, r.body); ts == "" || !hmac.Equal([]byte(got), []byte(want)) {
			t.Errorf("request %d: signature %q over timestamp %q, want %q", i, got, ts, want)
		}
		if r.header.Get("X-Aegir-Event") != "task_failed" {
			t.Errorf("request %d: X-Aegir-Event %q", i, r.header.Get("X-Aegir-Event"))
		}
	}
	if a, b := reqs[0].header.Get("X-Aegir-Delivery"), reqs[1].header.Get("X-Aegir-Delivery"); a == "" || a != b {
		t.Errorf("the retry's delivery id %q, the first's %q: want the same", b, a)
	}
	var p struct {
		SubscriptionID string `json:"subscription_id"`
		Kind           string `json:"kind"`
		Events         []struct {
			Kind        string `json:"kind"`
			Target      string `json:"target"`
			TaskType    string `json:"task_type"`
			ErrorCode   string `json:"error_code"`
			Explanation string `json:"explanation"`
		} `json:"events"`
	}
	if err := json.Unmarshal(reqs[1].body, &p); err != nil {
		t.Fatal(err)
	}
	if p.SubscriptionID != sub || p.Kind != "task_failed" || len(p.Events) != 1 {
		t.Fatalf("payload %s", reqs[1].body)
	}
	if e := p.Events[0]; e.Target != "fail.acme.test" || e.Kind != "task_failed" || e.TaskType != "restore" || e.ErrorCode != "backup_missing" || e.Explanation == "" {
		t.Errorf("event %+v", e)
	}

	// The delivery log: one delivery, sent after two attempts.
	var log struct {
		Items []struct {
			Status   string `json:"status"`
			Attempts int    `json:"attempts"`
			Code     int    `json:"code"`
			Kind     string `json:"kind"`
		} `json:"items"`
	}
	waitUntil(t, 30*time.Second, "the delivery's record", func() bool {
		log.Items = nil
		d.call("GET", "/notifications/"+sub+"/deliveries", nil, &log)
		return len(log.Items) > 0
	})
	if l := log.Items; len(l) != 1 || l[0].Status != "sent" || l[0].Attempts != 2 || l[0].Code != 200 || l[0].Kind != "task_failed" {
		t.Errorf("delivery log %+v, want one task_failed sent after 2 attempts with 200", l)
	}
	out, _ = d.mustCLI(0, "notify", "deliveries", sub)
	if !strings.Contains(out, "sent") || !strings.Contains(out, "fail.acme.test") {
		t.Errorf("notify deliveries:\n%s", out)
	}

	// The client user's email, through STARTTLS, logged in.
	waitUntil(t, 30*time.Second, "bob's mail", func() bool { return len(box.Received()) > 0 })
	mails := box.Received()
	if got := mails[0]; !got.TLS || got.User != testharness.SMTPUser || got.To != "bob@acme.example" || !strings.Contains(got.Data, "fail.acme.test") {
		t.Errorf("mail %+v", got)
	}
	// A client user is not told where things lie on the server (README:
	// a task's words reach them with paths hidden).
	text, _ := io.ReadAll(quotedprintable.NewReader(strings.NewReader(mails[0].Data)))
	if strings.Contains(string(text), d.dataDir) || !strings.Contains(string(text), "(path hidden)") || !strings.Contains(string(text), "backup_missing") {
		t.Errorf("the client user's mail names a server path or lacks the error code:\n%s", text)
	}

	// notify test, list and remove.
	out, _ = d.mustCLI(0, "notify", "test", sub)
	if !strings.Contains(out, "Delivered (attempts: 1, answer: 200)") {
		t.Errorf("notify test: %q", out)
	}
	if r := rcv.requests(); r[len(r)-1].header.Get("X-Aegir-Signature") != signature(secret[1], r[len(r)-1].header.Get("X-Aegir-Timestamp"), r[len(r)-1].body) {
		t.Error("the test notification's signature does not check")
	}
	out, _ = d.mustCLI(0, "notify", "list")
	if !strings.Contains(out, sub) || !strings.Contains(out, rcv.URL) || strings.Contains(out, secret[1]) {
		t.Errorf("notify list:\n%s", out)
	}
	d.mustCLI(0, "notify", "remove", sub)
	if out, _ = d.mustCLI(0, "notify", "list"); strings.Contains(out, sub) {
		t.Errorf("notify list after remove:\n%s", out)
	}
	d.mustCLI(1, "notify", "deliveries", sub)

	if b, _ := os.ReadFile(d.logsPath); strings.Contains(string(b), secret[1]) {
		t.Error("the webhook's secret is in aegir's log")
	}
}

// payload is a webhook's JSON as the README lists it.
type payload struct {
	SubscriptionID string `json:"subscription_id"`
	Kind           string `json:"kind"`
	Events         []struct {
		Kind     string `json:"kind"`
		ClientID string `json:"client_id"`
		Target   string `json:"target"`
		Subject  string `json:"subject"`
	} `json:"events"`
}

func (h *hook) payloads(t *testing.T) []payload {
	t.Helper()
	var out []payload
	for _, r := range h.requests() {
		var p payload
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatalf("webhook body %s: %v", r.body, err)
		}
		out = append(out, p)
	}
	return out
}

// TestNotificationDigestAndDiskLowThroughTheBinary: on the built `aegir
// dev` with digest_threshold = 1 from the config file, three failed
// restores in a row reach a task_failed webhook as one message and then
// one digest of the rest, every event once; a client at 90% or more of
// its disk quota is warned after a stats pass (`aegir queue run stats`)
// by disk_low, to a subscription for that client only.
func TestNotificationDigestAndDiskLowThroughTheBinary(t *testing.T) {
	t.Parallel()
	conf := writeConfig(t, "notifications {\n  webhook_private_addresses = true\n  digest_threshold = 1\n  digest_window = \"10s\"\n}\n")
	d := startDev(t, "-config", conf)
	d.waitPlatformsReady()
	d.mustCLI(0, "client", "create", "acme")
	failed, disk := startHook(t, 0), startHook(t, 0)
	d.mustCLI(0, "notify", "add", "-webhook", failed.URL, "-events", "task_failed")
	d.mustCLI(0, "notify", "add", "-webhook", disk.URL, "-events", "disk_low", "-client", "acme")

	d.mustCLI(0, "site", "create", "digest.acme.test", "-platform", "example", "-db-server", "local", "-client", "acme", "-wait")
	d.mustCLI(0, "site", "backup", "digest.acme.test", "-wait")
	var backup backupRecord
	for _, b := range d.backups() {
		if b.Domain == "digest.acme.test" {
			backup = b
		}
	}
	if err := os.Remove(backup.Path); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		d.mustCLI(1, "site", "restore", "digest.acme.test", "-backup", backup.ID, "-yes", "-wait")
	}
	count := func() int {
		n := 0
		for _, p := range failed.payloads(t) {
			n += len(p.Events)
		}
		return n
	}
	waitUntil(t, 60*time.Second, "three task_failed events", func() bool { return count() >= 3 })
	ps := failed.payloads(t)
	if len(ps) < 2 || ps[0].Kind != "task_failed" || len(ps[0].Events) != 1 || ps[1].Kind != "digest" || count() != 3 {
		t.Errorf("three failures, threshold 1: %+v; want one task_failed, then a digest, 3 events in all", ps)
	}

	// disk_low after a stats pass, once the client is at its quota.
	d.mustCLI(0, "client", "edit", "acme", "-quota", "disk=1")
	d.mustCLI(0, "queue", "run", "stats")
	waitUntil(t, 60*time.Second, "a disk_low warning", func() bool { return len(disk.requests()) > 0 })
	var acme struct{ ID string }
	raw, _ := d.mustCLI(0, "client", "show", "acme", "-json")
	if err := json.Unmarshal([]byte(raw), &acme); err != nil || acme.ID == "" {
		t.Fatalf("client show -json: %v\n%s", err, raw)
	}
	if ps := disk.payloads(t); ps[0].Kind != "disk_low" || len(ps[0].Events) != 1 || ps[0].Events[0].ClientID != acme.ID {
		t.Errorf("disk_low: %+v (acme is %s)", ps, acme.ID)
	}
}

// TestCertificateNotificationsThroughTheBinary: on the built `aegir dev`,
// an uploaded certificate that expires within 14 days (nothing renews an
// uploaded one) is warned of by certificate_expiring after a certificates
// pass (`aegir queue run certificates`), once; one failed renewal is not
// yet a queue_site_failing (that takes 3 passes in a row, and a failing
// site's next is at least a minute of backoff away: covered by the
// notify and queue packages' tests, not here).
func TestCertificateNotificationsThroughTheBinary(t *testing.T) {
	t.Parallel()
	tlsAddr := fmt.Sprintf("127.0.0.1:%d", testharness.FreePort(t))
	conf := writeConfig(t, "notifications {\n  webhook_private_addresses = true\n}\n")
	d := startDev(t, "-config", conf, "-sites-tls-addr", tlsAddr)
	d.waitPlatformsReady()
	rcv := startHook(t, 0)
	d.mustCLI(0, "notify", "add", "-webhook", rcv.URL, "-events", "certificate_expiring,queue_site_failing")
	d.mustCLI(0, "site", "create", "cert.example.test", "-platform", "example", "-db-server", "local", "-client", "default", "-wait")
	d.mustCLI(0, "site", "edit", "cert.example.test", "-https", "on", "-wait")

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "cert.example.test"}, DNSNames: []string{"cert.example.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(5 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600)
	d.mustCLI(0, "site", "upload-certificate", "cert.example.test", "-cert", certFile, "-key", keyFile, "-wait")

	kinds := func() map[string]int {
		m := map[string]int{}
		for _, p := range rcv.payloads(t) {
			for _, e := range p.Events {
				if e.Target == "cert.example.test" {
					m[e.Kind]++
				}
			}
		}
		return m
	}
	// The pass fails the site's renewal (exit 1: nothing renews an
	// uploaded certificate) and warns of its expiry.
	_, out, _ := d.cliCode("queue", "run", "certificates")
	if !strings.Contains(out, "1 failed") {
		t.Errorf("queue run certificates:\n%s", out)
	}
	waitUntil(t, 60*time.Second, "certificate_expiring", func() bool { return kinds()["certificate_expiring"] > 0 })
	if k := kinds(); k["certificate_expiring"] != 1 || k["queue_site_failing"] != 0 {
		t.Errorf("after one certificates pass: %v; want certificate_expiring once, no queue_site_failing (one failure is no streak)", k)
	}
}
