package control

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
)

// finish runs task to status as a runner would.
func (b *bundle) finish(t *testing.T, task *domain.Task, status domain.TaskStatus, changes ...store.Change) {
	t.Helper()
	ctx := context.Background()
	if err := b.st.StartTask(ctx, task, "local:test", 0); err != nil {
		t.Fatal(err)
	}
	if err := b.st.FinishTask(ctx, task, status, changes...); err != nil {
		t.Fatal(err)
	}
}

// enable finishes site's install so it takes backups.
func (b *bundle) enable(t *testing.T, site *domain.Site) {
	t.Helper()
	ctx := context.Background()
	tasks, _, err := b.st.TasksOf(ctx, domain.TargetSite, site.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	for i := range tasks {
		if tasks[i].Type == domain.TaskInstall && !tasks[i].Status.Done() {
			b.finish(t, &tasks[i], domain.TaskSucceeded, store.SetSiteStatus(site.ID, domain.SiteEnabled))
		}
	}
}

// setQuotas gives siteA's client (acme) quotas q, as an admin.
func (b *bundle) setQuotas(t *testing.T, q domain.Quotas) *domain.Client {
	t.Helper()
	ctx := context.Background()
	cl, err := b.ctl.Clients.Get(ctx, b.admin, b.siteA.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	cl.Quotas = q
	if err := b.ctl.Clients.Update(ctx, b.admin, cl.ID, cl); err != nil {
		t.Fatal(err)
	}
	return cl
}

func quotaErr(t *testing.T, err error, name string) {
	t.Helper()
	var qe *domain.QuotaError
	if !errors.As(err, &qe) || qe.Quota != name || !errors.Is(err, domain.ErrQuotaExceeded) {
		t.Fatalf("want the %s quota refused, got %v", name, err)
	}
}

// TestQuotaParallelBackups: 20 backups asked for at once by a client user
// whose client may have 3 tasks queued: exactly 3 are queued, the others
// refused with the tasks quota named, and an admin is not held to it.
// Half the requests go through a second store on the same backend, as a
// second API server would: they do not share the first's mutex, only the
// store's check-and-set.
func TestQuotaParallelBackups(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.enable(t, b.siteA)
	b.setQuotas(t, domain.Quotas{domain.QuotaTasks: 3})
	st2 := store.New(b.st.KV(), nil)
	t.Cleanup(func() { _ = st2.Close() })
	ctl2, err := New(&Config{Store: st2})
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		queued   int
		refused  int
		unwanted []error
	)
	for i := range 20 {
		ctl := b.ctl
		if i%2 == 1 {
			ctl = ctl2
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := ctl.Sites.Task(ctx, b.alice, b.siteA.ID, apiv1.TaskRequest{Type: string(domain.TaskBackup)})
			mu.Lock()
			defer mu.Unlock()
			var qe *domain.QuotaError
			switch {
			case err == nil:
				queued++
			case errors.As(err, &qe) && qe.Quota == domain.QuotaTasks && qe.Limit == 3:
				refused++
			default:
				unwanted = append(unwanted, err)
			}
		}()
	}
	wg.Wait()
	if queued != 3 || refused != 17 || len(unwanted) > 0 {
		t.Fatalf("queued %d, refused %d, other errors %v; want 3 and 17", queued, refused, unwanted)
	}
	// Read the store itself: this store's task mirror may not have seen
	// the second store's writes yet.
	active, _, err := b.st.ActiveTasks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var backups []domain.Task
	for _, task := range active {
		if task.Type == domain.TaskBackup && task.TargetID == b.siteA.ID {
			backups = append(backups, task)
		}
	}
	if len(backups) != 3 {
		t.Fatalf("backup tasks in the store: %d, want 3", len(backups))
	}
	q, err := b.ctl.Clients.Quota(ctx, b.alice, b.siteA.ClientID)
	if err != nil || q.Usage[domain.QuotaTasks] != 3 || q.Limits[domain.QuotaTasks] != 3 {
		t.Fatalf("quota view: %+v, %v", q, err)
	}
	// One finishes: there is room for one more, not two.
	b.finish(t, &backups[0], domain.TaskFailed)
	if _, err := b.ctl.Sites.Task(ctx, b.alice, b.siteA.ID, apiv1.TaskRequest{Type: string(domain.TaskBackup)}); err != nil {
		t.Fatalf("after one finished: %v", err)
	}
	_, err = b.ctl.Sites.Task(ctx, b.alice, b.siteA.ID, apiv1.TaskRequest{Type: string(domain.TaskBackup)})
	quotaErr(t, err, domain.QuotaTasks)
	if _, err := b.ctl.Sites.Task(ctx, b.admin, b.siteA.ID, apiv1.TaskRequest{Type: string(domain.TaskVerify)}); err != nil {
		t.Fatalf("an admin is not held to the client's quota: %v", err)
	}
	// The other client's user is not held to acme's quota.
	b.enable(t, b.siteB)
	for range 5 {
		if _, err := b.ctl.Sites.Task(ctx, b.bob, b.siteB.ID, apiv1.TaskRequest{Type: string(domain.TaskBackup)}); err != nil {
			t.Fatalf("globex has no quota: %v", err)
		}
	}
}

// TestQuotaBackupsKept: manual backups kept, stored and being made, are
// limited; the request beyond is refused (nothing is deleted); scheduled
// backups do not count and a client user cannot claim one.
func TestQuotaBackupsKept(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.enable(t, b.siteA)
	b.setQuotas(t, domain.Quotas{domain.QuotaBackups: 2})
	task, err := b.ctl.Sites.Task(ctx, b.alice, b.siteA.ID, apiv1.TaskRequest{Type: string(domain.TaskBackup)})
	if err != nil {
		t.Fatal(err)
	}
	bk := &domain.Backup{ID: domain.NewID(), SiteID: b.siteA.ID, ClientID: b.siteA.ClientID, Domain: b.siteA.Domain,
		TaskID: task.ID, ServerID: b.server.ID, Path: "/var/backups/a.tar.zst", Size: 10, Reason: "manual"}
	b.finish(t, task, domain.TaskSucceeded, store.AddBackup(bk))
	sched := *bk
	sched.ID, sched.Reason = domain.NewID(), "scheduled"
	verify, err := b.ctl.Sites.Task(ctx, b.admin, b.siteA.ID, apiv1.TaskRequest{Type: string(domain.TaskVerify)})
	if err != nil {
		t.Fatal(err)
	}
	sched.TaskID = verify.ID
	b.finish(t, verify, domain.TaskSucceeded, store.AddBackup(&sched))
	if _, err := b.ctl.Sites.Task(ctx, b.alice, b.siteA.ID, apiv1.TaskRequest{Type: string(domain.TaskBackup)}); err != nil {
		t.Fatalf("second manual backup (one stored, one scheduled that does not count): %v", err)
	}
	_, err = b.ctl.Sites.Task(ctx, b.alice, b.siteA.ID, apiv1.TaskRequest{Type: string(domain.TaskBackup)})
	quotaErr(t, err, domain.QuotaBackups)
	_, err = b.ctl.Sites.Task(ctx, b.alice, b.siteA.ID, apiv1.TaskRequest{Type: string(domain.TaskBackup), Args: map[string]string{"reason": "scheduled"}})
	var ve *domain.ValidationError
	if !errors.As(err, &ve) || ve.Field != "args.reason" {
		t.Fatalf("a client user's backup claiming to be scheduled: %v", err)
	}
	if bs, _ := b.st.ListBackups(ctx, b.siteA.ID, nil); len(bs) != 2 {
		t.Fatalf("the refusal deleted nothing: %d backups", len(bs))
	}
	q, err := b.ctl.Clients.Quota(ctx, b.alice, b.siteA.ClientID)
	if err != nil || q.Usage[domain.QuotaBackups] != 2 || q.Usage[domain.QuotaDisk] != 20 {
		t.Fatalf("usage %v, %v", q.Usage, err)
	}
}

// TestQuotaSitesAndDisk: new sites and clones count against the sites
// quota; at the disk quota nothing that adds to it is taken.
func TestQuotaSitesAndDisk(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.enable(t, b.siteA)
	b.setQuotas(t, domain.Quotas{domain.QuotaSites: 2})
	newSite := func(name string) error {
		_, _, err := b.ctl.Sites.Create(ctx, b.alice, apiv1.SiteCreate{Domain: name, PlatformID: b.platform.ID, DBServerID: b.server.ID})
		return err
	}
	if err := newSite("a2.example.com"); err != nil {
		t.Fatal(err)
	}
	quotaErr(t, newSite("a3.example.com"), domain.QuotaSites)
	_, err := b.ctl.Sites.Task(ctx, b.alice, b.siteA.ID, apiv1.TaskRequest{Type: string(domain.TaskClone), Args: map[string]string{"domain": "copy.example.com"}})
	quotaErr(t, err, domain.QuotaSites)

	b.setQuotas(t, domain.Quotas{domain.QuotaDisk: 1 << 20})
	if err := newSite("a3.example.com"); err != nil {
		t.Fatalf("under the disk quota: %v", err)
	}
	fig := fmt.Sprintf(`{"at":"2026-01-01T00:00:00Z","figures":{"disk_bytes":%d,"db_bytes":%d}}`, 1<<19, 1<<19)
	if err := b.st.SetQueueRecords(ctx, map[store.QueueKey][]byte{store.StatsLatest().Key(b.siteA.ID): []byte(fig)}); err != nil {
		t.Fatal(err)
	}
	quotaErr(t, newSite("a4.example.com"), domain.QuotaDisk)
	_, err = b.ctl.Sites.Task(ctx, b.alice, b.siteA.ID, apiv1.TaskRequest{Type: string(domain.TaskBackup)})
	quotaErr(t, err, domain.QuotaDisk)
	if _, err := b.ctl.Sites.Task(ctx, b.alice, b.siteA.ID, apiv1.TaskRequest{Type: string(domain.TaskVerify)}); err != nil {
		t.Fatalf("a verify adds no disk: %v", err)
	}
}

// TestQuotaOnlyAdmins: a client user cannot change their client's quotas
// (nor anything else of it); an admin's change is on the audit log.
func TestQuotaOnlyAdmins(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	cl, err := b.ctl.Clients.Get(ctx, b.alice, b.siteA.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	cl.Quotas = domain.Quotas{domain.QuotaSites: 1000}
	if err := b.ctl.Clients.Update(ctx, b.alice, cl.ID, cl); !errors.Is(err, domain.ErrForbidden) {
		t.Fatalf("a client user raising their quota: %v", err)
	}
	if got, _ := b.st.GetClient(ctx, cl.ID); got.Quotas != nil {
		t.Fatalf("quotas changed: %v", got.Quotas)
	}
	cl.Quotas = domain.Quotas{"bananas": 1}
	var ve *domain.ValidationError
	if err := b.ctl.Clients.Update(ctx, b.admin, cl.ID, cl); !errors.As(err, &ve) || ve.Field != "quotas.bananas" {
		t.Fatalf("unknown quota: %v", err)
	}
	b.setQuotas(t, domain.Quotas{domain.QuotaSites: 5})
	page, err := b.ctl.Audit.List(ctx, b.admin, store.AuditFilter{ObjectID: cl.ID})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range page.Items {
		found = found || e.Action == "update" && e.Fields["quotas"] == `{"sites":5}`
	}
	if !found {
		t.Fatalf("no audit entry with the quotas change: %+v", page.Items)
	}
}

// TestQuotaSiteMove: a client user with two clients moves a site into
// the one at its sites quota: refused, the site stays where it was.
func TestQuotaSiteMove(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	both := As(&domain.User{ID: domain.NewID(), Name: "carol", Role: domain.RoleClient, ClientIDs: []string{b.siteA.ClientID, b.siteB.ClientID}})
	b.setQuotas(t, domain.Quotas{domain.QuotaSites: 1})
	site, err := b.ctl.Sites.Get(ctx, both, b.siteB.ID)
	if err != nil {
		t.Fatal(err)
	}
	site.ClientID = b.siteA.ClientID
	_, err = b.ctl.Sites.Update(ctx, both, site.ID, site)
	quotaErr(t, err, domain.QuotaSites)
	if got, _ := b.st.GetSite(ctx, b.siteB.ID); got.ClientID != b.siteB.ClientID {
		t.Fatalf("the site moved: %s", got.ClientID)
	}
}

// TestQuotaDefaults: the configuration's defaults, overridden by those an
// admin stores (check-and-set, on the audit log), under each client's
// own; a client user may neither read nor set them.
func TestQuotaDefaults(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	ctl, err := New(&Config{Store: b.st, Quotas: domain.Quotas{domain.QuotaTasks: 20, domain.QuotaBackups: 20}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := ctl.Clients.Defaults(ctx, b.admin)
	if err != nil || d.Version != 0 || d.Defaults[domain.QuotaTasks] != 20 || len(d.Overrides) != 0 {
		t.Fatalf("defaults before any are stored: %+v, %v", d, err)
	}
	if _, err := ctl.Clients.SetDefaults(ctx, b.alice, apiv1.QuotaDefaultsUpdate{Overrides: domain.Quotas{domain.QuotaTasks: 1000}}); !errors.Is(err, domain.ErrForbidden) {
		t.Fatalf("a client user setting the defaults: %v", err)
	}
	if _, err := ctl.Clients.Defaults(ctx, b.alice); !errors.Is(err, domain.ErrForbidden) {
		t.Fatalf("a client user reading the defaults: %v", err)
	}
	d, err = ctl.Clients.SetDefaults(ctx, b.admin, apiv1.QuotaDefaultsUpdate{Overrides: domain.Quotas{domain.QuotaTasks: 2, domain.QuotaSites: 7}})
	if err != nil || d.Version == 0 || d.Defaults[domain.QuotaTasks] != 2 || d.Defaults[domain.QuotaBackups] != 20 || d.Config[domain.QuotaTasks] != 20 {
		t.Fatalf("after setting: %+v, %v", d, err)
	}
	if _, err := ctl.Clients.SetDefaults(ctx, b.admin, apiv1.QuotaDefaultsUpdate{Overrides: domain.Quotas{}, Version: d.Version - 1}); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("a stale version: %v", err)
	}
	if _, err := ctl.Clients.SetDefaults(ctx, b.admin, apiv1.QuotaDefaultsUpdate{Overrides: domain.Quotas{"x": 1}, Version: d.Version}); err == nil {
		t.Fatal("an unknown quota was stored")
	}
	// Acme's own sites quota over the stored default; its tasks from it.
	b.setQuotas(t, domain.Quotas{domain.QuotaSites: 3})
	q, err := ctl.Clients.Quota(ctx, b.alice, b.siteA.ClientID)
	if err != nil || q.Limits[domain.QuotaTasks] != 2 || q.Limits[domain.QuotaSites] != 3 || q.Defaults[domain.QuotaSites] != 7 {
		t.Fatalf("acme's quotas: %+v, %v", q, err)
	}
	b.enable(t, b.siteA)
	for range 2 {
		if _, err := ctl.Sites.Task(ctx, b.alice, b.siteA.ID, apiv1.TaskRequest{Type: string(domain.TaskVerify)}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = ctl.Sites.Task(ctx, b.alice, b.siteA.ID, apiv1.TaskRequest{Type: string(domain.TaskVerify)})
	quotaErr(t, err, domain.QuotaTasks)
	page, err := ctl.Audit.List(ctx, b.admin, store.AuditFilter{Kind: "quota_defaults"})
	if err != nil || len(page.Items) != 1 || page.Items[0].Fields["quotas"] != `{"sites":7,"tasks":2}` {
		t.Fatalf("audit of the defaults: %+v, %v", page, err)
	}
}

// TestQuotaOverOneRefusesOnlyIt: a client an admin took over one quota
// (admins are not held to them) is refused only what adds to that one: a
// client user's new site is not refused for the manual backups its
// client holds over the backups quota, nor a backup for its sites over
// the sites quota. Both used to be refused naming the unrelated quota
// whenever the disk quota made the store count everything.
func TestQuotaOverOneRefusesOnlyIt(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.enable(t, b.siteA)
	b.setQuotas(t, domain.Quotas{domain.QuotaBackups: 1, domain.QuotaSites: 10, domain.QuotaDisk: 1 << 30})
	for i := range 2 { // the admin's: over the backups quota
		task, err := b.ctl.Sites.Task(ctx, b.admin, b.siteA.ID, apiv1.TaskRequest{Type: string(domain.TaskBackup)})
		if err != nil {
			t.Fatal(err)
		}
		b.finish(t, task, domain.TaskSucceeded, store.AddBackup(&domain.Backup{ID: domain.NewID(), SiteID: b.siteA.ID, ClientID: b.siteA.ClientID,
			Domain: b.siteA.Domain, TaskID: task.ID, ServerID: b.server.ID, Path: fmt.Sprintf("/var/backups/%d.tar.zst", i), Size: 10, Reason: "manual"}))
	}
	_, err := b.ctl.Sites.Task(ctx, b.alice, b.siteA.ID, apiv1.TaskRequest{Type: string(domain.TaskBackup)})
	quotaErr(t, err, domain.QuotaBackups)
	site, _, err := b.ctl.Sites.Create(ctx, b.alice, apiv1.SiteCreate{Domain: "a2.example.com", PlatformID: b.platform.ID, DBServerID: b.server.ID})
	if err != nil {
		t.Fatalf("a new site, over only the backups quota: %v", err)
	}
	b.enable(t, site)

	// Over the sites quota (1 of 1 after the admin lowers it), under the
	// backups quota: a backup is taken, a site refused.
	b.setQuotas(t, domain.Quotas{domain.QuotaBackups: 5, domain.QuotaSites: 1, domain.QuotaDisk: 1 << 30})
	if _, err := b.ctl.Sites.Task(ctx, b.alice, b.siteA.ID, apiv1.TaskRequest{Type: string(domain.TaskBackup)}); err != nil {
		t.Fatalf("a backup, over only the sites quota: %v", err)
	}
	_, _, err = b.ctl.Sites.Create(ctx, b.alice, apiv1.SiteCreate{Domain: "a3.example.com", PlatformID: b.platform.ID, DBServerID: b.server.ID})
	quotaErr(t, err, domain.QuotaSites)
}
