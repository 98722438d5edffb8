package nomadexec

import (
	"fmt"
	"hash/fnv"
	"time"
)

// QueueSchedule is the cron line (UTC, Nomad's periodic syntax) of a
// queue whose passes run every `every` (the queue's Interval setting). A
// cron line cannot express every interval: it is then the nearest one that
// runs at least as often, and exact is false. A pass takes its interval's
// share of the sites (scheduler/queue), so a pass that comes early only
// makes the sites' turns come a little sooner, never later.
//
//	every                         cron line
//	< 1m                          every s seconds, s the largest of 1 2 3 4 5 6 10 12 15 20 30 ≤ every (7 fields)
//	1m .. < 1h                    every m minutes, m the largest of 1 2 3 4 5 6 10 12 15 20 30 ≤ every
//	1h .. < 24h                   every h hours, h the largest of 1 2 3 4 6 8 12 ≤ every, at minute M
//	24h .. < 7 days               daily at H:M
//	7 days .. < 31 days           weekly, on Sunday at H:M
//	31 days or more               monthly, on the 1st at H:M
//
// M and H are derived from the queue's name, so the queues' hourly and
// daily passes do not all start at the same minute.
func QueueSchedule(name string, every time.Duration) (cron string, exact bool) {
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	sum := h.Sum32()
	minute, hour := int(sum%60), int(sum/60%24)
	steps60 := []int{1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30}
	largest := func(steps []int, n int) int {
		best := steps[0]
		for _, s := range steps {
			if s <= n {
				best = s
			}
		}
		return best
	}
	const day = 24 * time.Hour
	switch {
	case every < time.Minute:
		s := largest(steps60, int(every/time.Second))
		return fmt.Sprintf("*/%d * * * * * *", s), time.Duration(s)*time.Second == every
	case every < time.Hour:
		m := largest(steps60, int(every/time.Minute))
		return fmt.Sprintf("*/%d * * * *", m), time.Duration(m)*time.Minute == every
	case every < day:
		n := largest([]int{1, 2, 3, 4, 6, 8, 12}, int(every/time.Hour))
		if n == 1 {
			return fmt.Sprintf("%d * * * *", minute), every == time.Hour
		}
		return fmt.Sprintf("%d */%d * * *", minute, n), time.Duration(n)*time.Hour == every
	case every < 7*day:
		return fmt.Sprintf("%d %d * * *", minute, hour), every == day
	case every < 31*day:
		return fmt.Sprintf("%d %d * * 0", minute, hour), every == 7*day
	default:
		return fmt.Sprintf("%d %d 1 * *", minute, hour), false
	}
}
