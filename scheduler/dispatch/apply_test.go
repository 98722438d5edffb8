package dispatch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/scheduler/runner"
)

func TestResultChangesRefusesOtherTargets(t *testing.T) {
	t.Parallel()
	platformTask := domain.Task{ID: domain.NewID(), Type: domain.TaskLock, TargetKind: domain.TargetPlatform, TargetID: domain.NewID()}
	siteTask := domain.Task{ID: domain.NewID(), Type: domain.TaskVerify, TargetKind: domain.TargetSite, TargetID: domain.NewID()}
	cronTask := domain.Task{ID: domain.NewID(), Type: domain.TaskCron, TargetKind: domain.TargetSite, TargetID: domain.NewID()}
	importTask := domain.Task{ID: domain.NewID(), Type: domain.TaskImport, TargetKind: domain.TargetPlatform, TargetID: domain.NewID()}
	restoreTask := domain.Task{ID: domain.NewID(), Type: domain.TaskRestore, TargetKind: domain.TargetSite, TargetID: domain.NewID()}
	locked := true
	for _, tc := range []struct {
		name    string
		task    domain.Task
		changes provision.Changes
		n       int
		err     string
	}{
		{"platform task sets site status", platformTask, provision.Changes{SiteStatus: domain.SiteEnabled}, 0, "a lock task cannot change a site"},
		{"site task locks platform", siteTask, provision.Changes{PlatformLocked: &locked}, 0, "cannot change a platform"},
		{"site task sets server status", siteTask, provision.Changes{ServerStatus: domain.ServerReady}, 0, "cannot change a server"},
		{"platform lock", platformTask, provision.Changes{PlatformLocked: &locked}, 1, ""},
		{"remove wins over status", siteTask, provision.Changes{RemoveSite: true, SiteStatus: domain.SiteDeleted}, 1, ""},
		{"backup and status", siteTask, provision.Changes{SiteStatus: domain.SiteEnabled, Backups: []provision.NewBackup{{Path: "/b"}}}, 2, ""},
		{"lock removes its platform", platformTask, provision.Changes{RemovePlatform: true}, 0, "a lock task cannot change a platform"},
		{"cron sets site status", cronTask, provision.Changes{SiteStatus: domain.SiteDisabled}, 0, "a cron task cannot change a site"},
		{"cron removes backups", cronTask, provision.Changes{RemoveBackups: []string{domain.NewID()}}, 0, "a cron task cannot remove backups"},
		{"import finds sites", importTask, provision.Changes{NewSites: []provision.NewSite{{Domain: "a.example.com"}, {Domain: "b.example.com"}}}, 2, ""},
		{"verify records the site's user", siteTask, provision.Changes{SiteUser: &domain.UnixUser{Name: "ae-a-1234abcd", UID: 998, GID: 998}}, 1, ""},
		{"cron sets the site's user", cronTask, provision.Changes{SiteUser: &domain.UnixUser{Name: "ae-a-1234abcd"}}, 0, "a cron task cannot change a site"},
		{"import sets site status", importTask, provision.Changes{SiteStatus: domain.SiteEnabled}, 0, "import task cannot change a site"},
		{"restore leaves its replaced files", restoreTask, provision.Changes{SiteStatus: domain.SiteEnabled, ReplacedFiles: true}, 2, ""},
		{"verify leaves replaced files", siteTask, provision.Changes{ReplacedFiles: true}, 0, "a verify task cannot change a site"},
		{"unknown type", domain.Task{ID: domain.NewID(), Type: "no-such"}, provision.Changes{}, 0, "unknown type"},
	} {
		got, err := ResultChanges(tc.task, &provision.Result{Status: domain.TaskSucceeded, Changes: tc.changes})
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || len(got) != tc.n {
			t.Errorf("%s: %d changes, err %v; want %d", tc.name, len(got), err, tc.n)
		}
	}
}

func TestEndingOf(t *testing.T) {
	t.Parallel()
	task := domain.Task{ID: domain.NewID(), Type: domain.TaskVerify, TargetKind: domain.TargetSite, TargetID: domain.NewID()}
	ok := &provision.Result{Version: provision.ContextVersion, Status: domain.TaskSucceeded, Summary: "verified"}
	bad := &provision.Result{Version: provision.ContextVersion, Status: domain.TaskFailed, ErrorCode: "db_unreachable", Explanation: "The database did not answer.", FixHint: "Start it."}
	older := &provision.Result{Version: provision.ContextVersion - 1, Status: domain.TaskSucceeded, Summary: "verified",
		Changes: provision.Changes{SiteStatus: domain.SiteDisabled}}
	for _, tc := range []struct {
		name       string
		o          outcome
		status     domain.TaskStatus
		code, expl string
		summary    string
	}{
		{"success", outcome{res: ok}, domain.TaskSucceeded, "", "", "verified"},
		{"failure", outcome{res: bad}, domain.TaskFailed, "db_unreachable", "The database did not answer.", ""},
		{"no result", outcome{err: errors.New("the back end exited with status 3 without a result")}, domain.TaskFailed, "runner_failed", "The back end exited with status 3 without a result.", ""},
		{"cancelled, no result", outcome{cancelledBy: "ann", err: errors.New("x")}, domain.TaskCancelled, "cancelled", "Cancelled by ann while it ran. Nothing it did was recorded.", ""},
		{"cancelled after success", outcome{cancelledBy: "ann", res: ok}, domain.TaskSucceeded, "", "", "verified (it had finished before it could be stopped)"},
		{"cancelled, failed result", outcome{cancelledBy: "ann", res: bad}, domain.TaskCancelled, "db_unreachable", "Cancelled by ann while it ran. The database did not answer.", ""},
		{"timeout", outcome{timedOut: true, err: errors.New("x")}, domain.TaskFailed, "timeout", "The task took longer than the timeout (1h); the back end was stopped. Nothing it did was recorded.", ""},
		{"shutdown", outcome{shutdown: true, err: errors.New("x")}, domain.TaskFailed, "aegir_stopped", "aegir was stopped while the task ran, and stopped the back end. Nothing it did was recorded.", ""},
		{"shutdown, rolled back", outcome{shutdown: true, res: &provision.Result{Version: provision.ContextVersion, Status: domain.TaskFailed, ErrorCode: provision.CodeCancelled, Explanation: "The steps it had taken were rolled back."}},
			domain.TaskFailed, "aegir_stopped", "aegir was stopped while the task ran, and stopped the back end. The steps it had taken were rolled back.", ""},
		{"leadership lost, rolled back", outcome{leaderLost: true, res: &provision.Result{Version: provision.ContextVersion, Status: domain.TaskFailed, ErrorCode: provision.CodeCancelled, Explanation: "The steps it had taken were rolled back."}},
			domain.TaskFailed, "leadership_lost", "This aegir process lost the dispatcher's leadership (its lease in Redis could not be renewed in time: Redis did not answer, or the process paused) and stopped the back end. The steps it had taken were rolled back.", ""},
		{"leadership lost, no result", outcome{leaderLost: true, err: errors.New("x")}, domain.TaskFailed, "leadership_lost",
			"This aegir process lost the dispatcher's leadership (its lease in Redis could not be renewed in time: Redis did not answer, or the process paused) and stopped the back end. Nothing it did was recorded.", ""},
		{"stepped down, rolled back", outcome{steppedDown: true, res: &provision.Result{Version: provision.ContextVersion, Status: domain.TaskFailed, ErrorCode: provision.CodeCancelled, Explanation: "The steps it had taken were rolled back."}},
			domain.TaskFailed, "aegir_stopped", "This aegir process stepped down from the dispatcher's lead for an older aegir server (a rolling upgrade), and stopped the back end as on a stop of aegir. The steps it had taken were rolled back.", ""},
		{"stepped down, no result", outcome{steppedDown: true, err: errors.New("x")}, domain.TaskFailed, "aegir_stopped",
			"This aegir process stepped down from the dispatcher's lead for an older aegir server (a rolling upgrade), and stopped the back end as on a stop of aegir. Nothing it did was recorded.", ""},
		{"executor's own code", outcome{err: &runner.Failure{Msg: "the back end exited without leaving a result: its result could not be read: redis down", Code: "bus_unavailable", Hint: "Check Redis."}},
			domain.TaskFailed, "bus_unavailable", "The back end exited without leaving a result: its result could not be read: redis down.", ""},
		{"shutdown after success", outcome{shutdown: true, res: ok}, domain.TaskSucceeded, "", "", "verified (it had finished before it could be stopped)"},
		{"another release's result", outcome{res: older}, domain.TaskFailed, provision.CodeVersionMismatch,
			fmt.Sprintf("The back end answered in result schema %d and this aegir server reads schema %d: the back end is another aegir release. Nothing it reported (succeeded) was applied.", provision.ContextVersion-1, provision.ContextVersion), ""},
	} {
		e := endingOf(task, tc.o, time.Hour)
		if e.status != tc.status || e.code != tc.code || e.explanation != tc.expl || e.summary != tc.summary {
			t.Errorf("%s: got %s %q %q %q", tc.name, e.status, e.code, e.explanation, e.summary)
		}
		if e.status != domain.TaskSucceeded && e.hint == "" && (tc.o.res == nil || tc.code == provision.CodeVersionMismatch) {
			t.Errorf("%s: no fix hint", tc.name)
		}
		if tc.code == provision.CodeVersionMismatch && len(e.changes) > 0 {
			t.Errorf("%s: changes applied: %v", tc.name, e.changes)
		}
	}
}

func TestFinishRetriesConflictsAndFallsBack(t *testing.T) {
	t.Parallel()
	b := setup(t, fakeOK)
	ctx := context.Background()
	site, install := b.newSite(t)
	must(t, b.st.StartTask(ctx, install, "test", 1))
	// A stale copy of the task must not matter: finish re-reads it.
	e := ending{status: domain.TaskSucceeded, summary: "installed"}
	e.changes, _ = ResultChanges(*install, &provision.Result{Changes: provision.Changes{SiteStatus: domain.SiteEnabled}})
	final, err := b.d.finish(ctx, install.ID, e)
	must(t, err)
	got, _ := b.st.GetTask(ctx, install.ID)
	if final.status != domain.TaskSucceeded || got.Status != domain.TaskSucceeded || b.site(t, site.ID).Status != domain.SiteEnabled {
		t.Fatalf("finish: %s, site %s", got.Status, b.site(t, site.ID).Status)
	}
	// Finishing a finished task leaves it alone.
	if _, err := b.d.finish(ctx, install.ID, ending{status: domain.TaskFailed}); err != nil {
		t.Fatal(err)
	}
	if again, _ := b.st.GetTask(ctx, install.ID); again.Status != domain.TaskSucceeded {
		t.Fatal("finished task finished twice")
	}
}

// recordedEvents keeps the tasks the dispatcher reported failed.
type recordedEvents struct {
	mu     sync.Mutex
	failed []domain.Task
}

func (r *recordedEvents) TaskFailed(_ context.Context, t domain.Task) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = append(r.failed, t)
	return nil
}

// TestFinishReportsFailures: a task that ends failed is reported once,
// after its ending is stored, with its explanation; a success is not.
func TestFinishReportsFailures(t *testing.T) {
	t.Parallel()
	events := &recordedEvents{}
	b := setup(t, fakeOK, func(c *Config) { c.Events = events })
	ctx := context.Background()
	_, ok := b.newSite(t)
	must(t, b.st.StartTask(ctx, ok, "test", 1))
	if _, err := b.d.finish(ctx, ok.ID, ending{status: domain.TaskSucceeded}); err != nil {
		t.Fatal(err)
	}
	_, bad := b.newSite(t)
	must(t, b.st.StartTask(ctx, bad, "test", 1))
	if _, err := b.d.finish(ctx, bad.ID, ending{status: domain.TaskFailed, code: "boom", explanation: "It broke."}); err != nil {
		t.Fatal(err)
	}
	// Finishing it again reports nothing more.
	if _, err := b.d.finish(ctx, bad.ID, ending{status: domain.TaskFailed}); err != nil {
		t.Fatal(err)
	}
	events.mu.Lock()
	defer events.mu.Unlock()
	if len(events.failed) != 1 {
		t.Fatalf("%d failures reported, want 1", len(events.failed))
	}
	got := events.failed[0]
	if got.ID != bad.ID || got.Status != domain.TaskFailed || got.ErrorCode != "boom" || got.Explanation != "It broke." || got.TargetName == "" {
		t.Errorf("reported %+v", got)
	}
}
