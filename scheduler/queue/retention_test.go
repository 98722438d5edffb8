package queue

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
)

func backupsAt(times ...time.Time) []domain.Backup {
	out := make([]domain.Backup, len(times))
	for i, at := range times {
		out[i] = domain.Backup{ID: fmt.Sprintf("b%03d", i), Reason: ScheduledReason, CreatedAt: at}
	}
	return out
}

func TestExpired(t *testing.T) {
	t.Parallel()
	day := 24 * time.Hour
	cases := []struct {
		name    string
		backups []domain.Backup
		r       Retention
		want    []string
	}{
		{"keep last 2", backupsAt(t0.Add(-3*time.Hour), t0.Add(-2*time.Hour), t0.Add(-time.Hour)), Retention{KeepLast: 2}, []string{"b000"}},
		{"nothing to expire", backupsAt(t0), Retention{KeepLast: 3}, nil},
		{
			"daily keeps the newest of each of the last 3 days",
			backupsAt(t0.Add(-3*day), t0.Add(-2*day-time.Hour), t0.Add(-2*day), t0.Add(-day), t0),
			Retention{KeepLast: 1, Daily: 3}, []string{"b000", "b001"},
		},
		{
			"other reasons are never expired",
			append(backupsAt(t0.Add(-time.Hour), t0), domain.Backup{ID: "m", Reason: "manual", CreatedAt: t0.Add(-100 * day)}),
			Retention{KeepLast: 1}, []string{"b000"},
		},
	}
	for _, c := range cases {
		if got := Expired(c.backups, t0, c.r); !slices.Equal(got, c.want) {
			t.Errorf("%s: expired %v, want %v", c.name, got, c.want)
		}
	}
}

// TestRetentionRotates takes one scheduled backup a day for two years with
// the default retention and checks the set kept stays bounded and holds
// the generations it promises.
func TestRetentionRotates(t *testing.T) {
	t.Parallel()
	r := DefaultRetention
	var kept []domain.Backup
	now := t0
	for i := range 730 {
		now = t0.Add(time.Duration(i) * 24 * time.Hour)
		kept = append(kept, domain.Backup{ID: fmt.Sprintf("b%04d", i), Reason: ScheduledReason, CreatedAt: now})
		gone := Expired(kept, now, r)
		kept = slices.DeleteFunc(kept, func(b domain.Backup) bool { return slices.Contains(gone, b.ID) })
		if max := r.KeepLast + r.Daily + r.Weekly + r.Monthly; len(kept) > max {
			t.Fatalf("day %d: %d backups kept, more than %d", i, len(kept), max)
		}
	}
	ages := map[string]bool{}
	for _, b := range kept {
		age := now.Sub(b.CreatedAt)
		switch {
		case age < 7*24*time.Hour:
			ages["week"] = true
		case age < 35*24*time.Hour:
			ages["month"] = true
		case age > 120*24*time.Hour:
			ages["months"] = true
		}
	}
	if !ages["week"] || !ages["month"] || !ages["months"] {
		t.Fatalf("kept %d backups without every generation: %v", len(kept), ages)
	}
	if len(kept) < r.Daily {
		t.Fatalf("only %d backups kept", len(kept))
	}
}
