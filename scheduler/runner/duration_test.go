package runner

import (
	"testing"
	"time"
)

func TestShortDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		time.Hour:                   "1h",
		90 * time.Minute:            "90m",
		30 * time.Second:            "30s",
		1500 * time.Millisecond:     "1.5s",
		2*time.Hour + 5*time.Second: "7205s",
	} {
		if got := ShortDuration(d); got != want {
			t.Errorf("ShortDuration(%s) = %q, want %q", d, got, want)
		}
	}
}
