package nomadexec

import (
	"strings"
	"testing"
	"time"
)

func TestQueueSchedule(t *testing.T) {
	t.Parallel()
	cron, _ := QueueSchedule("backup", 24*time.Hour)
	f := strings.Fields(cron)
	minute, hour := f[0], f[1]
	for _, tc := range []struct {
		every time.Duration
		want  string
		exact bool
	}{
		{10 * time.Second, "*/10 * * * * * *", true},
		{45 * time.Second, "*/30 * * * * * *", false},
		{time.Minute, "*/1 * * * *", true},
		{5 * time.Minute, "*/5 * * * *", true},
		{7 * time.Minute, "*/6 * * * *", false},
		{59 * time.Minute, "*/30 * * * *", false},
		{time.Hour, minute + " * * * *", true},
		{90 * time.Minute, minute + " * * * *", false},
		{6 * time.Hour, minute + " */6 * * *", true},
		{7 * time.Hour, minute + " */6 * * *", false},
		{12 * time.Hour, minute + " */12 * * *", true},
		{24 * time.Hour, minute + " " + hour + " * * *", true},
		{36 * time.Hour, minute + " " + hour + " * * *", false},
		{7 * 24 * time.Hour, minute + " " + hour + " * * 0", true},
		{40 * 24 * time.Hour, minute + " " + hour + " 1 * *", false},
	} {
		got, exact := QueueSchedule("backup", tc.every)
		if got != tc.want || exact != tc.exact {
			t.Errorf("QueueSchedule(backup, %s) = %q, %v; want %q, %v", tc.every, got, exact, tc.want, tc.exact)
		}
	}
	// The queues' hourly passes are spread over the hour.
	a, _ := QueueSchedule("backup", time.Hour)
	b, _ := QueueSchedule("stats", time.Hour)
	if a == b {
		t.Errorf("backup and stats both run at %q", a)
	}
}
