package cli

import (
	"strings"
	"testing"
)

// TestClientQuotas drives "aegir client edit -quota" and "client show"
// against the real API: an admin sets and resets a client's quotas, the
// client's user sees them and cannot change them (exit 4).
func TestClientQuotas(t *testing.T) {
	t.Parallel()
	b, _ := realAPI(t)

	b.run("client", "create", "acme").want(t, ExitOK)
	r := b.run("client", "show", "acme").want(t, ExitOK)
	contains(t, "stdout", r.stdout, "Quota tasks", "0 (no limit, default)", "Quota disk")

	b.run("client", "edit", "acme", "-quota", "sites=10", "-quota", "disk=20G", "-title", "Acme").want(t, ExitOK)
	r = b.run("client", "show", "acme").want(t, ExitOK)
	contains(t, "stdout", r.stdout, "0 of 10 (own)", "0 B of 20G (own)", "Acme")
	b.run("client", "edit", "acme", "-quota", "sites=default").want(t, ExitOK)
	r = b.run("client", "show", "acme").want(t, ExitOK)
	if strings.Contains(r.stdout, "of 10 (own)") || !strings.Contains(r.stdout, "0 B of 20G (own)") {
		t.Errorf("sites=default kept the override or dropped disk:\n%s", r.stdout)
	}
	b.run("client", "edit", "acme", "-quota", "sites=-1").want(t, ExitUsage)
	b.run("client", "edit", "acme", "-quota", "bananas=1").want(t, ExitUsage)
	b.run("client", "edit", "acme", "-quota", "sites").want(t, ExitUsage)
	b.run("client", "edit", "acme").want(t, ExitUsage)

	r = b.run("client", "defaults").want(t, ExitOK)
	contains(t, "stdout", r.stdout, "Quota tasks", "no limit (configuration)")
	r = b.run("client", "defaults", "-quota", "tasks=7", "-quota", "disk=1T").want(t, ExitOK)
	contains(t, "stdout", r.stdout, "7 (set by an admin)", "1T (set by an admin)")
	r = b.run("client", "defaults", "-quota", "disk=default").want(t, ExitOK)
	contains(t, "stdout", r.stdout, "7 (set by an admin)", "no limit (configuration)")
	r = b.run("client", "show", "acme").want(t, ExitOK)
	contains(t, "stdout", r.stdout, "0 of 7 (default)")
	b.run("client", "defaults", "-quota", "tasks=lots").want(t, ExitUsage)

	b.run("user", "create", "bob", "-role", "client", "-client", "acme").want(t, ExitOK)
	r = b.run("token", "create", "-user", "bob", "-q").want(t, ExitOK)
	bob := &bundle{t: t, env: map[string]string{"AEGIR_ADDR": b.env["AEGIR_ADDR"], "AEGIR_TOKEN": strings.TrimSpace(r.stdout)}}
	r = bob.run("client", "show", "acme").want(t, ExitOK)
	contains(t, "stdout", r.stdout, "0 B of 20G (own)")
	bob.run("client", "edit", "acme", "-quota", "disk=1T").want(t, ExitForbidden)
	bob.run("client", "defaults", "-quota", "tasks=1000").want(t, ExitForbidden)
	r = b.run("audit", "list", "-kind", "client").want(t, ExitOK)
	contains(t, "stdout", r.stdout, "quotas=")
}
