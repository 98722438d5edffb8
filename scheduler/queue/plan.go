package queue

import (
	"cmp"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/domain"
)

var cronPathRE = regexp.MustCompile(`^/[A-Za-z0-9\-._~/?=&%]{0,200}$`)

// SiteState is what the planner needs to know of a site.
type SiteState struct {
	ID             string
	Status         domain.SiteStatus
	PlatformLocked bool
}

// Run is a site's record in one queue (queues/<name>/runs/<siteID>): its
// last run and how it went (internal/apiv1).
type Run = apiv1.QueueRun

// FailingAfter is how many consecutive failures make a site "failing":
// it is backed off and listed on the queue's overview.
const FailingAfter = 3

// Plan is one pass's worth of work.
type Plan struct {
	// Due are the sites to run now, oldest last run first (never-run
	// sites first of all).
	Due []string `json:"due"`
	// Eligible counts the sites the queue serves (enabled, not on a
	// locked platform).
	Eligible int `json:"eligible"`
	// Backlog counts the eligible sites that are due, including those
	// beyond this pass's share.
	Backlog int `json:"backlog"`
	// BackedOff are sites waiting out a backoff after repeated failures.
	BackedOff []string `json:"backed_off,omitempty"`
	// Failing are sites with FailingAfter or more consecutive failures.
	Failing []string `json:"failing,omitempty"`
}

// PerPass is how many sites one pass takes so that eligible sites are all
// served within one frequency: ceil(eligible × interval / frequency).
func PerPass(eligible int, s Settings) int {
	if eligible == 0 {
		return 0
	}
	f, i := int64(s.Frequency), int64(s.Interval)
	if i <= 0 || f <= 0 || i >= f {
		return eligible
	}
	n := (int64(eligible)*i + f - 1) / f
	return int(max(n, 1))
}

// Backoff is how long after its last run a site with failures consecutive
// failures is due again: the frequency, doubled for every failure after
// the first, capped at MaxBackoff.
func Backoff(failures int, s Settings) time.Duration {
	d := s.Frequency.D()
	for i := 1; i < failures && d < s.MaxBackoff.D(); i++ {
		d *= 2
	}
	return min(d, max(s.MaxBackoff.D(), s.Frequency.D()))
}

// Planner decides which sites a pass runs. It is a pure function of the
// sites, their last runs, the time and the settings.
//
// A site is eligible when it is enabled and its platform is not locked.
// An eligible site is due when it never ran, or its last run is at least
// Backoff(failures) old. A last run more than one frequency in the future
// (the clock was set back, or was wrong when it was recorded) counts as
// never run, so a clock jump cannot park a site forever; a clock jump
// forwards makes every site due, and PerPass still spreads them out.
func PlanPass(sites []SiteState, runs map[string]Run, now time.Time, s Settings) Plan {
	type cand struct {
		id   string
		last int64 // unix nanos of the last run; never-run sites sort first
	}
	p := Plan{}
	due := make([]cand, 0, len(sites)/4+1)
	future := now.Add(s.Frequency.D())
	for i := range sites {
		st := &sites[i]
		if st.Status != domain.SiteEnabled || st.PlatformLocked {
			continue
		}
		p.Eligible++
		r, ok := runs[st.ID]
		if !ok || r.Last.IsZero() || r.Last.After(future) {
			due = append(due, cand{st.ID, 0})
			continue
		}
		wait := s.Frequency.D()
		if r.Failures > 0 {
			wait = Backoff(r.Failures, s)
		}
		if r.Failures >= FailingAfter {
			p.Failing = append(p.Failing, st.ID)
		}
		if now.Sub(r.Last) < wait {
			if r.Failures > 1 && now.Sub(r.Last) >= s.Frequency.D() {
				p.BackedOff = append(p.BackedOff, st.ID)
			}
			continue
		}
		due = append(due, cand{st.ID, r.Last.UnixNano()})
	}
	p.Backlog = len(due)
	slices.SortFunc(due, func(a, b cand) int {
		if c := cmp.Compare(a.last, b.last); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	n := min(PerPass(p.Eligible, s), len(due))
	if s.SamplePercent > 0 {
		n = min(n, SampleSize(p.Eligible, s))
	}
	p.Due = make([]string, n)
	for i := range n {
		p.Due[i] = due[i].id
	}
	slices.Sort(p.Failing)
	slices.Sort(p.BackedOff)
	return p
}
