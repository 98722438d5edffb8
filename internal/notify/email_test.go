package notify

import (
	"crypto/tls"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/testharness"
)

// TestEmailOverSTARTTLS: a task failure reaches an email subscription
// through an SMTP server with a self-signed certificate that aegir is told
// to trust, upgraded with STARTTLS and logged in.
func TestEmailOverSTARTTLS(t *testing.T) {
	t.Parallel()
	cert, pool, _ := testharness.SelfSigned(t)
	box := testharness.SMTP(t, &cert)
	b := setup(t)
	sub, _ := b.subscribe(t, b.alice, "", "alice@example.com")
	b.run(t, Config{Mail: &Mail{Address: box.Addr, From: "aegir@example.com", Username: testharness.SMTPUser, Password: testharness.SMTPPassword,
		TLS: &tls.Config{ServerName: "localhost", RootCAs: pool}}}) // a server_name other than the address's host
	b.failTask(t, b.acme.ID, "a.example.com")

	waitFor(t, "a recorded delivery", func() bool { return len(deliveries(t, b.st, sub.ID)) == 1 })
	if d := deliveries(t, b.st, sub.ID)[0]; d.Status != domain.DeliverySent || d.Attempts != 1 {
		t.Fatalf("delivery = %+v", d)
	}
	msgs := box.Received()
	if len(msgs) != 1 {
		t.Fatalf("%d messages received", len(msgs))
	}
	m := msgs[0]
	if !m.TLS || m.User != testharness.SMTPUser || m.From != "aegir@example.com" || m.To != "alice@example.com" {
		t.Errorf("received %+v; want over TLS, logged in, from aegir to alice", m)
	}
	for _, want := range []string{"Subject: [aegir] Task backup on a.example.com failed", "disk_full", "no space left on the device", "Free some space."} {
		if !strings.Contains(m.Data, want) {
			t.Errorf("the mail lacks %q:\n%s", want, m.Data)
		}
	}
	if strings.Contains(m.Data, "must-not-leak") {
		t.Error("a task argument reached the mail")
	}
}

// TestEmailRefusesPlainText: a server without STARTTLS gets nothing, and
// a certificate aegir does not trust stops the delivery too; neither is
// retried.
func TestEmailRefusesPlainText(t *testing.T) {
	t.Parallel()
	cert, _, _ := testharness.SelfSigned(t)
	for _, c := range []struct {
		name string
		cert *tls.Certificate
		want string
	}{
		{"no STARTTLS", nil, "does not offer STARTTLS"},
		{"untrusted certificate", &cert, "STARTTLS with"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			box := testharness.SMTP(t, c.cert)
			b := setup(t)
			sub, _ := b.subscribe(t, b.admin, "", "ops@example.com")
			b.run(t, Config{Mail: &Mail{Address: box.Addr, From: "aegir@example.com", TLS: &tls.Config{ServerName: "127.0.0.1"}}})
			b.failTask(t, b.acme.ID, "a.example.com")
			waitFor(t, "a recorded delivery", func() bool { return len(deliveries(t, b.st, sub.ID)) == 1 })
			d := deliveries(t, b.st, sub.ID)[0]
			if d.Status != domain.DeliveryFailed || d.Attempts != 1 || !strings.Contains(d.Error, c.want) {
				t.Errorf("delivery = %+v; want failed once with %q", d, c.want)
			}
			if n := len(box.Received()); n != 0 {
				t.Errorf("%d messages received", n)
			}
		})
	}
}
