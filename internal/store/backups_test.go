package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/store/boltkv"
	"github.com/aegirhq/aegir/internal/store/consulkv"
	"github.com/aegirhq/aegir/internal/testharness"
)

// racingKV is a fault-injecting backend: before each transaction it runs
// race (when set) on the backend underneath, as another writer that got
// in between the store's reads and its commit would.
type racingKV struct {
	store.KV
	race atomic.Pointer[func(ctx context.Context, kv store.KV, ops []store.Op)]
}

func (r *racingKV) Txn(ctx context.Context, ops []store.Op) ([]*store.Pair, error) {
	if fn := r.race.Load(); fn != nil {
		(*fn)(ctx, r.KV, ops)
	}
	return r.KV.Txn(ctx, ops)
}

// racingBackends is backends with the store on a racingKV.
func racingBackends(t *testing.T, fn func(t *testing.T, s *store.Store, kv *racingKV)) {
	open := map[string]func(t *testing.T) store.KV{
		"bolt": func(t *testing.T) store.KV {
			kv, err := boltkv.Open(filepath.Join(t.TempDir(), "aegir.db"), &boltkv.Config{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			return kv
		},
		"consul": func(t *testing.T) store.KV {
			agent := testharness.SharedConsul(t)
			kv, err := consulkv.New(consulkv.Config{Address: agent.Addr, Prefix: testharness.UniquePrefix(t)})
			if err != nil {
				t.Fatal(err)
			}
			return kv
		},
	}
	for _, name := range []string{"bolt", "consul"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			kv := &racingKV{KV: open[name](t)}
			s := store.New(kv, &store.Config{PlatformRoots: []string{"/srv"}})
			t.Cleanup(func() { s.Close() })
			fn(t, s, kv)
		})
	}
}

// goneBackup records a backup of a new site of f's client whose archive
// lies on a second server, then deletes the site and that server: a
// backup nothing can run on any more.
func goneBackup(t *testing.T, s *store.Store, f *fixture, domainName string) *domain.Backup {
	t.Helper()
	ctx := context.Background()
	srv := &domain.Server{Name: "web2", Address: "127.0.0.2"}
	if _, err := s.CreateServer(ctx, srv, nil, "test"); err != nil {
		t.Fatal(err)
	}
	site := f.site(domainName)
	if _, err := s.CreateSite(ctx, site, "test"); err != nil {
		t.Fatal(err)
	}
	bk := &domain.Backup{ID: domain.NewID(), SiteID: site.ID, ClientID: site.ClientID, Domain: site.Domain, ServerID: srv.ID,
		Path: "/var/lib/aegir/backups/" + site.Domain + "/x.tar.zst", Size: 10, Reason: "pre-delete"}
	task, err := s.RequestSiteTask(ctx, site.ID, domain.TaskDelete, nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.StartTask(ctx, task, "test", 0); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishTask(ctx, task, domain.TaskSucceeded, store.AddBackup(bk), store.RemoveSite(site.ID)); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetServer(ctx, srv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteServer(ctx, srv.ID, got.Version); err != nil {
		t.Fatal(err)
	}
	if bk, err = s.GetBackup(ctx, bk.ID); err != nil {
		t.Fatal(err)
	}
	return bk
}

// TestBackupOfGoneServer: a deleted site's backup whose server was deleted
// too is removed by RequestDeletedSiteBackupTask at once, as a task on the
// gone server recorded succeeded (never queued), carrying the backup's
// client, naming the server and where the archive was. Its transaction
// checks the backup: a backup changed on every attempt is a conflict that
// changes nothing; of concurrent deletes exactly one records a task, the
// others find no backup.
func TestBackupOfGoneServer(t *testing.T) {
	racingBackends(t, func(t *testing.T, s *store.Store, kv *racingKV) {
		ctx := context.Background()
		f := setup(t, s)
		bk := goneBackup(t, s, f, "gone.example.com")

		// Changed between the read and the commit, every time: conflict.
		changed := 0
		race := func(ctx context.Context, under store.KV, ops []store.Op) {
			for _, op := range ops {
				if op.Verb != store.OpDeleteCAS || op.Key != "backups/"+bk.ID {
					continue
				}
				p, err := under.Get(ctx, op.Key)
				if err != nil {
					t.Error(err)
					return
				}
				var v map[string]any
				if err := json.Unmarshal(p.Value, &v); err != nil {
					t.Error(err)
					return
				}
				v["size"] = float64(11 + changed)
				b, _ := json.Marshal(v)
				if _, err := under.Txn(ctx, []store.Op{{Verb: store.OpCAS, Key: op.Key, Value: b, Index: p.ModifyIndex}}); err != nil {
					t.Error(err)
				}
				changed++
			}
		}
		kv.race.Store(&race)
		before := dump(t, s)
		if _, err := s.RequestDeletedSiteBackupTask(ctx, bk.ID, domain.TaskDeleteBackupOfDeletedSite, "alice"); !errors.Is(err, domain.ErrConflict) {
			t.Fatalf("a backup changing under the delete: %v, want a conflict", err)
		}
		kv.race.Store(nil)
		if changed == 0 {
			t.Fatal("the race never ran")
		}
		after := dump(t, s)
		delete(before, "backups/"+bk.ID) // the race's own write
		delete(after, "backups/"+bk.ID)
		if !equalDumps(before, after) {
			t.Fatalf("the conflict changed the store: %d keys, %d before", len(after), len(before))
		}
		if _, err := s.GetBackup(ctx, bk.ID); err != nil {
			t.Fatalf("the backup after the conflict: %v", err)
		}

		// Concurrent deletes: one task, the others find nothing.
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			tasks []*domain.Task
			errs  []error
		)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				task, err := s.RequestDeletedSiteBackupTask(ctx, bk.ID, domain.TaskDeleteBackupOfDeletedSite, "alice")
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
					return
				}
				tasks = append(tasks, task)
			}()
		}
		wg.Wait()
		if len(tasks) != 1 {
			t.Fatalf("%d deletes recorded a task (errors %v), want 1", len(tasks), errs)
		}
		for _, err := range errs {
			if !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("a losing delete: %v, want not found", err)
			}
		}
		task := tasks[0]
		if task.Type != domain.TaskDeleteBackupOfDeletedSite || task.Status != domain.TaskSucceeded ||
			task.TargetKind != domain.TargetServer || task.TargetID != bk.ServerID || task.TargetName != "web2" ||
			task.ClientID != f.client.ID || task.RequestedBy != "alice" || task.Args["backup_id"] != bk.ID ||
			task.StartedAt == nil || task.FinishedAt == nil || task.Version == 0 {
			t.Fatalf("task = %+v", task)
		}
		for _, want := range []string{"web2", "no longer exists", "gone.example.com", bk.Path} {
			if !strings.Contains(task.Summary, want) {
				t.Errorf("summary %q does not say %q", task.Summary, want)
			}
		}
		if _, err := s.GetBackup(ctx, bk.ID); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("the backup after its delete: %v", err)
		}
		got, err := s.GetTask(ctx, task.ID)
		if err != nil || got.Status != domain.TaskSucceeded || got.Version != task.Version || got.Summary != task.Summary {
			t.Errorf("the stored task = %+v, %v", got, err)
		}
		active, _, err := s.ActiveTasks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if containsTask(active, task.ID) {
			t.Error("the finished task is in the queue")
		}
		page, err := s.ListTasks(ctx, store.TaskFilter{ClientIDs: []string{f.client.ID}, Type: domain.TaskDeleteBackupOfDeletedSite})
		if err != nil || page.Total != 1 || page.Items[0].ID != task.ID {
			t.Errorf("the client's tasks = %+v, %v", page, err)
		}
	})
}
