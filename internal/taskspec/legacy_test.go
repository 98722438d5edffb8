package taskspec

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
)

// The rules used to be written out in internal/domain (CheckSiteTask,
// CheckPlatformTask, TaskType.Target, TaskTypes), which stay, deprecated,
// until dashboard/ reads this package. These tests hold the specs to the
// exact answers of that code; delete them with it.

var legacyArgs = []map[string]string{
	nil,
	{},
	{"backup_id": domain.NewID()},
	{"backup_id": "nope"},
	{"domain": "New.Example.com."},
	{"domain": "bad domain"},
	{"domain": "new.example.com", "platform_id": domain.NewID()},
	{"domain": "new.example.com", "platform_id": "nope"},
	{"platform_id": domain.NewID()},
	{"platform_id": domain.NewID(), "db_server_id": domain.NewID()},
	{"db_server_id": domain.NewID()},
	{"client_id": domain.NewID(), "db_server_id": domain.NewID()},
	{"client_id": "x", "db_server_id": domain.NewID()},
	{"client_id": domain.NewID(), "db_server_id": "x"},
}

func legacyTypes() []domain.TaskType {
	var out []domain.TaskType
	for _, k := range []domain.TargetKind{domain.TargetSite, domain.TargetPlatform, domain.TargetServer} {
		out = append(out, domain.TaskTypes(k)...)
	}
	return append(out, "no-such-task", "")
}

// same compares two answers: both nil, or the same message and the same
// kind of error.
func same(t *testing.T, what string, got, want error) {
	t.Helper()
	if (got == nil) != (want == nil) {
		t.Errorf("%s: got %v, want %v", what, got, want)
		return
	}
	if got == nil {
		return
	}
	if got.Error() != want.Error() {
		t.Errorf("%s:\n got  %q\n want %q", what, got, want)
	}
	var gv, wv *domain.ValidationError
	var gt, wt *domain.TransitionError
	if errors.As(got, &gv) != errors.As(want, &wv) || errors.As(got, &gt) != errors.As(want, &wt) {
		t.Errorf("%s: error types differ: %T, want %T", what, errors.Unwrap(got), errors.Unwrap(want))
	}
	if gt != nil && wt != nil && *gt != *wt {
		t.Errorf("%s: transition %+v, want %+v", what, *gt, *wt)
	}
}

func TestSpecsMatchLegacySiteRules(t *testing.T) {
	t.Parallel()
	statuses := []domain.SiteStatus{domain.SitePending, domain.SiteEnabled, domain.SiteDisabled, domain.SiteFailed, domain.SiteDeleted}
	for _, st := range statuses {
		for _, typ := range legacyTypes() {
			for i, args := range legacyArgs {
				site := &domain.Site{Domain: "example.com", Status: st}
				gotArgs, wantArgs := maps.Clone(args), maps.Clone(args)
				what := fmt.Sprintf("%s on a %s site, args #%d", typ, st, i)
				same(t, what, CheckSite(site, typ, gotArgs), domain.CheckSiteTask(site, typ, wantArgs))
				if !maps.Equal(gotArgs, wantArgs) {
					t.Errorf("%s: args %v, want %v", what, gotArgs, wantArgs)
				}
			}
		}
	}
}

func TestSpecsMatchLegacyPlatformRules(t *testing.T) {
	t.Parallel()
	statuses := []domain.PlatformStatus{domain.PlatformPending, domain.PlatformReady, domain.PlatformFailed, domain.PlatformDeleted}
	for _, st := range statuses {
		for _, locked := range []bool{false, true} {
			for _, typ := range legacyTypes() {
				for i, args := range legacyArgs {
					p := &domain.Platform{Name: "d11", Status: st, Locked: locked}
					gotArgs, wantArgs := maps.Clone(args), maps.Clone(args)
					what := fmt.Sprintf("%s on a %s platform (locked %v), args #%d", typ, st, locked, i)
					same(t, what, CheckPlatform(p, typ, gotArgs), domain.CheckPlatformTask(p, typ, wantArgs))
				}
			}
		}
	}
}

func TestSpecsMatchLegacyTargets(t *testing.T) {
	t.Parallel()
	for _, s := range All() {
		if k, ok := s.Type.Target(); !ok || k != s.Kind {
			t.Errorf("%s: domain says %q (%v), the spec %q", s.Type, k, ok, s.Kind)
		}
	}
	for _, k := range []domain.TargetKind{domain.TargetSite, domain.TargetPlatform, domain.TargetServer} {
		if got, want := Types(k), domain.TaskTypes(k); !slices.Equal(got, want) {
			t.Errorf("%s tasks: specs %v, domain %v", k, got, want)
		}
	}
}

// TestAvailableMatchesLegacyActions: dashboard/ui_pages.go offers the site
// tasks whose legacy check refuses no transition.
func TestAvailableMatchesLegacyActions(t *testing.T) {
	t.Parallel()
	for _, st := range []domain.SiteStatus{domain.SitePending, domain.SiteEnabled, domain.SiteDisabled, domain.SiteFailed, domain.SiteDeleted} {
		site := &domain.Site{Domain: "example.com", Status: st}
		var want []domain.TaskType
		for _, typ := range domain.TaskTypes(domain.TargetSite) {
			var te *domain.TransitionError
			if err := domain.CheckSiteTask(site, typ, nil); !errors.As(err, &te) {
				want = append(want, typ)
			}
		}
		var got []domain.TaskType
		for _, s := range Available(SiteTarget(site)) {
			got = append(got, s.Type)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s site: %v, want %v", st, got, want)
		}
	}
}
