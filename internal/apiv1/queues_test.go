package apiv1

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestDurationJSON: a Duration is written as Go writes a time.Duration
// and read back from it; anything but a duration string is refused with a
// message that shows the form to use.
func TestDurationJSON(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(QueueSettings{Frequency: Duration(90 * time.Minute)})
	if err != nil || !strings.Contains(string(b), `"frequency":"1h30m0s"`) {
		t.Fatalf("marshal: %s %v", b, err)
	}
	var d Duration
	if err := json.Unmarshal([]byte(`"15m"`), &d); err != nil || d.D() != 15*time.Minute {
		t.Fatalf("unmarshal 15m: %v %v", d.D(), err)
	}
	for _, bad := range []string{`900`, `"15 minutes"`} {
		if err := json.Unmarshal([]byte(bad), &d); err == nil || !strings.Contains(err.Error(), `"15m"`) {
			t.Errorf("unmarshal %s: %v", bad, err)
		}
	}
}
