package taskspec

import (
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/testharness"
)

// FuzzCheckArgs: whatever a request carries, the checks do not panic, and
// an accepted domain argument is stored in normalised form.
func FuzzCheckArgs(f *testing.F) {
	for _, s := range testharness.HostileInputs {
		f.Add("clone", s, s, s)
		f.Add("restore", "", "", s)
	}
	f.Add("clone", "New.Example.com.", "", "")
	f.Add("migrate", "", "01j00000000000000000", "x")
	f.Add("import", "", "", "01j00000000000000000")
	f.Add("restore", "a..b", "nope", "")
	f.Fuzz(func(t *testing.T, typ, dom, platformID, other string) {
		args := map[string]string{"domain": dom, "platform_id": platformID, "db_server_id": other,
			"client_id": other, "backup_id": platformID}
		for _, k := range []domain.TargetKind{domain.TargetSite, domain.TargetPlatform} {
			s, err := Resolve(k, typ)
			if err != nil {
				continue
			}
			if s.CheckArgs(args) != nil || s.Arg("domain") == nil || args["domain"] == "" {
				continue
			}
			if n, err := domain.NormalizeDomain(args["domain"]); err != nil || n != args["domain"] {
				t.Fatalf("%s accepted domain %q, which normalises to %q (%v)", typ, args["domain"], n, err)
			}
		}
	})
}

// FuzzBatchArgs: migrate-sites' count and flag arguments are either
// refused or stored in their one normal form (1 to MaxBatchParallel,
// true or false).
func FuzzBatchArgs(f *testing.F) {
	f.Add("2", "true")
	f.Add(" 8 ", "YES")
	f.Add("0", "maybe")
	f.Add("99999999999999999999", "off")
	for _, s := range testharness.HostileInputs {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, parallel, cont string) {
		args := map[string]string{"to_platform_id": "01j00000000000000000", "parallel": parallel, "continue": cont}
		if migrateSites.CheckArgs(args) != nil {
			return
		}
		if p := args["parallel"]; p != "" && (len(p) != 1 || p < "1" || p > "8") {
			t.Fatalf("parallel %q accepted as %q", parallel, p)
		}
		if c := args["continue"]; c != "" && c != "true" && c != "false" {
			t.Fatalf("continue %q accepted as %q", cont, c)
		}
	})
}
