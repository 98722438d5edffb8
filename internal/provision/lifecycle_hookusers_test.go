package provision_test

import (
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/testharness"
)

// whoScript records who runs a hook, then runs the hook's real command:
// "<hook> <uid> <gid> <domain> <APP_GREETING> <db>" in $WHO_LOG.
const whoScript = `#!/bin/sh
set -u
h=$1; shift
db=nodb
[ -n "${AEGIR_DB_NAME:-}" ] && db=db
printf '%s %s %s %s %s %s\n' "$h" "$(id -u)" "$(id -g)" "${AEGIR_SITE_DOMAIN:--}" "${APP_GREETING:-}" "$db" >> "$WHO_LOG"
exec "$@"
`

// TestHooksRunAsSite: with site users (root, nginx), every command aegir
// runs for a site runs as the site's own user and group with its
// environment: install, cron, stats and pre-delete as well as the
// lifecycle hooks; verify-platform's packages hook, which belongs to no
// site, runs as nobody with the web group. None runs as root.
func TestHooksRunAsSite(t *testing.T) {
	t.Parallel()
	testharness.RequireRoot(t, "site users (hooks switch to them)")
	s := setupStack(t, domain.KindMariaDB)
	plat := s.platform["php1"]
	logDir, err := os.MkdirTemp("", "aegir-who-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(logDir) })
	log := filepath.Join(logDir, "who.log")
	for p, mode := range map[string]os.FileMode{logDir: 0o755, log: 0o666} {
		if p == log {
			if err := os.WriteFile(log, nil, mode); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	wrap := func(hook string, argv ...string) string {
		return `["sh", "bin/who.sh", "` + hook + `", "` + strings.Join(argv, `", "`) + `"]`
	}
	hcl := `docroot = "public"
nginx_snippet = "aegir/nginx.conf"
hooks {
  install    = ` + wrap("install", "php", "bin/install.php") + `
  cron       = ` + wrap("cron", "php", "bin/cron.php") + `
  stats      = ` + wrap("stats", "php", "bin/stats.php") + `
  packages   = ` + wrap("packages", "php", "bin/packages.php") + `
  verify     = ` + wrap("verify", "true") + `
  pre-delete = ` + wrap("pre-delete", "true") + `
}
env {
  APP_GREETING = "hello-who"
  WHO_LOG      = "` + log + `"
}
`
	for f, c := range map[string]string{"aegir.hcl": hcl, "bin/who.sh": whoScript} {
		if err := os.WriteFile(filepath.Join(plat.Path, f), []byte(c), 0o755); err != nil {
			t.Fatal(err)
		}
	}

	site := &provision.SiteInfo{ID: domain.NewID(), Domain: "who.example.com", Status: domain.SitePending}
	s.mustRun(s.ctx(domain.TaskInstall, site, "php1"))
	site.Status = domain.SiteEnabled
	name, _ := provision.SiteUserName(site.Domain)
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	s.mustRun(s.ctx(domain.TaskVerify, site, "php1"))
	s.mustRun(s.ctx(domain.TaskCron, site, "php1"))
	if res := s.mustRun(s.ctx(domain.TaskStats, site, "php1")); res.Report == nil || res.Report.Figures["cron_runs"] != 1 {
		t.Fatalf("stats as the site's user: %+v", res.Report)
	}
	pc := s.ctx(domain.TaskVerifyPlatform, site, "php1")
	pc.Site, pc.DBServer, pc.DBService = nil, nil, nil
	if res := s.mustRun(pc); len(res.Changes.Packages) == 0 {
		t.Fatalf("the packages hook as nobody found no packages: %+v", res.Changes)
	}
	s.mustRun(s.ctx(domain.TaskDelete, site, "php1"))

	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	webGroup, err := user.LookupGroup("www-data")
	if err != nil {
		t.Fatal(err)
	}
	as := u.Uid + " " + u.Gid + " who.example.com hello-who db"
	want := []string{
		"install " + as,
		"verify " + as,
		"cron " + as,
		"stats " + as,
		"packages " + nobody.Uid + " " + webGroup.Gid + " - hello-who nodb",
		"pre-delete " + as,
	}
	if got := readLog(t, log); got != strings.Join(want, "\n")+"\n" {
		t.Fatalf("who ran the hooks:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}
