package cli

import (
	"testing"

	"github.com/aegirhq/aegir/internal/testharness"
)

// FuzzPHPFlag: -php never panics, and what it accepts is a known key with
// a value from 0 up (the API judges the bounds).
func FuzzPHPFlag(f *testing.F) {
	for _, s := range []string{"memory_limit=256M", "upload_max=1G,max_children=8", "memory_limit=default", "max_children=", "x=1", "memory_limit=-1", "upload_max=99999999999999G"} {
		f.Add(s)
	}
	for _, s := range testharness.HostileInputs {
		f.Add(s)
		f.Add("memory_limit=" + s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		var p phpFlag
		if err := p.Set(v); err != nil {
			return
		}
		for k, n := range p.set {
			if n < 0 || (k != "memory_limit" && k != "upload_max" && k != "max_children") {
				t.Fatalf("%q: accepted %s=%d", v, k, n)
			}
		}
		_ = p.apply(nil)
	})
}
