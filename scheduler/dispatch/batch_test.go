package dispatch

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
)

// queueBatch queues a migrate-sites task on the bundle's platform to a
// second platform, of every installed site.
func (b *bundle) queueBatch(t *testing.T, args map[string]string) *domain.Task {
	t.Helper()
	ctx := context.Background()
	p2 := &domain.Platform{Name: "p2", Path: "/srv/platforms/p2", WebServerID: b.server.ID, Type: domain.PlatformStatic}
	_, err := b.st.CreatePlatform(ctx, p2, "test")
	must(t, err)
	b.settle(t)
	if args == nil {
		args = map[string]string{}
	}
	args["to_platform_id"] = p2.ID
	task, err := b.st.RequestPlatformTask(ctx, b.platform.ID, domain.TaskMigrateSites, args, "test")
	must(t, err)
	return task
}

// TestBatchTakesNoSlot runs a batch of three sites, two at once, under a
// dispatcher that runs one task at a time: the parent only waits, so its
// children still run, and it succeeds once they have.
func TestBatchTakesNoSlot(t *testing.T) {
	t.Parallel()
	b := setup(t, fakeOK, func(c *Config) { c.MaxParallel = 1 })
	for range 3 {
		b.newSite(t)
	}
	b.settle(t)
	batch := b.queueBatch(t, map[string]string{"parallel": "2"})
	b.start(t)
	got := b.waitDone(t, batch.ID)
	if got.Status != domain.TaskSucceeded || !strings.Contains(got.Summary, "3 of 3 sites migrated from p1 to p2") || got.Runner != BatchRunner {
		t.Fatalf("batch %s runner %q: %q %s", got.Status, got.Runner, got.Summary, got.Explanation)
	}
	page, err := b.st.ListTasks(context.Background(), store.TaskFilter{Parent: batch.ID})
	must(t, err)
	if page.Total != 3 {
		t.Fatalf("%d children, want 3", page.Total)
	}
	for _, c := range page.Items {
		if c.Type != domain.TaskMigrate || c.Status != domain.TaskSucceeded || c.RequestedBy != "test" {
			t.Errorf("child %+v", c)
		}
	}
	log := strings.Join(b.logText(t, batch.ID), "\n")
	for _, want := range []string{"3 sites to migrate from p1 to p2, 2 at a time", "1/3 migrated", "3/3 migrated"} {
		if !strings.Contains(log, want) {
			t.Errorf("the batch's log lacks %q:\n%s", want, log)
		}
	}
}

// TestRecoverFailsBatchWhoseAegirDied: a batch runs in the dispatcher that
// started it; after that process died, the next dispatcher fails it at
// once (no batch stays running), as any task whose runner is gone.
func TestRecoverFailsBatchWhoseAegirDied(t *testing.T) {
	t.Parallel()
	b := setup(t, fakeOK)
	b.newSite(t)
	b.settle(t)
	batch := b.queueBatch(t, nil)
	must(t, b.st.StartTask(context.Background(), batch, BatchRunner, 7))

	must(t, b.d.Recover(context.Background()))
	got := b.waitDone(t, batch.ID)
	if got.Status != domain.TaskFailed || got.ErrorCode != "runner_gone" ||
		!strings.Contains(got.Explanation, "stopped while it ran") || !strings.Contains(got.FixHint, "still on p1") {
		t.Fatalf("batch %s %s: %s (%s)", got.Status, got.ErrorCode, got.Explanation, got.FixHint)
	}
}

// firstChild waits until the batch has queued a child whose back end
// started, and returns it.
func (b *bundle) firstChild(t *testing.T, batchID string) domain.Task {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		page, err := b.st.ListTasks(context.Background(), store.TaskFilter{Parent: batchID})
		must(t, err)
		for _, c := range page.Items {
			if b.started(c.ID) {
				return c
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no child of batch %s started", batchID)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestBatchCancel: cancelling a batch cancels the child under way and
// queues no more; the batch ends cancelled saying what was left.
func TestBatchCancel(t *testing.T) {
	t.Parallel()
	b := setup(t, fakeGate)
	b.newSite(t)
	b.newSite(t)
	b.settle(t)
	batch := b.queueBatch(t, nil)
	b.start(t)
	child := b.firstChild(t, batch.ID)
	must(t, b.d.Cancel(context.Background(), batch.ID, "tester"))
	got := b.waitDone(t, batch.ID)
	if got.Status != domain.TaskCancelled || !strings.Contains(got.Explanation, "Cancelled by tester") || !strings.Contains(got.Explanation, "1 not started") {
		t.Fatalf("batch %s: %s", got.Status, got.Explanation)
	}
	if c := b.waitDone(t, child.ID); c.Status != domain.TaskCancelled {
		t.Errorf("child under way: %s", c.Status)
	}
	if page, _ := b.st.ListTasks(context.Background(), store.TaskFilter{Parent: batch.ID}); page.Total != 1 {
		t.Errorf("%d children, want the one under way only", page.Total)
	}
}

// TestBatchStoppedWithAegir: when the dispatcher stops, the batch ends at
// once (failed aegir_stopped), never left running.
func TestBatchStoppedWithAegir(t *testing.T) {
	t.Parallel()
	b := setup(t, fakeGate)
	b.newSite(t)
	b.settle(t)
	batch := b.queueBatch(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- b.d.Run(ctx) }()
	b.firstChild(t, batch.ID)
	cancel()
	must(t, <-done)
	got, err := b.st.GetTask(context.Background(), batch.ID)
	must(t, err)
	if got.Status != domain.TaskFailed || got.ErrorCode != "aegir_stopped" || !strings.Contains(got.Explanation, "0 of 1 sites migrated") {
		t.Fatalf("batch %s %s: %s", got.Status, got.ErrorCode, got.Explanation)
	}
}
