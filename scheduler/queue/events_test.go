package queue

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
)

// recordedSiteEvents keeps the failing sites the queues reported.
type recordedSiteEvents struct {
	mu   sync.Mutex
	got  []string
	runs []Run
}

func (r *recordedSiteEvents) SiteFailing(_ context.Context, queue string, site domain.Site, run Run) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, queue+" "+site.Domain)
	r.runs = append(r.runs, run)
	return nil
}

func (r *recordedSiteEvents) CertificateExpiring(_ context.Context, site domain.Site, c domain.Certificate, _ time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, "certificate_expiring "+site.Domain)
	return nil
}

func (r *recordedSiteEvents) DiskLow(_ context.Context, cl domain.Client, used, limit int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, "disk_low "+cl.Name)
	return nil
}

// TestSiteFailingReportedOncePerStreak: a site is reported when its cron
// runs fail FailingAfter passes in a row, not before and not again on the
// next failure.
func TestSiteFailingReportedOncePerStreak(t *testing.T) {
	t.Parallel()
	b := setupByHand(t, 1)
	events := &recordedSiteEvents{}
	b.q.cfg.Events = events
	ctx := context.Background()
	s, err := b.q.Settings(ctx, Cron)
	must(t, err)
	s.Interval = s.Frequency
	_, err = b.q.PutSettings(ctx, Cron, s)
	must(t, err)
	for pass := 1; pass <= FailingAfter+1; pass++ {
		p := b.startWhenFree(t, Cron)
		b.finish(t, domain.TaskCron, 1, domain.TaskFailed)
		b.waitPass(t, Cron, p.ID, "the end", func(r *PassReport) bool { return r.State == PassDone })
		events.mu.Lock()
		n := len(events.got)
		events.mu.Unlock()
		if want := map[bool]int{true: 1, false: 0}[pass >= FailingAfter]; n != want {
			t.Fatalf("after %d failed passes %d reports, want %d", pass, n, want)
		}
		b.clock.Add(30 * 24 * time.Hour) // past any backoff
	}
	if events.got[0] != "cron s0.example.com" || events.runs[0].Failures != FailingAfter || events.runs[0].TaskID == "" {
		t.Errorf("reported %q %+v", events.got[0], events.runs[0])
	}
}
