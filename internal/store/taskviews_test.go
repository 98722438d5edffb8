package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
)

func TestTasksOfAndSince(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		f := setup(t, s)
		a, b := f.site("a.example.com"), f.site("b.example.com")
		ta, err := s.CreateSite(ctx, a, "test")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateSite(ctx, b, "test"); err != nil {
			t.Fatal(err)
		}
		if err := s.StartTask(ctx, ta, "test", 1); err != nil {
			t.Fatal(err)
		}
		if err := s.FinishTask(ctx, ta, domain.TaskSucceeded, store.SetSiteStatus(a.ID, domain.SiteEnabled)); err != nil {
			t.Fatal(err)
		}
		backup, err := s.RequestSiteTask(ctx, a.ID, domain.TaskBackup, nil, "test")
		if err != nil {
			t.Fatal(err)
		}
		// The index follows changes: the backup just queued is the newest.
		got, n, err := s.TasksOf(ctx, domain.TargetSite, a.ID, 1)
		if err != nil || n != 2 || len(got) != 1 || got[0].ID != backup.ID {
			t.Fatalf("TasksOf = %d %+v, %v", n, got, err)
		}
		if _, n, _ := s.TasksOf(ctx, domain.TargetPlatform, a.ID, 0); n != 0 {
			t.Fatalf("TasksOf with the wrong kind = %d", n)
		}
		// Since the future: only what is still queued or running.
		since, err := s.TasksSince(ctx, time.Now().Add(time.Hour), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range since {
			if tk.Status.Done() {
				t.Errorf("TasksSince(future) has finished task %s", tk.ID)
			}
		}
		all, _ := s.TasksSince(ctx, time.Time{}, nil)
		mine, _ := s.TasksSince(ctx, time.Time{}, []string{"nobody"})
		if len(all) < 5 || len(mine) != 0 {
			t.Fatalf("TasksSince: %d all, %d for nobody", len(all), len(mine))
		}
		for i := 1; i < len(all); i++ {
			if all[i-1].ID < all[i].ID {
				t.Fatalf("TasksSince not newest first")
			}
		}
	})
}
