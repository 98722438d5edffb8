package control

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/store/boltkv"
	"github.com/aegirhq/aegir/internal/taskspec"
)

// bundle is a store on bbolt with two clients, a site each, a server and
// a platform, and the actors of an admin and of each client's user.
type bundle struct {
	ctl          *Control
	st           *store.Store
	admin        Actor
	alice, bob   Actor
	siteA, siteB *domain.Site
	installB     *domain.Task // siteB's queued install
	platform     *domain.Platform
	server       *domain.Server
}

func setup(t *testing.T) *bundle {
	t.Helper()
	ctx := context.Background()
	kv, err := boltkv.Open(filepath.Join(t.TempDir(), "aegir.db"), &boltkv.Config{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(kv, &store.Config{PlatformRoots: []string{"/srv/platforms"}})
	t.Cleanup(func() { _ = st.Close() })
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	acme, globex := &domain.Client{Name: "acme"}, &domain.Client{Name: "globex"}
	must(st.CreateClient(ctx, acme))
	must(st.CreateClient(ctx, globex))
	b := &bundle{st: st,
		admin: As(&domain.User{ID: domain.NewID(), Name: "admin", Role: domain.RoleAdmin}),
		alice: As(&domain.User{ID: domain.NewID(), Name: "alice", Role: domain.RoleClient, ClientIDs: []string{acme.ID}}),
		bob:   As(&domain.User{ID: domain.NewID(), Name: "bob", Role: domain.RoleClient, ClientIDs: []string{globex.ID}}),
	}
	b.server = &domain.Server{Name: "web1", Address: "127.0.0.1"}
	_, err = st.CreateServer(ctx, b.server, []domain.Service{{Kind: domain.KindNginx, Port: 80}, {Kind: domain.KindMariaDB, Port: 3306}}, "setup")
	must(err)
	b.platform = &domain.Platform{Name: "p1", Path: "/srv/platforms/p1", WebServerID: b.server.ID, Type: domain.PlatformPHP}
	_, err = st.CreatePlatform(ctx, b.platform, "setup")
	must(err)
	b.siteA = &domain.Site{Domain: "a.example.com", PlatformID: b.platform.ID, DBServerID: b.server.ID, ClientID: acme.ID}
	_, err = st.CreateSite(ctx, b.siteA, "setup")
	must(err)
	b.siteB = &domain.Site{Domain: "b.example.com", PlatformID: b.platform.ID, DBServerID: b.server.ID, ClientID: globex.ID}
	b.installB, err = st.CreateSite(ctx, b.siteB, "setup")
	must(err)
	b.ctl, err = New(&Config{Store: st})
	must(err)
	return b
}

func TestActorScope(t *testing.T) {
	t.Parallel()
	admin := As(&domain.User{Name: "root", Role: domain.RoleAdmin})
	client := As(&domain.User{Name: "alice", Role: domain.RoleClient, ClientIDs: []string{"c1"}})
	lonely := As(&domain.User{Name: "queue", Role: domain.RoleQueue})
	if admin.Scope() != nil || !admin.CanSee("anything") || !admin.Admin() {
		t.Error("an admin sees everything")
	}
	if got := client.Scope(); len(got) != 1 || got[0] != "c1" || client.CanSee("c2") || !client.CanSee("c1") || client.Admin() {
		t.Errorf("a client user sees only their clients; scope %v", got)
	}
	if got := lonely.Scope(); got == nil || len(got) != 0 {
		t.Errorf("a user without clients must get an empty scope, not nil (everything): %v", got)
	}
	if (Actor{}).CanSee("") || (Actor{}).Name() != "" {
		t.Error("nobody sees nothing")
	}
	if err := client.admin("create clients"); !errors.Is(err, domain.ErrForbidden) || err.Error() != "only admins can create clients" {
		t.Errorf("admin() = %v", err)
	}
}

// TestClientScope checks that what belongs to another client is not found,
// through every service that reads it, exactly as if it did not exist.
func TestClientScope(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	task := b.installB
	notFound := map[string]func() error{
		"site by id":     func() error { _, err := b.ctl.Sites.Get(ctx, b.alice, b.siteB.ID); return err },
		"site by domain": func() error { _, err := b.ctl.Sites.Get(ctx, b.alice, b.siteB.Domain); return err },
		"site task": func() error {
			_, err := b.ctl.Sites.Task(ctx, b.alice, b.siteB.ID, apiv1.TaskRequest{Type: "backup"})
			return err
		},
		"site update": func() error {
			_, err := b.ctl.Sites.Update(ctx, b.alice, b.siteB.ID, &domain.Site{Version: 1})
			return err
		},
		"task":        func() error { _, err := b.ctl.Tasks.Get(ctx, b.alice, task.ID); return err },
		"task cancel": func() error { _, _, err := b.ctl.Tasks.Cancel(ctx, b.alice, task.ID); return err },
		"client":      func() error { _, err := b.ctl.Clients.Get(ctx, b.alice, b.siteB.ClientID); return err },
		"site's tasks": func() error {
			_, _, err := b.ctl.Tasks.Of(ctx, b.alice, domain.TargetSite, b.siteB.ID, 10)
			return err
		},
		"server's tasks": func() error {
			_, _, err := b.ctl.Tasks.Of(ctx, b.alice, domain.TargetServer, b.server.ID, 10)
			return err
		},
		"backups of a site": func() error { _, err := b.ctl.Sites.Backups(ctx, b.alice, b.siteB.ID); return err },
		"server":            func() error { _, err := b.ctl.Servers.Get(ctx, b.alice, b.server.ID); return err },
	}
	for name, f := range notFound {
		if err := f(); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("%s: got %v, want not found", name, err)
		}
	}
	if _, err := b.ctl.Sites.Get(ctx, b.bob, b.siteB.ID); err != nil {
		t.Errorf("bob's own site: %v", err)
	}
	p, err := b.ctl.Sites.List(ctx, b.alice, store.SiteFilter{ClientIDs: nil, Limit: 10})
	if err != nil || p.Total != 1 || p.Items[0].ID != b.siteA.ID {
		t.Errorf("alice's list must hold only her site, whatever the filter asked: %+v %v", p, err)
	}
	// Moving a site to a client one cannot see is refused on the field.
	_, err = b.ctl.Sites.Update(ctx, b.alice, b.siteA.ID, &domain.Site{ClientID: b.siteB.ClientID, Version: b.siteA.Version})
	var ve *domain.ValidationError
	if !errors.As(err, &ve) || ve.Field != "client_id" {
		t.Errorf("moving a site to another's client: %v", err)
	}
}

// TestSiteCreateTakesTheOnlyClient: an admin who names no client gets the
// only one there is, and with two a clear refusal on client_id that
// creates nothing; a client user with one client gets theirs.
func TestSiteCreateTakesTheOnlyClient(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	req := apiv1.SiteCreate{Domain: "new.example.com", PlatformID: b.platform.ID, DBServerID: b.server.ID}
	_, _, err := b.ctl.Sites.Create(ctx, b.admin, req)
	var ve *domain.ValidationError
	if !errors.As(err, &ve) || ve.Field != "client_id" || !strings.Contains(ve.Error(), "there are 2 clients") {
		t.Fatalf("admin, two clients, none named: %v", err)
	}
	if _, err := b.st.SiteByDomain(ctx, req.Domain); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("a refused create made the site: %v", err)
	}
	site, _, err := b.ctl.Sites.Create(ctx, b.alice, req)
	if err != nil || site.ClientID != b.siteA.ClientID {
		t.Fatalf("client user with one client: %+v %v", site, err)
	}

	// A store with one client: the admin's site is that client's.
	kv, err := boltkv.Open(filepath.Join(t.TempDir(), "one.db"), &boltkv.Config{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(kv, &store.Config{PlatformRoots: []string{"/srv/platforms"}})
	t.Cleanup(func() { _ = st.Close() })
	only := &domain.Client{Name: "default"}
	srv := &domain.Server{Name: "web1", Address: "127.0.0.1"}
	plat := &domain.Platform{Name: "p1", Path: "/srv/platforms/p1", Type: domain.PlatformPHP}
	if err := st.CreateClient(ctx, only); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateServer(ctx, srv, []domain.Service{{Kind: domain.KindNginx, Port: 80}, {Kind: domain.KindMariaDB, Port: 3306}}, "setup"); err != nil {
		t.Fatal(err)
	}
	plat.WebServerID = srv.ID
	if _, err := st.CreatePlatform(ctx, plat, "setup"); err != nil {
		t.Fatal(err)
	}
	ctl, err := New(&Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	site, _, err = ctl.Sites.Create(ctx, b.admin, apiv1.SiteCreate{Domain: "one.example.com", Platform: "p1", DBServer: "web1"})
	if err != nil || site.ClientID != only.ID {
		t.Fatalf("admin, one client, none named: %+v %v", site, err)
	}
}

// TestPlatformTaskNames checks the one mapping both transports use: the
// site tasks' names "delete" and "verify" mean the platform's.
func TestPlatformTaskNames(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]domain.TaskType{
		"delete": domain.TaskDeletePlatform, "verify": domain.TaskVerifyPlatform,
		"delete-platform": domain.TaskDeletePlatform, " import ": domain.TaskImport,
	} {
		if got := PlatformTaskType(in); got != want {
			t.Errorf("PlatformTaskType(%q) = %q, want %q", in, got, want)
		}
	}
	b := setup(t)
	ctx := context.Background()
	if _, err := b.ctl.Platforms.Task(ctx, b.alice, b.platform.ID, apiv1.TaskRequest{Type: "verify"}); !errors.Is(err, domain.ErrForbidden) {
		t.Errorf("a client user running a platform task: %v", err)
	}
	task, err := b.ctl.Platforms.Task(ctx, b.admin, b.platform.ID, apiv1.TaskRequest{Type: "verify"})
	if err != nil || task.Type != domain.TaskVerifyPlatform || task.RequestedBy != "admin" {
		t.Fatalf("verify: %+v %v", task, err)
	}
}

// TestSiteTaskArgsByName: the arguments a site task's spec declares as a
// platform's or server's id may name it instead; others pass as given.
func TestSiteTaskArgsByName(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	clone, _ := taskspec.Lookup(domain.TaskClone)
	args := map[string]string{"domain": "copy.example.com", "platform_id": "p1", "db_server_id": "web1", "other": "web1"}
	if err := b.ctl.Sites.resolveArgs(ctx, clone, args); err != nil {
		t.Fatal(err)
	}
	if args["platform_id"] != b.platform.ID || args["db_server_id"] != b.server.ID || args["other"] != "web1" || args["domain"] != "copy.example.com" {
		t.Errorf("clone's arguments resolved to %v", args)
	}
	var ve *domain.ValidationError
	err := b.ctl.Sites.resolveArgs(ctx, clone, map[string]string{"db_server_id": "nope"})
	if !errors.As(err, &ve) || ve.Field != "args.db_server_id" {
		t.Errorf("an unknown server's name: %v", err)
	}
	backup, _ := taskspec.Lookup(domain.TaskRestore)
	args = map[string]string{"backup_id": "not-an-id"}
	if err := b.ctl.Sites.resolveArgs(ctx, backup, args); err != nil || args["backup_id"] != "not-an-id" {
		t.Errorf("a backup id is not resolved by name: %v %v", args, err)
	}
}

// TestUsersAndTokens: users are admins' business, nobody deletes
// themselves, and a token of someone else is not found to a client user.
func TestUsersAndTokens(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	if _, _, err := b.st.EnsureAdmin(ctx); err != nil {
		t.Fatal(err)
	}
	admin, err := b.st.UserByName(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	me := As(admin)
	if err := b.ctl.Users.Delete(ctx, me, admin.ID, admin.Version); !errors.Is(err, domain.ErrConflict) || err.Error() != "you cannot delete yourself; ask another admin" {
		t.Errorf("deleting yourself: %v", err)
	}
	if _, err := b.ctl.Users.List(ctx, b.alice); !errors.Is(err, domain.ErrForbidden) {
		t.Errorf("a client user listing users: %v", err)
	}
	if _, err := b.ctl.Users.Get(ctx, b.alice, admin.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("a client user reading a user: %v", err)
	}
	tok, secret, err := b.ctl.Tokens.Create(ctx, me, apiv1.TokenCreate{Name: "ci", TTL: "720h"})
	if err != nil || secret == "" || tok.Hash != "" {
		t.Fatalf("token: %+v %q %v", tok, secret, err)
	}
	if _, _, err := b.ctl.Tokens.Create(ctx, b.alice, apiv1.TokenCreate{UserID: admin.ID}); !errors.Is(err, domain.ErrForbidden) {
		t.Errorf("a client user making a token for someone else: %v", err)
	}
	if _, err := b.ctl.Tokens.Delete(ctx, b.alice, tok.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("a client user revoking the admin's token: %v", err)
	}
	if _, err := b.ctl.Tokens.Delete(ctx, me, tok.ID); err != nil {
		t.Errorf("revoking your own token: %v", err)
	}
}
