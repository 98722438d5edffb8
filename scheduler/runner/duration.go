package runner

import (
	"fmt"
	"time"
)

// ShortDuration writes d as 1h, 90m or 30s rather than 1h0m0s, for the
// explanations a run ends with (a task's timeout, Nomad's placement
// timeout); any other duration as time.Duration writes it.
func ShortDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return d.String()
}
