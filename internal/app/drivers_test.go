package app

import (
	"slices"
	"testing"

	"github.com/aegirhq/aegir/internal/servicekind"
)

// TestEveryKindHasADriver: the kinds the API accepts (internal/servicekind)
// are exactly the kinds this binary carries a driver for, each of its type.
func TestEveryKindHasADriver(t *testing.T) {
	t.Parallel()
	deps := provisionDeps()
	var wired []servicekind.Kind
	for _, d := range servicekind.All() {
		_, web := deps.Web[d.Kind]
		_, db := deps.DB[d.Kind]
		if web != (d.Type == servicekind.HTTP) || db != (d.Type == servicekind.DB) {
			t.Errorf("%s (%s): web driver %v, db driver %v", d.Kind, d.Type, web, db)
		}
	}
	for k := range deps.Web {
		wired = append(wired, k)
	}
	for k := range deps.DB {
		wired = append(wired, k)
	}
	slices.Sort(wired)
	if !slices.Equal(wired, servicekind.Kinds("")) {
		t.Errorf("drivers for %v, kinds %v", wired, servicekind.Kinds(""))
	}
}
