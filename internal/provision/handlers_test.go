package provision

import (
	"testing"

	"github.com/aegirhq/aegir/internal/taskspec"
)

// TestHandlersMatchSpecs checks the back end can run every task type the
// front end can queue, and runs nothing else.
func TestHandlersMatchSpecs(t *testing.T) {
	t.Parallel()
	for _, s := range taskspec.All() {
		if s.Coordinates { // run by the dispatcher, never by a back end
			if handlers[s.Type] != nil {
				t.Errorf("task type %s is a parent the dispatcher runs; it has no handler", s.Type)
			}
			continue
		}
		if handlers[s.Type] == nil {
			t.Errorf("task type %s has a spec but no handler; add it to handlers (handlers.go)", s.Type)
		}
	}
	for typ := range handlers {
		if _, ok := taskspec.Lookup(typ); !ok {
			t.Errorf("handler for %s, which has no spec; declare it in internal/taskspec", typ)
		}
	}
}
