package queue

import (
	"slices"
	"strings"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
)

// ScheduledReason is the reason of the backups the backup queue takes;
// retention considers only those.
const ScheduledReason = "scheduled"

// Expired returns the ids of the scheduled backups that retention r does
// not keep at now, oldest first. It keeps the newest r.KeepLast, and the
// newest backup of each of the last r.Daily days, r.Weekly ISO weeks and
// r.Monthly months (UTC), counting the current one. Backups of other
// reasons are never expired. A pure function.
func Expired(backups []domain.Backup, now time.Time, r Retention) []string {
	var sched []domain.Backup
	for _, b := range backups {
		if b.Reason == ScheduledReason {
			sched = append(sched, b)
		}
	}
	// Newest first; ids break ties (they sort by creation).
	slices.SortFunc(sched, func(a, b domain.Backup) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	keep := make(map[string]bool, len(sched))
	for i := 0; i < len(sched) && i < r.KeepLast; i++ {
		keep[sched[i].ID] = true
	}
	now = now.UTC()
	nowDay := dayNumber(now)
	nowWeek := weekNumber(now)
	nowMonth := now.Year()*12 + int(now.Month()) - 1
	type gen struct {
		n    int
		key  func(time.Time) int
		seen map[int]bool
		now  int
	}
	gens := []gen{
		{r.Daily, dayNumber, map[int]bool{}, nowDay},
		{r.Weekly, weekNumber, map[int]bool{}, nowWeek},
		{r.Monthly, func(t time.Time) int { return t.Year()*12 + int(t.Month()) - 1 }, map[int]bool{}, nowMonth},
	}
	for _, b := range sched {
		t := b.CreatedAt.UTC()
		for gi := range gens {
			g := &gens[gi]
			k := g.key(t)
			if age := g.now - k; age < 0 || age >= g.n || g.seen[k] {
				continue
			}
			g.seen[k] = true
			keep[b.ID] = true
		}
	}
	var out []string
	for i := len(sched) - 1; i >= 0; i-- {
		if !keep[sched[i].ID] {
			out = append(out, sched[i].ID)
		}
	}
	return out
}

func dayNumber(t time.Time) int { return int(t.Unix() / 86400) }

// weekNumber numbers the weeks (Monday to Sunday, UTC) since the epoch,
// which was a Thursday.
func weekNumber(t time.Time) int { return (dayNumber(t) + 3) / 7 }
