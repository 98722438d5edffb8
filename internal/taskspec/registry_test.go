package taskspec

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
)

// kindChanges are the changes a task of each kind could ever make.
var kindChanges = map[domain.TargetKind]Change{
	domain.TargetSite: SiteChanges | ChangeReleaseOldPlace | ChangeReplacedFiles, domain.TargetPlatform: PlatformChanges, domain.TargetServer: ServerChanges,
}

// TestSpecsAreWellFormed checks what a new spec could get wrong.
func TestSpecsAreWellFormed(t *testing.T) {
	t.Parallel()
	seen := map[domain.TargetKind]map[domain.TaskType]bool{}
	for _, s := range All() {
		if err := domain.ValidateName("type", string(s.Type)); err != nil {
			t.Errorf("%s: %v", s.Type, err)
		}
		if _, ok := kindChanges[s.Kind]; !ok {
			t.Errorf("%s: unknown target kind %q", s.Type, s.Kind)
		}
		if len(s.From) == 0 {
			t.Errorf("%s: no state to start from", s.Type)
		}
		if !s.Allows(s.Changes) || s.Changes&^kindChanges[s.Kind] != 0 {
			t.Errorf("%s: a %s task cannot make changes %b", s.Type, s.Kind, s.Changes&^kindChanges[s.Kind])
		}
		if seen[s.Kind] == nil {
			seen[s.Kind] = map[domain.TaskType]bool{}
		}
		for _, n := range append([]domain.TaskType{s.Type}, s.Aliases...) {
			if seen[s.Kind][n] {
				t.Errorf("%s: %q names two %s task types", s.Type, n, s.Kind)
			}
			seen[s.Kind][n] = true
		}
		if s.Summary == "" || !strings.HasSuffix(s.Summary, ".") {
			t.Errorf("%s: the summary %q is not a sentence", s.Type, s.Summary)
		}
		if s.Form.Label == "" {
			t.Errorf("%s: no form label", s.Type)
		}
		if s.Backup != NoBackup && (s.Arg("backup_id") == nil || s.Arg("backup_id").Required != (s.Backup != BackupArchiveIfGiven)) {
			t.Errorf("%s: uses a backup but takes no backup_id (required unless BackupArchiveIfGiven)", s.Type)
		}
		if (s.Report != NoReport || s.Destination != NoDestination) && s.Kind != domain.TargetSite {
			t.Errorf("%s: only site tasks have destinations and reports", s.Type)
		}
		if s.Backup != NoBackup && s.Kind != domain.TargetSite && (s.Kind != domain.TargetServer || s.Backup != BackupRecord) {
			t.Errorf("%s: only site tasks, and server tasks on the record of a deleted site's backup, work on backups", s.Type)
		}
		for _, a := range s.Args {
			if err := domain.ValidateName("arg", a.Name); err != nil {
				t.Errorf("%s: %v", s.Type, err)
			}
			if a.Type == ArgID && a.Of == "" {
				t.Errorf("%s: %s does not say what it is the id of", s.Type, a.Name)
			}
			if a.Required && a.Need == "" {
				t.Errorf("%s: required %s does not say why", s.Type, a.Name)
			}
			if a.Label == "" {
				t.Errorf("%s: %s has no label", s.Type, a.Name)
			}
		}
		for _, n := range s.AnyOf {
			if s.Arg(n) == nil {
				t.Errorf("%s: AnyOf names %s, which it does not take", s.Type, n)
			}
		}
		if len(s.AnyOf) > 0 && s.AnyOfNeed == "" {
			t.Errorf("%s: AnyOf without AnyOfNeed", s.Type)
		}
	}
}

// TestSpecsCoverTheAPI checks every task type the API documents and the
// dashboard offers has a spec on the right kind of target.
func TestSpecsCoverTheAPI(t *testing.T) {
	t.Parallel()
	for kind, names := range map[domain.TargetKind][]string{
		// dashboard/routes.go: POST /sites/:id/tasks, /platforms/:id/tasks, /servers/:id/tasks.
		domain.TargetSite:     {"backup", "restore", "disable", "enable", "verify", "clone", "migrate", "delete", "install", "rotate-credentials", "delete-backup"},
		domain.TargetPlatform: {"verify-platform", "import", "lock", "unlock", "delete", "delete-platform", "verify"},
		domain.TargetServer:   {"verify-server"},
	} {
		for _, n := range names {
			if s, err := Resolve(kind, n); err != nil || s.Kind != kind {
				t.Errorf("%s task %q: %v", kind, n, err)
			}
		}
	}
	for _, typ := range []domain.TaskType{
		domain.TaskInstall, domain.TaskVerify, domain.TaskBackup, domain.TaskRestore, domain.TaskDisable,
		domain.TaskEnable, domain.TaskClone, domain.TaskMigrate, domain.TaskDelete, domain.TaskRotateCredentials,
		domain.TaskCron, domain.TaskStats, domain.TaskDeleteBackup, domain.TaskVerifyBackup,
		domain.TaskVerifyPlatform, domain.TaskImport, domain.TaskLock, domain.TaskUnlock, domain.TaskDeletePlatform,
		domain.TaskVerifyServer, domain.TaskDeleteBackupOfDeletedSite,
	} {
		if _, ok := Lookup(typ); !ok {
			t.Errorf("no spec for %s", typ)
		}
	}
}

func TestResolve(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kind domain.TargetKind
		name string
		want domain.TaskType
	}{
		{domain.TargetPlatform, "delete", domain.TaskDeletePlatform},
		{domain.TargetPlatform, "verify", domain.TaskVerifyPlatform},
		{domain.TargetPlatform, "lock", domain.TaskLock},
		{domain.TargetSite, "delete", domain.TaskDelete},
		{domain.TargetSite, "verify", domain.TaskVerify},
		{domain.TargetServer, "verify-server", domain.TaskVerifyServer},
	} {
		if s, err := Resolve(tc.kind, tc.name); err != nil || s.Type != tc.want {
			t.Errorf("%s %q: %v %v, want %s", tc.kind, tc.name, s, err, tc.want)
		}
	}
	if _, err := Resolve(domain.TargetSite, "lock"); !errors.Is(err, domain.ErrInvalid) {
		t.Errorf("lock on a site: %v", err)
	}
}

func TestForAndTypes(t *testing.T) {
	t.Parallel()
	n := 0
	for _, k := range []domain.TargetKind{domain.TargetSite, domain.TargetPlatform, domain.TargetServer} {
		types := Types(k)
		if !slices.IsSorted(types) || len(types) != len(For(k)) {
			t.Errorf("%s: %v", k, types)
		}
		n += len(types)
	}
	if n != len(All()) || len(All()) != len(specs) || len(byType) != len(specs) {
		t.Errorf("%d specs by kind, %d in all", n, len(All()))
	}
}

func TestNewTask(t *testing.T) {
	t.Parallel()
	task, err := NewTask(domain.TaskBackup, domain.TargetSite, domain.NewID(), nil)
	if err != nil || task.Status != domain.TaskQueued {
		t.Fatalf("%v %v", task, err)
	}
	if _, err := NewTask(domain.TaskLock, domain.TargetSite, domain.NewID(), nil); !errors.Is(err, domain.ErrInvalid) {
		t.Fatalf("platform task on a site accepted: %v", err)
	}
	if _, err := NewTask("rm -rf", domain.TargetSite, domain.NewID(), nil); !errors.Is(err, domain.ErrInvalid) {
		t.Fatalf("unknown task type accepted: %v", err)
	}
}

func TestCheckChanges(t *testing.T) {
	t.Parallel()
	lockSpec, _ := Lookup(domain.TaskLock)
	if err := lockSpec.CheckChanges(ChangePlatformLock); err != nil {
		t.Errorf("lock locking: %v", err)
	}
	if err := lockSpec.CheckChanges(ChangeSiteStatus | ChangePlatformLock); err == nil || err.Error() != "a lock task cannot change a site" {
		t.Errorf("lock changing a site: %v", err)
	}
	if err := lockSpec.CheckChanges(ChangeRemovePlatform); err == nil || err.Error() != "a lock task cannot change a platform" {
		t.Errorf("lock removing its platform: %v", err)
	}
	cronSpec, _ := Lookup(domain.TaskCron)
	if err := cronSpec.CheckChanges(ChangeNewSites); err == nil || err.Error() != "a cron task cannot create sites" {
		t.Errorf("cron creating sites: %v", err)
	}
}
