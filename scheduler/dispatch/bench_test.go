package dispatch

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aegirhq/aegir/scheduler/internal/fakebackend"
)

// stampOf reads when the FakeBackend of task id started.
func stampOf(b *testing.B, dir, id string) time.Time {
	b.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, id+".stamp"))
	if err != nil {
		b.Fatal(err)
	}
	ns, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		b.Fatal(err)
	}
	return time.Unix(0, ns)
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// BenchmarkDispatchLatency measures the time from queueing a task (the
// store transaction that creates a site and its install task) to the
// FakeBackend running it, over 100 tasks one after another, with the local
// executor. The baseline in the same run is the executor alone: Start to
// the same FakeBackend running, which is the floor (fork/exec of the
// binary, its start-up, reading the context).
//
//	go test -run '^$' -bench DispatchLatency -benchtime 1x ./scheduler/
func BenchmarkDispatchLatency(b *testing.B) {
	const tasks = 100
	bd := setup(b, fakeStamp)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- bd.d.Run(ctx) }()
	defer func() { cancel(); <-done }()

	var dispatch, floor []time.Duration
	for b.Loop() {
		for range tasks {
			t0 := time.Now()
			_, task := bd.newSite(b)
			bd.waitDone(b, task.ID)
			dispatch = append(dispatch, stampOf(b, bd.dir, task.ID).Sub(t0))
		}
		for range tasks {
			task, pctx := fakebackend.TaskContext(b)
			t0 := time.Now()
			run, err := bd.exec.Start(ctx, task, pctx)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := run.Wait(); err != nil {
				b.Fatal(err)
			}
			floor = append(floor, stampOf(b, bd.dir, task.ID).Sub(t0))
		}
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(percentile(dispatch, 0.50)), "p50-ms")
	b.ReportMetric(ms(percentile(dispatch, 0.99)), "p99-ms")
	b.ReportMetric(ms(percentile(floor, 0.50)), "exec-p50-ms")
	b.ReportMetric(ms(percentile(floor, 0.99)), "exec-p99-ms")
	b.ReportMetric(ms(percentile(dispatch, 0.50)-percentile(floor, 0.50)), "overhead-p50-ms")
}
