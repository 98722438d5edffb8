package queue

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
)

var t0 = time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)

func fleet(n int) []SiteState {
	out := make([]SiteState, n)
	for i := range out {
		out[i] = SiteState{ID: fmt.Sprintf("s%05d", i), Status: domain.SiteEnabled}
	}
	return out
}

func hourly() Settings {
	s := Defaults(Cron) // 1h frequency, 5m interval
	return s
}

func TestPerPass(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		eligible int
		freq     time.Duration
		interval time.Duration
		want     int
	}{
		{"issue example", 1200, time.Hour, 5 * time.Minute, 100},
		{"rounds up", 1201, time.Hour, 5 * time.Minute, 101},
		{"one site", 1, time.Hour, 5 * time.Minute, 1},
		{"none", 0, time.Hour, 5 * time.Minute, 0},
		{"interval = frequency", 50, time.Hour, time.Hour, 50},
		{"10k daily hourly", 10000, 24 * time.Hour, time.Hour, 417},
	}
	for _, c := range cases {
		s := Settings{Frequency: Duration(c.freq), Interval: Duration(c.interval)}
		if got := PerPass(c.eligible, s); got != c.want {
			t.Errorf("%s: PerPass(%d) = %d, want %d", c.name, c.eligible, got, c.want)
		}
	}
}

func TestPlanPass(t *testing.T) {
	t.Parallel()
	s := hourly()
	run := func(ago time.Duration, failures int) Run {
		return Run{Last: t0.Add(-ago), OK: failures == 0, Failures: failures}
	}
	cases := []struct {
		name       string
		sites      []SiteState
		runs       map[string]Run
		now        time.Time
		settings   Settings
		wantDue    []string
		wantBack   int
		wantFail   []string
		wantBacked []string
	}{
		{
			name:    "never-run sites first, then oldest last run",
			sites:   []SiteState{{ID: "a", Status: domain.SiteEnabled}, {ID: "b", Status: domain.SiteEnabled}, {ID: "c", Status: domain.SiteEnabled}},
			runs:    map[string]Run{"a": run(3*time.Hour, 0), "b": run(2*time.Hour, 0)},
			now:     t0,
			wantDue: []string{"c", "a", "b"}, wantBack: 3,
		},
		{
			name:    "not yet due",
			sites:   []SiteState{{ID: "a", Status: domain.SiteEnabled}},
			runs:    map[string]Run{"a": run(30*time.Minute, 0)},
			now:     t0,
			wantDue: []string{},
		},
		{
			name: "skips disabled, deleted, pending, failed and locked-platform sites",
			sites: []SiteState{
				{ID: "a", Status: domain.SiteDisabled}, {ID: "b", Status: domain.SiteDeleted}, {ID: "c", Status: domain.SitePending},
				{ID: "d", Status: domain.SiteFailed}, {ID: "e", Status: domain.SiteEnabled, PlatformLocked: true}, {ID: "f", Status: domain.SiteEnabled},
			},
			now:     t0,
			wantDue: []string{"f"}, wantBack: 1,
		},
		{
			name:  "a failing site backs off exponentially",
			sites: []SiteState{{ID: "a", Status: domain.SiteEnabled}, {ID: "b", Status: domain.SiteEnabled}, {ID: "c", Status: domain.SiteEnabled}},
			// a: 1 failure, 1h ago: due (backoff = frequency). b: 3 failures,
			// 3h ago: backoff 4h, not due. c: 3 failures, 5h ago: due.
			runs:    map[string]Run{"a": run(time.Hour, 1), "b": run(3*time.Hour, 3), "c": run(5*time.Hour, 3)},
			now:     t0,
			wantDue: []string{"c", "a"}, wantBack: 2,
			wantFail:   []string{"b", "c"},
			wantBacked: []string{"b"},
		},
		{
			name:    "backoff is capped",
			sites:   []SiteState{{ID: "a", Status: domain.SiteEnabled}},
			runs:    map[string]Run{"a": run(8*time.Hour, 40)},
			now:     t0,
			wantDue: []string{"a"}, wantBack: 1,
			wantFail: []string{"a"},
		},
		{
			name:    "clock set back a little: recent runs stay not due",
			sites:   []SiteState{{ID: "a", Status: domain.SiteEnabled}},
			runs:    map[string]Run{"a": {Last: t0.Add(20 * time.Minute), OK: true}},
			now:     t0,
			wantDue: []string{},
		},
		{
			name:    "clock set back far: a run in the future counts as never run",
			sites:   []SiteState{{ID: "a", Status: domain.SiteEnabled}, {ID: "b", Status: domain.SiteEnabled}},
			runs:    map[string]Run{"a": {Last: t0.Add(30 * 24 * time.Hour), OK: true}, "b": run(2*time.Hour, 0)},
			now:     t0,
			wantDue: []string{"a", "b"}, wantBack: 2,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := c.settings
			if st.Frequency == 0 {
				st = s
			}
			st.Interval = st.Frequency // take every due site
			p := PlanPass(c.sites, c.runs, c.now, st)
			if !slices.Equal(p.Due, c.wantDue) {
				t.Errorf("due %v, want %v", p.Due, c.wantDue)
			}
			if p.Backlog != c.wantBack {
				t.Errorf("backlog %d, want %d", p.Backlog, c.wantBack)
			}
			if !slices.Equal(p.Failing, c.wantFail) {
				t.Errorf("failing %v, want %v", p.Failing, c.wantFail)
			}
			if !slices.Equal(p.BackedOff, c.wantBacked) {
				t.Errorf("backed off %v, want %v", p.BackedOff, c.wantBacked)
			}
		})
	}
}

// simulate runs passes every interval from start for d, marking each due
// site as run successfully at the pass's time, and returns how many times
// each site ran and the largest pass.
func simulate(sites []SiteState, runs map[string]Run, start time.Time, d time.Duration, s Settings) (map[string]int, int) {
	counts := map[string]int{}
	largest := 0
	for now := start; now.Before(start.Add(d)); now = now.Add(s.Interval.D()) {
		p := PlanPass(sites, runs, now, s)
		largest = max(largest, len(p.Due))
		for _, id := range p.Due {
			runs[id] = Run{Last: now, OK: true}
			counts[id]++
		}
	}
	return counts, largest
}

func TestPlanSpreadsTheFleet(t *testing.T) {
	t.Parallel()
	s := hourly()
	sites := fleet(1200)
	runs := map[string]Run{}
	counts, largest := simulate(sites, runs, t0, 3*time.Hour, s)
	if largest != 100 {
		t.Errorf("largest pass %d, want 100", largest)
	}
	for _, st := range sites {
		if counts[st.ID] < 2 || counts[st.ID] > 3 {
			t.Fatalf("site %s ran %d times in 3 hours, want 2–3", st.ID, counts[st.ID])
		}
	}
}

func TestPlanFleetGrowsMidCycle(t *testing.T) {
	t.Parallel()
	s := hourly()
	sites := fleet(120)
	runs := map[string]Run{}
	simulate(sites, runs, t0, 30*time.Minute, s) // half a cycle: 60 have run
	sites = append(sites, fleet(180)[120:]...)   // 60 new sites
	p := PlanPass(sites, runs, t0.Add(30*time.Minute), s)
	if want := PerPass(180, s); len(p.Due) != want {
		t.Fatalf("due %d, want %d (share of the grown fleet)", len(p.Due), want)
	}
	for _, id := range p.Due {
		if _, ran := runs[id]; ran {
			t.Fatalf("site %s already ran, but never-run sites come first: %v", id, p.Due)
		}
	}
	// Within one more frequency every site has run.
	counts, _ := simulate(sites, runs, t0.Add(30*time.Minute), time.Hour, s)
	for _, st := range sites {
		if _, ok := runs[st.ID]; !ok || runs[st.ID].Last.IsZero() {
			t.Fatalf("site %s never ran", st.ID)
		}
	}
	_ = counts
}

func TestPlanClockJumpsForward(t *testing.T) {
	t.Parallel()
	s := hourly()
	sites := fleet(1200)
	runs := map[string]Run{}
	simulate(sites, runs, t0, time.Hour, s)
	// A year later every site is due, but one pass still takes its share.
	p := PlanPass(sites, runs, t0.Add(365*24*time.Hour), s)
	if len(p.Due) != 100 || p.Backlog != 1200 {
		t.Fatalf("due %d backlog %d, want 100 and 1200", len(p.Due), p.Backlog)
	}
}

func TestSettingsValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		queue string
		s     Settings
		field string
	}{
		{"defaults fill zeros", Cron, Settings{}, ""},
		{"unknown queue", "mail", Settings{}, "not found"},
		{"interval above frequency", Cron, Settings{Frequency: Duration(time.Hour), Interval: Duration(2 * time.Hour)}, "interval"},
		{"concurrency", Stats, Settings{Concurrency: 1000}, "concurrency"},
		{"retention on cron", Cron, Settings{Retention: &Retention{KeepLast: 1}}, "retention"},
		{"keep nothing", Backup, Settings{Retention: &Retention{}}, "retention.keep_last"},
		{"cron path with a space", Cron, Settings{CronPath: "/cron php"}, "cron_path"},
		{"cron path", Cron, Settings{CronPath: "/cron.php?key=abc"}, ""},
	}
	for _, c := range cases {
		err := ValidateSettings(&c.s, c.queue)
		switch {
		case c.field == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.field == "not found" && err == nil:
			t.Errorf("%s: no error", c.name)
		case c.field != "" && c.field != "not found":
			var ve *domain.ValidationError
			if !asValidation(err, &ve) || ve.Field != c.field {
				t.Errorf("%s: error %v, want one on %s", c.name, err, c.field)
			}
		}
	}
}

// BenchmarkPlan10k plans one pass over 10,000 sites (goal: < 50 ms).
// floor, measured in the same run, is the least any planner does: one
// lookup of each site's last run and a comparison with the frequency,
// collecting the due ones. PlanPass adds eligibility, backoff, never-run
// sites first and the pass size.
func BenchmarkPlan10k(b *testing.B) {
	s := Defaults(Cron)
	sites := fleet(10000)
	runs := make(map[string]Run, len(sites))
	for i, st := range sites {
		if i%10 == 0 {
			continue // never ran
		}
		runs[st.ID] = Run{Last: t0.Add(-time.Duration(i) * time.Second), OK: i%17 != 0, Failures: i % 17 / 16 * 4}
	}
	b.Run("aegir", func(b *testing.B) {
		b.ReportAllocs()
		var p Plan
		for b.Loop() {
			p = PlanPass(sites, runs, t0, s)
		}
		b.ReportMetric(float64(len(p.Due)), "due/pass")
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/plan")
	})
	b.Run("floor", func(b *testing.B) {
		b.ReportAllocs()
		var due []string
		for b.Loop() {
			due = due[:0]
			for _, st := range sites {
				if r, ok := runs[st.ID]; !ok || t0.Sub(r.Last) >= s.Frequency.D() {
					due = append(due, st.ID)
				}
			}
		}
		b.ReportMetric(float64(len(due)), "due/pass")
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/plan")
	})
}

func asValidation(err error, ve **domain.ValidationError) bool { return errors.As(err, ve) }
