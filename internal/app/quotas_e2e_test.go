package app_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// as returns a copy of d whose API calls and CLI runs use token.
func (d *devProcess) as(token string) *devProcess {
	c := *d
	c.token = token
	return &c
}

// writeConfig writes an HCL config file for `aegir dev -config`.
func writeConfig(t *testing.T, hcl string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "aegir.hcl")
	if err := os.WriteFile(path, []byte(hcl), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// clientUser creates a user of client with the built CLI and returns a
// token of theirs.
func (d *devProcess) clientUser(name, client string) string {
	d.t.Helper()
	d.mustCLI(0, "user", "create", name, "-role", "client", "-client", client)
	out, _ := d.mustCLI(0, "token", "create", "-user", name, "-name", "e2e", "-q")
	return strings.TrimSpace(out)
}

// TestQuotasThroughTheBinary drives the README's quotas on the built
// `aegir dev` with the built CLI: the sites default comes from the config
// file's quotas block, an admin overrides backups per client (`client
// edit -quota`), a client user's site and manual backup over a quota are
// refused with quota_exceeded naming the quota and nothing is made, an
// admin is not held to quotas (what they make counts), and `client show`
// shows each limit, where it comes from and the usage, to the admin and
// to the client's user.
func TestQuotasThroughTheBinary(t *testing.T) {
	t.Parallel()
	conf := writeConfig(t, "quotas {\n  sites = 1\n  tasks = 20\n}\n")
	d := startDev(t, "-config", conf)
	d.waitPlatformsReady()

	d.mustCLI(0, "client", "create", "acme")
	out, _ := d.mustCLI(0, "client", "show", "acme")
	for _, want := range []string{"Quota sites", "0 of 1 (default)", "Quota backups", "Quota tasks"} {
		if !strings.Contains(out, want) {
			t.Errorf("client show before any site lacks %q:\n%s", want, out)
		}
	}
	d.mustCLI(0, "client", "edit", "acme", "-quota", "backups=1")
	bob := d.as(d.clientUser("bob", "acme"))

	// The client user's first site: within the quota.
	bob.mustCLI(0, "site", "create", "one.acme.test", "-platform", "example", "-db-server", "local", "-client", "acme", "-wait")
	// The second: refused, naming the quota, nothing made.
	sites := d.siteCount()
	code, stdout, stderr := bob.cliCode("site", "create", "two.acme.test", "-platform", "example", "-db-server", "local", "-client", "acme", "-wait")
	if all := stdout + stderr; code == 0 || !strings.Contains(all, "quota_exceeded") || !strings.Contains(all, "sites") {
		t.Errorf("a site over the sites quota: exit %d\n%s", code, all)
	}
	var apiErr struct {
		Error struct{ Code, Message, Field string } `json:"error"`
	}
	if n := d.siteCount(); n != sites {
		t.Errorf("the refused site was made: %d sites, want %d", n, sites)
	}
	if st := d.call("GET", "/sites/two.acme.test", nil, &apiErr); st != 404 {
		t.Errorf("the refused site answers %d, want 404", st)
	}
	// Through the API: 409 quota_exceeded with the quota in field.
	if st := bob.call("POST", "/sites", map[string]any{"domain": "two.acme.test", "platform": "example", "db_server": "local", "client": "acme"}, &apiErr); st != 409 ||
		apiErr.Error.Code != "quota_exceeded" || apiErr.Error.Field != "quotas.sites" {
		t.Errorf("API site over the quota: %d %+v", st, apiErr)
	}

	// Manual backups: one kept is the quota; the second is refused.
	bob.mustCLI(0, "site", "backup", "one.acme.test", "-wait")
	nBackups := len(d.backups())
	code, stdout, stderr = bob.cliCode("site", "backup", "one.acme.test", "-wait")
	if all := stdout + stderr; code == 0 || !strings.Contains(all, "quota_exceeded") || !strings.Contains(all, "backups") {
		t.Errorf("a backup over the backups quota: exit %d\n%s", code, all)
	}
	if n := len(d.backups()); n != nBackups {
		t.Errorf("the refused backup was made: %d backups, want %d", n, nBackups)
	}

	// An admin is not held to the client's quotas; what they make counts.
	d.mustCLI(0, "site", "create", "admin.acme.test", "-platform", "example", "-db-server", "local", "-client", "acme", "-wait")
	d.mustCLI(0, "site", "backup", "one.acme.test", "-wait")
	for _, who := range []*devProcess{d, bob} {
		out, _ = who.mustCLI(0, "client", "show", "acme")
		for _, want := range []string{"2 of 1 (default)", "2 of 1 (own)"} {
			if !strings.Contains(out, want) {
				t.Errorf("client show after the admin's site and backup lacks %q:\n%s", want, out)
			}
		}
	}
	// Another client, without a user's requests, is not affected.
	d.mustCLI(0, "site", "create", "other.example.test", "-platform", "example", "-db-server", "local", "-client", "default", "-wait")

	// The client's user cannot raise them.
	bob.mustCLI(4, "client", "edit", "acme", "-quota", "sites=10")
	// Raised by the admin: the user's site goes through.
	d.mustCLI(0, "client", "edit", "acme", "-quota", "sites=3")
	bob.mustCLI(0, "site", "create", "two.acme.test", "-platform", "example", "-db-server", "local", "-client", "acme", "-wait")
	// Disk: at or over it (its backups' archives count before any stats
	// pass), a new site is refused.
	d.mustCLI(0, "client", "edit", "acme", "-quota", "sites=10", "-quota", "disk=1")
	sites = d.siteCount()
	code, stdout, stderr = bob.cliCode("site", "create", "three.acme.test", "-platform", "example", "-db-server", "local", "-client", "acme")
	if all := stdout + stderr; code == 0 || !strings.Contains(all, "quota_exceeded") || !strings.Contains(all, "disk") {
		t.Errorf("a site over the disk quota: exit %d\n%s", code, all)
	}
	if n := d.siteCount(); n != sites {
		t.Errorf("the site refused for disk was made: %d sites, want %d", n, sites)
	}
	// Defaults an admin stores over the configuration's: every client
	// without its own limit takes them at once.
	out, _ = d.mustCLI(0, "client", "defaults")
	if !strings.Contains(out, "1 (configuration)") {
		t.Errorf("client defaults does not show the config file's sites = 1:\n%s", out)
	}
	d.mustCLI(0, "client", "create", "globex")
	d.mustCLI(0, "client", "defaults", "-quota", "sites=5", "-quota", "backups=7")
	out, _ = d.mustCLI(0, "client", "show", "globex")
	if !strings.Contains(out, "0 of 5 (default)") || !strings.Contains(out, "0 of 7 (default)") {
		t.Errorf("client show after client defaults:\n%s", out)
	}
	out, _ = d.mustCLI(0, "client", "show", "acme")
	if !strings.Contains(out, "of 10 (own)") || !strings.Contains(out, "of 1 (own)") {
		t.Errorf("acme's own limits after client defaults:\n%s", out)
	}
	bob.mustCLI(4, "client", "defaults", "-quota", "sites=100")

	// The client's dashboard page shows them too.
	pw, err := os.ReadFile(filepath.Join(d.dataDir, "admin-password"))
	if err != nil {
		t.Fatal(err)
	}
	admin := d.browser("127.0.0.1")
	if code, loc := admin.login("admin", strings.TrimSpace(string(pw)), "", ""); code != 303 || loc != "/" {
		t.Fatalf("admin login: %d to %q", code, loc)
	}
	var acme struct{ ID string }
	raw, _ := d.mustCLI(0, "client", "show", "acme", "-json")
	_ = json.Unmarshal([]byte(raw), &acme)
	code, _, page := admin.do("GET", "/clients/"+acme.ID, nil, "")
	if want := `<td>sites</td><td>3</td><td>10 <span class="muted small">(own)</span>`; code != 200 || !strings.Contains(page, want) {
		t.Errorf("the client's page: %d, lacks %q", code, want)
	}
	out, _ = d.mustCLI(0, "audit", "list", "-kind", "client", "-action", "update")
	if !strings.Contains(out, "quotas=") {
		t.Errorf("the quota change is not on the audit log:\n%s", out)
	}
}
