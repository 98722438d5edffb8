package retention

import (
	"context"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/logbus"
	"github.com/aegirhq/aegir/scheduler/tasklog"
)

// TestRetentionPrunesOldTasksAndLogs: finished tasks past their retention
// go, with their archived logs; recent ones, routine ones within their
// shorter retention, and active ones stay.
func TestRetentionPrunesOldTasksAndLogs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	site, install := b.newSite(t)
	b.settle(t)
	archive := tasklog.NewArchive(b.st, b.bus, testLogger(t))
	for _, id := range []string{install.ID} {
		if _, err := b.bus.Append(ctx, id, logbus.Line{Time: time.Now(), Level: "info", Msg: "hello"}); err != nil {
			t.Fatal(err)
		}
		must(t, b.bus.End(ctx, id))
		must(t, archive.Archive(ctx, id))
	}
	cron, err := b.st.RequestSiteTask(ctx, site.ID, domain.TaskCron, nil, "test")
	must(t, err)
	must(t, b.st.StartTask(ctx, cron, "test", 0))
	must(t, b.st.FinishTask(ctx, cron, domain.TaskSucceeded))
	queued, err := b.st.RequestSiteTask(ctx, site.ID, domain.TaskBackup, nil, "test")
	must(t, err)

	// Three days later: the cron run (routine, 2 days) goes; the install
	// (30 days) and the queued backup stay.
	r := Policy{Now: func() time.Time { return time.Now().Add(72 * time.Hour) }}
	n, err := Prune(ctx, b.st, archive, r)
	must(t, err)
	if n != 1 {
		t.Fatalf("pruned %d tasks after 3 days, want 1 (the cron run)", n)
	}
	if _, err := b.st.GetTask(ctx, cron.ID); err == nil {
		t.Fatal("the old cron task is still there")
	}
	if _, ok, _ := archive.Lines(ctx, install.ID); !ok {
		t.Fatal("the install's log went with the cron task")
	}

	// Forty days later: every finished task goes, with its log; the queued
	// one stays.
	r.Now = func() time.Time { return time.Now().Add(40 * 24 * time.Hour) }
	n, err = Prune(ctx, b.st, archive, r)
	must(t, err)
	if n < 1 {
		t.Fatalf("pruned %d tasks after 40 days", n)
	}
	if _, err := b.st.GetTask(ctx, install.ID); err == nil {
		t.Fatal("the 40-day-old install task is still there")
	}
	if _, ok, _ := tasklog.NewArchive(b.st, b.bus, testLogger(t)).Lines(ctx, install.ID); ok {
		t.Fatal("the install's archived log is still there")
	}
	if got, err := b.st.GetTask(ctx, queued.ID); err != nil || got.Status != domain.TaskQueued {
		t.Fatalf("the queued task: %v %v", got, err)
	}
}
