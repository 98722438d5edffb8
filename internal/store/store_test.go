package store_test

import (
	"context"
	"errors"
	"fmt"
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

// backends runs fn once per KV backend, each with a fresh store: bbolt in a
// temp file, Consul under a unique prefix of a real agent.
func backends(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Run("bolt", func(t *testing.T) {
		t.Parallel()
		kv, err := boltkv.Open(filepath.Join(t.TempDir(), "aegir.db"), &boltkv.Config{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		s := store.New(kv, &store.Config{PlatformRoots: []string{"/srv"}})
		t.Cleanup(func() { s.Close() })
		fn(t, s)
	})
	t.Run("consul", func(t *testing.T) {
		t.Parallel()
		agent := testharness.SharedConsul(t)
		kv, err := consulkv.New(consulkv.Config{Address: agent.Addr, Prefix: testharness.UniquePrefix(t)})
		if err != nil {
			t.Fatal(err)
		}
		s := store.New(kv, &store.Config{PlatformRoots: []string{"/srv"}})
		t.Cleanup(func() { s.Close() })
		fn(t, s)
	})
}

// fixture is a client, a server with http and db services, and a platform.
type fixture struct {
	client   *domain.Client
	server   *domain.Server
	platform *domain.Platform
}

func setup(t *testing.T, s *store.Store) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{
		client: &domain.Client{Name: "acme"},
		server: &domain.Server{Name: "web1", Address: "127.0.0.1"},
	}
	if err := s.CreateClient(ctx, f.client); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateServer(ctx, f.server, []domain.Service{{Kind: domain.KindBuiltin, Port: 8080}, {Kind: domain.KindSQLite}}, "test"); err != nil {
		t.Fatal(err)
	}
	f.platform = &domain.Platform{Name: "static1", Path: "/srv/static1", WebServerID: f.server.ID, Type: domain.PlatformStatic}
	if _, err := s.CreatePlatform(ctx, f.platform, "test"); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) site(domainName string, aliases ...string) *domain.Site {
	return &domain.Site{Domain: domainName, Aliases: aliases, PlatformID: f.platform.ID, DBServerID: f.server.ID, ClientID: f.client.ID}
}

func TestCreateSiteQueuesInstall(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		f := setup(t, s)
		site := f.site("Example.com", "www.example.com")
		task, err := s.CreateSite(ctx, site, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if task.Type != domain.TaskInstall || task.TargetID != site.ID || task.Status != domain.TaskQueued || task.ClientID != f.client.ID {
			t.Fatalf("install task = %+v", task)
		}
		got, err := s.SiteByDomain(ctx, "WWW.example.com")
		if err != nil || got.ID != site.ID || got.Status != domain.SitePending {
			t.Fatalf("SiteByDomain = %+v, %v", got, err)
		}
		active, _, err := s.ActiveTasks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		types := map[domain.TaskType]int{}
		for _, a := range active {
			types[a.Type]++
		}
		if types[domain.TaskInstall] != 1 || types[domain.TaskVerifyServer] != 1 || types[domain.TaskVerifyPlatform] != 1 {
			t.Fatalf("active tasks = %v", types)
		}
		page, err := s.ListTasks(ctx, store.TaskFilter{TargetID: site.ID})
		if err != nil || page.Total != 1 {
			t.Fatalf("ListTasks = %+v, %v", page, err)
		}
	})
}

func TestDuplicateDomainsAndAliases(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		f := setup(t, s)
		if _, err := s.CreateSite(ctx, f.site("a.example.com", "b.example.com"), "t"); err != nil {
			t.Fatal(err)
		}
		before := dump(t, s)
		for _, site := range []*domain.Site{
			f.site("a.example.com"),
			f.site("c.example.com", "b.example.com"),
			f.site("b.example.com"),
			f.site("d.example.com", "a.example.com"),
		} {
			_, err := s.CreateSite(ctx, site, "t")
			var de *domain.DuplicateError
			if !errors.As(err, &de) || de.OwnerID == "" || de.OwnerName != "a.example.com" {
				t.Errorf("create %s %v: err = %v, want a DuplicateError naming the owner", site.Domain, site.Aliases, err)
			}
			// The message names the site by its domain, not only by its id.
			if err != nil && !strings.Contains(err.Error(), "the site a.example.com") {
				t.Errorf("create %s: message %q does not name the owner's domain", site.Domain, err)
			}
		}
		if after := dump(t, s); !equalDumps(before, after) {
			t.Fatalf("refused creates changed the store")
		}
	})
}

func TestConcurrentCreatesOneWinner(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		f := setup(t, s)
		var wins, dups atomic.Int32
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Each racer uses a different main domain and the same alias.
				_, err := s.CreateSite(ctx, f.site(fmt.Sprintf("racer%d.example.com", i), "contested.example.com"), "t")
				switch {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, domain.ErrDuplicate):
					dups.Add(1)
				default:
					t.Errorf("racer %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 || dups.Load() != 7 {
			t.Fatalf("wins=%d duplicates=%d, want 1 and 7", wins.Load(), dups.Load())
		}
		page, err := s.ListSites(ctx, store.SiteFilter{})
		if err != nil || page.Total != 1 {
			t.Fatalf("sites = %+v, %v", page, err)
		}
	})
}

func TestConcurrentUpdatesNoLostUpdate(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		f := setup(t, s)
		site := f.site("racy.example.com")
		if _, err := s.CreateSite(ctx, site, "t"); err != nil {
			t.Fatal(err)
		}
		// Every writer adds its own alias with read-modify-write and retries on
		// conflict: at the end every alias must be there.
		var wg sync.WaitGroup
		for i := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for attempt := 0; ; attempt++ {
					cur, err := s.GetSite(ctx, site.ID)
					if err != nil {
						t.Error(err)
						return
					}
					cur.Aliases = append(cur.Aliases, fmt.Sprintf("w%d.example.com", i))
					_, err = s.UpdateSite(ctx, cur, "t")
					if err == nil {
						return
					}
					if !errors.Is(err, domain.ErrConflict) || attempt > 50 {
						t.Errorf("writer %d: %v", i, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		got, err := s.GetSite(ctx, site.ID)
		if err != nil || len(got.Aliases) != 6 {
			t.Fatalf("aliases = %v, %v; want 6 (a lost update)", got.Aliases, err)
		}
		for _, a := range got.Aliases {
			if owner, err := s.SiteByDomain(ctx, a); err != nil || owner.ID != site.ID {
				t.Errorf("alias %s index: %v %v", a, owner, err)
			}
		}
	})
}

func TestUpdateSiteMovesIndexKeys(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		f := setup(t, s)
		site := f.site("main.example.com", "old.example.com")
		if _, err := s.CreateSite(ctx, site, "t"); err != nil {
			t.Fatal(err)
		}
		site.Aliases = []string{"new.example.com"}
		task, err := s.UpdateSite(ctx, site, "t")
		if err != nil || task.Type != domain.TaskVerify {
			t.Fatalf("UpdateSite: %v %v", task, err)
		}
		if _, err := s.SiteByDomain(ctx, "old.example.com"); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("old alias still indexed: %v", err)
		}
		if _, err := s.CreateSite(ctx, f.site("old.example.com"), "t"); err != nil {
			t.Errorf("freed alias cannot be reused: %v", err)
		}
		stale := *site
		stale.Version--
		stale.Aliases = nil
		if _, err := s.UpdateSite(ctx, &stale, "t"); !errors.Is(err, domain.ErrConflict) {
			t.Errorf("stale update: %v, want ErrConflict", err)
		}
	})
}

func TestFinishTaskAppliesChanges(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		f := setup(t, s)
		site := f.site("life.example.com")
		task, err := s.CreateSite(ctx, site, "t")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.StartTask(ctx, task, "local:test", 1); err != nil {
			t.Fatal(err)
		}
		if err := s.FinishTask(ctx, task, domain.TaskSucceeded, store.SetSiteStatus(site.ID, domain.SiteEnabled),
			store.AddBackup(&domain.Backup{SiteID: site.ID, Domain: site.Domain, TaskID: task.ID, Path: "/x.tar.zst"})); err != nil {
			t.Fatal(err)
		}
		got, _ := s.GetSite(ctx, site.ID)
		if got.Status != domain.SiteEnabled {
			t.Fatalf("status = %s", got.Status)
		}
		if bs, _ := s.ListBackups(ctx, site.ID, nil); len(bs) != 1 {
			t.Fatalf("backups = %v", bs)
		}
		// An illegal change leaves the task and the site untouched.
		task2, err := s.RequestSiteTask(ctx, site.ID, domain.TaskDisable, nil, "t")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.StartTask(ctx, task2, "local:test", 2); err != nil {
			t.Fatal(err)
		}
		err = s.FinishTask(ctx, task2, domain.TaskSucceeded, store.SetSiteStatus(site.ID, domain.SitePending))
		if !errors.Is(err, domain.ErrIllegalTransition) {
			t.Fatalf("illegal change: %v", err)
		}
		fresh, _ := s.GetTask(ctx, task2.ID)
		if fresh.Status != domain.TaskRunning {
			t.Fatalf("task changed by a refused finish: %s", fresh.Status)
		}
		// Remove: the site's names become free.
		if err := s.FinishTask(ctx, fresh, domain.TaskSucceeded, store.RemoveSite(site.ID)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SiteByDomain(ctx, site.Domain); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("removed site still found: %v", err)
		}
		if active, _, _ := s.ActiveTasks(ctx); containsTask(active, task.ID) || containsTask(active, task2.ID) {
			t.Fatalf("finished tasks still in the queue")
		}
	})
}

func TestCancelAndRetry(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		f := setup(t, s)
		site := f.site("retry.example.com")
		task, err := s.CreateSite(ctx, site, "t")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CancelQueued(ctx, task, "bob"); err != nil {
			t.Fatal(err)
		}
		again, err := s.RetryTask(ctx, task.ID, "bob")
		if err != nil || again.RetryOf != task.ID || again.Status != domain.TaskQueued {
			t.Fatalf("retry = %+v, %v", again, err)
		}
		if _, err := s.RetryTask(ctx, again.ID, "bob"); !errors.Is(err, domain.ErrConflict) {
			t.Fatalf("retry of a queued task: %v", err)
		}
	})
}

func TestLockedPlatformTakesNoSites(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		f := setup(t, s)
		p, _ := s.GetPlatform(ctx, f.platform.ID)
		p.Locked = true
		if err := s.PutPlatform(ctx, p); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateSite(ctx, f.site("locked.example.com"), "t"); !errors.Is(err, domain.ErrConflict) {
			t.Fatalf("site on a locked platform: %v", err)
		}
		bad := &domain.Platform{Name: "outside", Path: "/etc/x", WebServerID: f.server.ID, Type: domain.PlatformStatic}
		if _, err := s.CreatePlatform(ctx, bad, "t"); !errors.Is(err, domain.ErrInvalid) {
			t.Fatalf("platform outside roots: %v", err)
		}
	})
}

func TestListSitesFilters(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		f := setup(t, s)
		for i := range 30 {
			if _, err := s.CreateSite(ctx, f.site(fmt.Sprintf("s%02d.example.com", i), fmt.Sprintf("alias%02d.example.org", i)), "t"); err != nil {
				t.Fatal(err)
			}
		}
		page, err := s.ListSites(ctx, store.SiteFilter{Limit: 10, Offset: 10})
		if err != nil || page.Total != 30 || len(page.Items) != 10 || page.Items[0].Domain != "s10.example.com" {
			t.Fatalf("page = %d items, total %d, first %v, %v", len(page.Items), page.Total, page.Items, err)
		}
		page, _ = s.ListSites(ctx, store.SiteFilter{Query: "alias07"})
		if page.Total != 1 || page.Items[0].Domain != "s07.example.com" {
			t.Fatalf("alias search = %+v", page)
		}
		page, _ = s.ListSites(ctx, store.SiteFilter{ServerID: f.server.ID, Status: domain.SitePending})
		if page.Total != 30 {
			t.Fatalf("server filter total = %d", page.Total)
		}
		page, _ = s.ListSites(ctx, store.SiteFilter{ClientIDs: []string{}})
		if page.Total != 0 {
			t.Fatalf("empty client restriction leaked %d sites", page.Total)
		}
	})
}

func TestTokens(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		secret, created, err := s.EnsureAdmin(ctx)
		if err != nil || !created {
			t.Fatalf("EnsureAdmin: %v %v", created, err)
		}
		if _, again, _ := s.EnsureAdmin(ctx); again {
			t.Fatal("second EnsureAdmin created another admin")
		}
		u, tok, err := s.Authenticate(ctx, secret)
		if err != nil || u.Role != domain.RoleAdmin || tok.Hash == "" {
			t.Fatalf("Authenticate: %v %v", u, err)
		}
		// A secret with its last hex digit changed (to one it is not).
		last := "0"
		if strings.HasSuffix(secret, "0") {
			last = "1"
		}
		for _, bad := range []string{"", "aegir_", secret + "x", secret[:len(secret)-1] + last, "Bearer " + secret} {
			if _, _, err := s.Authenticate(ctx, bad); !errors.Is(err, domain.ErrUnauthorized) {
				t.Errorf("Authenticate(%q) = %v", bad, err)
			}
		}
		if err := s.DeleteToken(ctx, tok.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Authenticate(ctx, secret); !errors.Is(err, domain.ErrUnauthorized) {
			t.Fatalf("revoked token accepted: %v", err)
		}
	})
}

func containsTask(ts []domain.Task, id string) bool {
	for _, t := range ts {
		if t.ID == id {
			return true
		}
	}
	return false
}

// dump returns every key and value except the meta keys.
func dump(t *testing.T, s *store.Store) map[string]string {
	t.Helper()
	pairs, _, err := s.KV().List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range pairs {
		if p.Key == "meta/writes" {
			continue
		}
		out[p.Key] = string(p.Value)
	}
	return out
}

func equalDumps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestFencingRejectsPausedHolder is Kleppmann's rule: a holder whose lease
// expired while it paused must not write after a newer holder started.
func TestFencingRejectsPausedHolder(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		f := setup(t, s)
		site := f.site("fenced.example.com")
		install, err := s.CreateSite(ctx, site, "t")
		if err != nil {
			t.Fatal(err)
		}
		// Holder 1 (token 7) starts the install, then pauses past its lease.
		if err := s.StartTask(ctx, install, "local:a", 7); err != nil {
			t.Fatal(err)
		}
		// Holder 2 takes the lock (token 8) and starts another task on the site.
		verify, err := s.RequestSiteTask(ctx, site.ID, domain.TaskDelete, nil, "t")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.StartTask(ctx, verify, "local:b", 8); err != nil {
			t.Fatal(err)
		}
		// Holder 1 wakes up and tries to apply its result: refused.
		err = s.FinishTask(ctx, install, domain.TaskSucceeded, store.SetSiteStatus(site.ID, domain.SiteEnabled))
		if !errors.Is(err, store.ErrStaleFence) {
			t.Fatalf("paused holder's write: %v, want ErrStaleFence", err)
		}
		if got, _ := s.GetSite(ctx, site.ID); got.Status != domain.SitePending {
			t.Fatalf("stale write applied: %s", got.Status)
		}
		// An older token cannot start work either.
		other, _ := s.RequestSiteTask(ctx, site.ID, domain.TaskDelete, nil, "t")
		if err := s.StartTask(ctx, other, "local:c", 6); !errors.Is(err, store.ErrStaleFence) {
			t.Fatalf("start with an old token: %v", err)
		}
		if err := s.FinishTask(ctx, verify, domain.TaskSucceeded); err != nil {
			t.Fatalf("current holder: %v", err)
		}
	})
}
