package taskspec

import (
	"errors"
	"slices"
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
)

func TestCheckSite(t *testing.T) {
	t.Parallel()
	site := &domain.Site{Domain: "example.com", Status: domain.SiteEnabled}
	if err := CheckSite(site, domain.TaskEnable, nil); !errors.Is(err, domain.ErrIllegalTransition) {
		t.Errorf("enable an enabled site: %v", err)
	}
	if err := CheckSite(site, domain.TaskDisable, nil); err != nil {
		t.Errorf("disable: %v", err)
	}
	if err := CheckSite(site, domain.TaskRestore, map[string]string{}); !errors.Is(err, domain.ErrInvalid) {
		t.Errorf("restore without backup: %v", err)
	}
	args := map[string]string{"domain": "New.Example.com"}
	if err := CheckSite(site, domain.TaskClone, args); err != nil || args["domain"] != "new.example.com" {
		t.Errorf("clone: %v %v", err, args)
	}
	if err := CheckSite(&domain.Site{Status: domain.SitePending}, domain.TaskBackup, nil); !errors.Is(err, domain.ErrIllegalTransition) {
		t.Errorf("backup of a pending site: %v", err)
	}
	if err := CheckSite(site, domain.TaskVerifyPlatform, nil); !errors.Is(err, domain.ErrInvalid) {
		t.Errorf("platform task on a site: %v", err)
	}
}

// TestRuleMessages pins the words an operator reads for each kind of
// refusal.
func TestRuleMessages(t *testing.T) {
	t.Parallel()
	enabled := SiteTarget(&domain.Site{Domain: "a.example.com", Status: domain.SiteEnabled})
	failed := SiteTarget(&domain.Site{Domain: "a.example.com", Status: domain.SiteFailed})
	locked := PlatformTarget(&domain.Platform{Name: "d11", Status: domain.PlatformReady, Locked: true})
	pending := PlatformTarget(&domain.Platform{Name: "d11", Status: domain.PlatformPending})
	srv := ServerTarget(&domain.Server{Name: "web1", Status: domain.ServerReady})
	for _, tc := range []struct {
		t    Target
		typ  domain.TaskType
		args map[string]string
		want string
	}{
		{enabled, domain.TaskInstall, nil, `cannot install site a.example.com: it is already installed: site cannot go from "enabled" to "install"`},
		{failed, domain.TaskBackup, nil, `cannot backup site a.example.com: its install failed; retry the install or delete it: site cannot go from "failed" to "backup"`},
		{enabled, domain.TaskMigrate, nil, `args: migrate needs a new platform_id, a new domain, or both`},
		{enabled, domain.TaskClone, map[string]string{"domain": "x.example.com", "db_server_id": "nope"}, `args.db_server_id: is not a server id`},
		{enabled, domain.TaskLock, nil, `type: "lock" is not a site task; use one of [backup certificate clone cron delete delete-backup disable enable install migrate release-old-place remove-replaced-files restore rotate-credentials stats verify verify-backup]`},
		{locked, domain.TaskLock, nil, `cannot lock platform d11: it is already locked: platform cannot go from "ready" to "lock"`},
		{pending, domain.TaskImport, nil, `cannot import platform d11: it has not been verified; verify it first: platform cannot go from "pending" to "import"`},
		{srv, domain.TaskVerifyServer, nil, ``},
		{srv, domain.TaskVerify, nil, `type: "verify" is not a server task; use one of [delete-backup-of-deleted-site verify-server]`},
	} {
		err := Check(tc.t, tc.typ, tc.args)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%s on %s %s:\n got  %q\n want %q", tc.typ, tc.t.Kind, tc.t.Status, got, tc.want)
		}
	}
}

func TestAvailable(t *testing.T) {
	t.Parallel()
	names := func(specs []*Spec) []domain.TaskType {
		var out []domain.TaskType
		for _, s := range specs {
			out = append(out, s.Type)
		}
		return out
	}
	for _, tc := range []struct {
		t    Target
		want []domain.TaskType
	}{
		{SiteTarget(&domain.Site{Status: domain.SiteFailed}), []domain.TaskType{domain.TaskDelete, domain.TaskInstall}},
		{SiteTarget(&domain.Site{Status: domain.SiteDeleted}), nil},
		{SiteTarget(&domain.Site{Status: domain.SiteDisabled}), []domain.TaskType{"backup", "clone", "cron", "delete", "delete-backup", "enable", "migrate", "release-old-place", "remove-replaced-files", "restore", "rotate-credentials", "stats", "verify", "verify-backup"}},
		{PlatformTarget(&domain.Platform{Status: domain.PlatformReady, Locked: true}), []domain.TaskType{"delete-platform", "import", "migrate-sites", "unlock", "verify-platform"}},
		{PlatformTarget(&domain.Platform{Status: domain.PlatformPending}), []domain.TaskType{"delete-platform", "lock", "verify-platform"}},
	} {
		if got := names(Available(tc.t)); !slices.Equal(got, tc.want) {
			t.Errorf("%s %s: %v, want %v", tc.t.Kind, tc.t.Status, got, tc.want)
		}
	}
}
