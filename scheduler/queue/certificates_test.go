package queue

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/testharness"
)

// The certificates queue renews Pebble's short-lived certificates (an
// hour, inside a two-hour window) through the real dispatcher and back
// end, skips sites without HTTPS, and records a site whose challenge
// cannot pass as failed while it keeps serving over HTTP.
func TestCertificatesQueueRenewsFromPebble(t *testing.T) {
	t.Parallel()
	// setupPass names its sites sa.example.com, sb.example.com ...; the
	// alias nowhere.sb.example.com is not in Pebble's DNS.
	var pebble *testharness.PebbleServer
	b := setupPassEnv(t, 3, func(port int, env *provision.EnvInfo, qc *Config) {
		pebble = testharness.Pebble(t, testharness.PebbleConfig{HTTPPort: port, Validity: time.Hour,
			Hosts: map[string]string{"sa.example.com": "127.0.0.1", "sb.example.com": "127.0.0.1"}})
		env.TLS = provision.TLSInfo{Issuer: domain.IssuerACME, ACMEDirectory: pebble.Directory, ACMERootsFile: pebble.RootsFile, RenewWindow: "2h"}
		qc.RenewWindow = 2 * time.Hour
	})
	ctx := t.Context()
	b.clock.Add(time.Since(b.clock.Now())) // certificates expire in real time

	edit := func(i int, aliases ...string) {
		t.Helper()
		s, err := b.st.GetSite(ctx, b.sites[i].ID)
		must(t, err)
		s.HTTPS, s.Aliases = domain.HTTPSRedirect, aliases
		_, err = b.st.UpdateSite(ctx, s, "test")
		must(t, err)
	}
	edit(0)
	b.settle(t) // verify issues the first certificate
	first, err := b.st.GetSite(ctx, b.sites[0].ID)
	must(t, err)
	if c := first.Certificate; c == nil || c.Error != "" || c.Issuer != domain.IssuerACME {
		t.Fatalf("first certificate: %+v", c)
	}
	edit(1, "nowhere.sb.example.com")
	waitIdle(t, b)

	set, err := b.q.Settings(ctx, Certificates)
	must(t, err)
	set.Interval = set.Frequency // one pass takes the whole fleet
	_, err = b.q.PutSettings(ctx, Certificates, set)
	must(t, err)
	rep, err := b.q.RunPass(ctx, Certificates)
	must(t, err)
	if rep.Eligible != 2 || rep.Succeeded != 1 || rep.Failed != 1 {
		t.Fatalf("pass: eligible %d succeeded %d failed %d, want 2 1 1", rep.Eligible, rep.Succeeded, rep.Failed)
	}
	renewed, err := b.st.GetSite(ctx, b.sites[0].ID)
	must(t, err)
	if c := renewed.Certificate; c == nil || c.Serial == first.Certificate.Serial || c.Error != "" {
		t.Fatalf("renewed certificate: %+v (was serial %s)", c, first.Certificate.Serial)
	}
	failing, err := b.st.GetSite(ctx, b.sites[1].ID)
	must(t, err)
	if c := failing.Certificate; c == nil || c.Error == "" || c.Hint == "" || c.Failures < 2 {
		t.Fatalf("failing site's certificate state: %+v", c)
	}
	runs, err := b.q.Runs(ctx, Certificates)
	must(t, err)
	if r := runs[b.sites[1].ID]; r.Failures != 1 || !strings.Contains(r.Error, "certificate") {
		t.Errorf("failing site's run: %+v", r)
	}
	// The failing site still serves over HTTP.
	if code := getStatus(t, b.webURL, "sb.example.com"); code != 200 {
		t.Errorf("the failing site answers %d over HTTP", code)
	}
}

// waitIdle waits until no task is active (failed tasks allowed).
func waitIdle(t *testing.T, b *passBundle) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		active, _, err := b.st.ActiveTasks(context.Background())
		must(t, err)
		if len(active) == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("tasks did not settle")
}

func getStatus(t *testing.T, url, host string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url+"/", nil)
	must(t, err)
	req.Host = host
	resp, err := cronClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
