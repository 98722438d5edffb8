package cli

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aegirhq/aegir/dashboard"
	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/store/boltkv"
	"github.com/aegirhq/aegir/internal/testharness"
)

// TestStatus runs `aegir status` against the real API (bbolt, in this
// process) whose status view checks a real Redis: a table and exit 0
// while it answers, exit 1 naming it once it is stopped, with -json the
// API's answer either way; a client user is refused.
func TestStatus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	kv, err := boltkv.Open(filepath.Join(t.TempDir(), "aegir.db"), &boltkv.Config{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	st := store.New(kv, &store.Config{Logger: quiet})
	t.Cleanup(func() { _ = st.Close() })
	token, _, err := st.EnsureAdmin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rs := testharness.Redis(t)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr, MaxRetries: -1, DialTimeout: time.Second, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	srv, err := dashboard.New(&dashboard.Config{Store: st, Logger: quiet, Version: "9.9.9", Leader: func() bool { return true },
		StatusChecks: []dashboard.StatusCheck{{Name: "redis", Check: func(ctx context.Context) (apiv1.ComponentState, string) {
			if err := rdb.Ping(ctx).Err(); err != nil {
				return apiv1.StateDown, "redis at " + rs.Addr + ": " + err.Error()
			}
			return apiv1.StateOK, "PING answered"
		}}}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	b := &bundle{t: t, env: map[string]string{"AEGIR_ADDR": ln.Addr().String(), "AEGIR_TOKEN": token}}

	r := b.run("status").want(t, ExitOK)
	contains(t, "stdout", r.stdout, "COMPONENT", "STATUS", "MESSAGE", "store", "a read took", "redis", "PING answered",
		"(version 9.9.9) leads: it dispatches tasks")
	if r.stderr != "" {
		t.Errorf("stderr with everything ok: %q", r.stderr)
	}
	var sys apiv1.SystemStatus
	r = b.run("status", "-json").want(t, ExitOK)
	if err := json.Unmarshal([]byte(r.stdout), &sys); err != nil || len(sys.Components) != 2 || !sys.Leader || sys.Down() {
		t.Fatalf("status -json: %+v, %v", sys, err)
	}

	rs.Stop(t)
	r = b.run("status").want(t, ExitFailed)
	contains(t, "stdout", r.stdout, "store", "redis", "down", "redis at "+rs.Addr)
	contains(t, "stderr", r.stderr, "Error: redis is down")
	r = b.run("status", "-json").want(t, ExitFailed)
	sys = apiv1.SystemStatus{}
	if err := json.Unmarshal([]byte(r.stdout), &sys); err != nil || !sys.Down() || sys.Components[1].Status != apiv1.StateDown {
		t.Fatalf("status -json with redis down: %+v, %v", sys, err)
	}

	u := &domain.User{Name: "carol", Role: domain.RoleClient, ClientIDs: []string{}}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	_, secret, err := st.CreateToken(ctx, u.ID, "test", 0)
	if err != nil {
		t.Fatal(err)
	}
	b.env["AEGIR_TOKEN"] = secret
	r = b.run("status").want(t, ExitForbidden)
	contains(t, "stderr", r.stderr, "only admins can see the system status")
}

func TestStatusUsage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, args := range [][]string{{"status", "-h"}, {"help", "status"}} {
		r := b.run(args...).want(t, ExitOK)
		contains(t, strings.Join(args, " "), r.stdout, "Usage: aegir status [-json]", "Exit 1 if any component is down", "-json", "Examples:")
	}
	r := b.run("status", "now").want(t, ExitUsage)
	contains(t, "stderr", r.stderr, `unexpected argument "now": aegir status [-json]`, "Run 'aegir status -h' for usage.")
	r = b.run("help").want(t, ExitOK)
	contains(t, "help", r.stdout, "status")
	if n := len(b.api.all()); n != 0 {
		t.Errorf("usage made %d API requests", n)
	}
}
