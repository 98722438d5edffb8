package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/store/boltkv"
	"github.com/aegirhq/aegir/internal/store/consulkv"
	"github.com/aegirhq/aegir/internal/testharness"
)

// kvBackends runs fn once per KV backend with a fresh, empty KV.
func kvBackends(t *testing.T, fn func(t *testing.T, kv store.KV)) {
	t.Run("bolt", func(t *testing.T) {
		t.Parallel()
		kv, err := boltkv.Open(filepath.Join(t.TempDir(), "aegir.db"), &boltkv.Config{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { kv.Close() })
		fn(t, kv)
	})
	t.Run("consul", func(t *testing.T) {
		t.Parallel()
		agent := testharness.SharedConsul(t)
		kv, err := consulkv.New(consulkv.Config{Address: agent.Addr, Prefix: testharness.UniquePrefix(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { kv.Close() })
		fn(t, kv)
	})
}

// noCloseKV keeps a store's Close from closing a KV shared by several
// stores (several processes on one Consul).
type noCloseKV struct{ store.KV }

func (noCloseKV) Close() error { return nil }

// eventually polls cond for up to 10 s.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, got := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %s after 10 s", what, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func seedTask(t *testing.T, kv store.KV, created time.Time, target string, flat bool) domain.Task {
	t.Helper()
	done := created.Add(time.Second)
	task := domain.Task{
		ID: domain.NewIDAt(created), Type: domain.TaskVerify, TargetKind: domain.TargetSite,
		TargetID: target, TargetName: target + ".example.com", Status: domain.TaskSucceeded,
		RequestedBy: "test", CreatedAt: created, StartedAt: &created, FinishedAt: &done,
	}
	v, err := json.Marshal(task)
	if err != nil {
		t.Fatal(err)
	}
	ops := []store.Op{{Verb: store.OpSet, Key: store.TaskKey(task.ID), Value: v}, store.TaskBucketOp(task.ID)}
	if flat { // the layout before hour buckets
		ops = []store.Op{{Verb: store.OpSet, Key: "tasks/" + task.ID, Value: v}}
	}
	if _, err := kv.Txn(context.Background(), ops); err != nil {
		t.Fatal(err)
	}
	return task
}

func totalTasks(s *store.Store) (bool, string, int) {
	p, err := s.ListTasks(context.Background(), store.TaskFilter{Limit: 1000})
	if err != nil {
		return false, err.Error(), 0
	}
	return true, fmt.Sprint(p.Total, " tasks"), p.Total
}

// TestTaskHoursAcrossStores checks the hour-bucketed task layout with two
// stores on one KV, as two aegir processes on one Consul: records of the
// old flat layout are moved, each store sees the other's changes to any
// hour, lists stay newest first across hours, and retention removes the
// marker of an hour it empties.
func TestTaskHoursAcrossStores(t *testing.T) {
	t.Parallel()
	kvBackends(t, func(t *testing.T, kv store.KV) {
		ctx := context.Background()
		now := time.Now().UTC()
		hours := []time.Duration{50 * time.Hour, 49 * time.Hour, 2 * time.Hour}
		var seeded [][]domain.Task
		for _, ago := range hours {
			var hour []domain.Task
			for i := range 5 {
				hour = append(hour, seedTask(t, kv, now.Add(-ago+time.Duration(i)*time.Minute), fmt.Sprintf("site%d", i%2), false))
			}
			seeded = append(seeded, hour)
		}
		flat := []domain.Task{
			seedTask(t, kv, now.Add(-3*time.Hour), "site0", true),
			seedTask(t, kv, now.Add(-3*time.Hour+time.Second), "site1", true),
		}

		// Two processes start at once; both try to move the flat records.
		s1 := store.New(noCloseKV{kv}, nil)
		s2 := store.New(noCloseKV{kv}, nil)
		t.Cleanup(func() { s1.Close(); s2.Close() })
		for i, s := range []*store.Store{s1, s2} {
			eventually(t, fmt.Sprintf("store %d lists 17 tasks", i+1), func() (bool, string) {
				ok, got, n := totalTasks(s)
				return ok && n == 17, got
			})
		}
		pairs, _, err := kv.List(ctx, "tasks/")
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pairs {
			if strings.Count(p.Key, "/") != 2 {
				t.Errorf("key %q is not tasks/<hour>/<id>", p.Key)
			}
		}
		for _, f := range flat {
			if got, err := s1.GetTask(ctx, f.ID); err != nil || got.TargetID != f.TargetID {
				t.Errorf("moved task %s: %v, %v", f.ID, got, err)
			}
		}

		// Newest first across hours, also for one target.
		p, err := s1.ListTasks(ctx, store.TaskFilter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i < len(p.Items); i++ {
			if p.Items[i].ID > p.Items[i-1].ID {
				t.Fatalf("list not newest first at %d: %s after %s", i, p.Items[i].ID, p.Items[i-1].ID)
			}
		}
		mine, n, err := s1.TasksOf(ctx, domain.TargetSite, "site0", 0)
		if err != nil || n != 10 || mine[0].ID != seeded[2][4].ID {
			t.Fatalf("TasksOf(site0) = %d tasks (first %v), %v; want 10, newest %s", n, mine[0].ID, err, seeded[2][4].ID)
		}

		// A change by one process to a task of an old hour reaches the other.
		old, err := s2.GetTask(ctx, seeded[0][1].ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := s2.SetTaskRunner(ctx, old, "moved-by-s2"); err != nil {
			t.Fatal(err)
		}
		eventually(t, "store 1 sees store 2's change to a 50-hour-old task", func() (bool, string) {
			ts, _, err := s1.TasksOf(ctx, domain.TargetSite, old.TargetID, 0)
			for _, x := range ts {
				if x.ID == old.ID {
					return x.Runner == "moved-by-s2", fmt.Sprintf("runner %q (err %v)", x.Runner, err)
				}
			}
			return false, "missing"
		})

		// Retention empties the oldest hour: its marker goes, both stores
		// drop its tasks.
		var oldest []domain.Task
		for _, x := range seeded[0] {
			fresh, err := s1.GetTask(ctx, x.ID) // with its version
			if err != nil {
				t.Fatal(err)
			}
			oldest = append(oldest, *fresh)
		}
		if got, err := s1.DeleteTasks(ctx, oldest); err != nil || got != 5 {
			t.Fatalf("DeleteTasks = %d, %v; want 5", got, err)
		}
		if _, err := kv.Get(ctx, store.TaskBucketKey(oldest[0].ID)); err == nil {
			t.Error("the emptied hour's marker is still there")
		}
		if _, _, n := totalTasks(s1); n != 12 {
			t.Errorf("store 1 lists %d tasks right after its delete, want 12", n)
		}
		eventually(t, "store 2 lists 12 tasks", func() (bool, string) {
			ok, got, n := totalTasks(s2)
			return ok && n == 12, got
		})

		// A task queued now by one process is listed by the other.
		srv := &domain.Server{Name: "web1", Address: "127.0.0.1"}
		if _, err := s1.CreateServer(ctx, srv, nil, "test"); err != nil {
			t.Fatal(err)
		}
		eventually(t, "store 2 lists store 1's new task", func() (bool, string) {
			ok, got, n := totalTasks(s2)
			return ok && n == 13, got
		})
	})
}

// TestNewestTasksOf checks the page batch read against TasksOf per target,
// first by walking the hours and then once the view's recent index is built.
func TestNewestTasksOf(t *testing.T) {
	t.Parallel()
	kvBackends(t, func(t *testing.T, kv store.KV) {
		ctx := context.Background()
		now := time.Now().UTC()
		for _, ago := range []time.Duration{50 * time.Hour, 20 * time.Hour, 2 * time.Hour} {
			for i := range 12 {
				seedTask(t, kv, now.Add(-ago+time.Duration(i)*time.Minute), fmt.Sprintf("site%d", i%3), false)
			}
		}
		seedTask(t, kv, now.Add(-time.Hour), "lonely", false)
		s := store.New(noCloseKV{kv}, nil)
		t.Cleanup(func() { s.Close() })
		eventually(t, "store lists 37 tasks", func() (bool, string) {
			ok, got, n := totalTasks(s)
			return ok && n == 37, got
		})
		ids := []string{"site0", "site1", "site2", "lonely", "nobody", "site0"}
		for round := range 3 {
			for _, limit := range []int{1, 5, 10} {
				got, err := s.NewestTasksOf(ctx, domain.TargetSite, ids, limit)
				if err != nil {
					t.Fatal(err)
				}
				for _, id := range ids {
					want, _, err := s.TasksOf(ctx, domain.TargetSite, id, limit)
					if err != nil {
						t.Fatal(err)
					}
					if len(got[id]) != len(want) {
						t.Fatalf("round %d limit %d %s: %d tasks, want %d", round, limit, id, len(got[id]), len(want))
					}
					for i := range want {
						if got[id][i].ID != want[i].ID {
							t.Fatalf("round %d limit %d %s[%d] = %s, want %s", round, limit, id, i, got[id][i].ID, want[i].ID)
						}
					}
				}
				if _, ok := got["nobody"]; ok {
					t.Errorf("a target without tasks has an entry")
				}
			}
			time.Sleep(20 * time.Millisecond) // let the recent index build
		}
	})
}
