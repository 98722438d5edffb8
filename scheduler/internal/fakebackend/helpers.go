package fakebackend

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/logbus"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/store"
)

// What the tests of the executors and of the dispatcher need around a run
// of the fake back end.

// TaskContext returns a running verify task and the context document the
// fake back end is started with for it.
func TaskContext(t testing.TB) (domain.Task, []byte) {
	t.Helper()
	task := domain.Task{ID: domain.NewID(), Type: domain.TaskVerify, TargetKind: domain.TargetSite, Status: domain.TaskRunning}
	b, err := json.Marshal(provision.Context{Version: provision.ContextVersion, Task: provision.TaskInfo{ID: task.ID, Type: task.Type}})
	if err != nil {
		t.Fatal(err)
	}
	return task, b
}

// WaitForLine follows the task's log on bus until a line containing s
// appears, for at most 30 seconds.
func WaitForLine(t testing.TB, bus logbus.Bus, taskID, s string) logbus.Line {
	t.Helper()
	after := ""
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		lines, done, err := bus.Read(context.Background(), taskID, after, 0, time.Second)
		if err != nil && !errors.Is(err, logbus.ErrNoLog) {
			t.Fatal(err)
		}
		for _, l := range lines {
			if strings.Contains(l.Msg, s) {
				return l
			}
			after = l.ID
		}
		if done {
			break
		}
	}
	t.Fatalf("no log line containing %q", s)
	return logbus.Line{}
}

// Settle finishes every active task in st as the fake back end would have
// (ok), without running anything: a server verified is ready, a platform
// verified is ready, a site installed is enabled.
func Settle(t testing.TB, st *store.Store) {
	t.Helper()
	ctx := context.Background()
	tasks, _, err := st.ActiveTasks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		if err := st.StartTask(ctx, &task, "test", 1); err != nil {
			t.Fatal(err)
		}
		var changes []store.Change
		switch task.Type {
		case domain.TaskVerifyServer:
			changes = append(changes, store.SetServerStatusChange(task.TargetID, domain.ServerReady))
		case domain.TaskVerifyPlatform:
			changes = append(changes, store.UpdatePlatform(task.TargetID, func(p *domain.Platform) error { return p.Transition(domain.PlatformReady) }))
		case domain.TaskInstall:
			changes = append(changes, store.SetSiteStatus(task.TargetID, domain.SiteEnabled))
		}
		if err := st.FinishTask(ctx, &task, domain.TaskSucceeded, changes...); err != nil {
			t.Fatal(err)
		}
	}
}
