package app

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aegirhq/aegir/dashboard"
	"github.com/aegirhq/aegir/internal/locks"
	"github.com/aegirhq/aegir/internal/testharness"
)

// A newer server holds back from leading only for a live server of a
// lower schema, or of the same schema and a lower release number; dev
// builds are not compared by release.
func TestOlderPeer(t *testing.T) {
	for _, c := range []struct {
		peer, self string
		ps, ss     int
		older      bool
	}{
		{"1.0.0", "1.1.0", 1, 1, true},
		{"v1.0.9", "1.0.10", 1, 1, true},
		{"1.1.0-rc1", "1.1.0", 1, 1, true},
		{"1.1.0-rc1", "1.1.0-rc2", 1, 1, true},
		{"1.1.0", "1.1.0", 1, 1, false},
		{"1.1.0+abc", "1.1.0", 1, 1, false},
		{"1.2.0", "1.1.0", 1, 1, false},
		{"1.1.0", "1.1.0-rc1", 1, 1, false},
		{"dev", "1.1.0", 1, 1, false},
		{"1.0.0", "dev", 1, 1, false},
		{"dev", "dev", 1, 2, true},
		{"2.0.0", "1.0.0", 1, 2, true},
		{"1.0.0", "2.0.0", 2, 1, false},
		{"1.0", "1.1.0", 1, 1, false},
		{"1.-1.0", "1.1.0", 1, 1, false},
		{"1..0", "1.1.0", 1, 1, false},
	} {
		got := olderPeer(announcement{Release: c.peer, Schema: c.ps}, announcement{Release: c.self, Schema: c.ss})
		if got != c.older {
			t.Errorf("peer %s schema %d older than %s schema %d: %v, want %v", c.peer, c.ps, c.self, c.ss, got, c.older)
		}
	}
}

// Announcements on a real Redis: a newer server is held back by a live
// older one, not by an equal one, and no longer once the older one
// withdraws (a clean stop) or its announcement lapses (it died).
func TestPeersHold(t *testing.T) {
	t.Parallel()
	r := testharness.Redis(t)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()
	ctx := context.Background()
	const every = 200 * time.Millisecond
	leader := func() bool { return false }
	newPeer := func(release, prefix string) *peers {
		p := newPeers(rdb, prefix, "127.0.0.1:1", every, leader, slog.New(slog.DiscardHandler))
		p.self.Release = release
		return p
	}
	old, same, newer := newPeer("1.0.0", "a/"), newPeer("1.1.0", "a/"), newPeer("1.1.0", "a/")
	other := newPeer("0.9.0", "b/") // another store on the same Redis
	for _, p := range []*peers{old, same, other} {
		if err := p.announce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := newer.hold(ctx); err == nil || !strings.Contains(err.Error(), old.self.ID+" (release 1.0.0, schema 1) is live and older") {
		t.Fatalf("hold with an older server live: %v", err)
	}
	if live, _ := newer.live(ctx); len(live) != 2 {
		t.Errorf("live on store a/: %+v", live)
	}
	// A clean stop withdraws the announcement.
	stopCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); old.run(stopCtx) }()
	time.Sleep(50 * time.Millisecond)
	stop()
	<-done
	if err := newer.hold(ctx); err != nil {
		t.Errorf("hold once the older server stopped: %v", err)
	}
	// A dead one lapses.
	if err := old.announce(ctx); err != nil {
		t.Fatal(err)
	}
	if err := newer.hold(ctx); err == nil {
		t.Error("not held by the older server announced again")
	}
	time.Sleep(3*every + 100*time.Millisecond)
	if err := newer.hold(ctx); err != nil {
		t.Errorf("hold after the older server's announcement lapsed: %v", err)
	}
}

// A leader re-checks on its elector's tick: when an older server becomes
// live (announced on the same Redis) while a newer one leads, the newer one
// steps down, its lead's context ending with locks.ErrSteppedDown, and
// hands the lock over; the older one leads, and the newer one's status
// says why it stands by. Once the older one stops, the newer leads again.
func TestLeaderStepsDownForOlder(t *testing.T) {
	t.Parallel()
	r := testharness.Redis(t)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()
	ctx := context.Background()
	const every = 200 * time.Millisecond
	prefix := testharness.UniquePrefix(t)
	log := slog.New(slog.DiscardHandler)
	type server struct {
		n     *node
		cause chan error
		stop  func()
	}
	start := func(release string) *server {
		e := locks.NewElector(locks.NewRedis(rdb, &locks.RedisConfig{Logger: log}), "dispatcher", 2*time.Second, log)
		e.RetryInterval = 50 * time.Millisecond
		p := newPeers(rdb, prefix, "127.0.0.1:1", every, e.IsLeader, log)
		p.self.Release = release
		e.Hold = p.hold
		s := &server{n: &node{elector: e, peers: p, log: log}, cause: make(chan error, 10)}
		runCtx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() { p.run(runCtx) })
		wg.Go(func() {
			_ = e.Run(runCtx, func(ctx context.Context) { <-ctx.Done(); s.cause <- context.Cause(ctx) })
		})
		s.stop = func() { cancel(); wg.Wait() }
		return s
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 15s", what)
			}
		}
	}
	newer := start("1.1.0")
	defer newer.stop()
	waitFor("the newer server leads alone", newer.n.elector.IsLeader)

	older := start("1.0.0")
	olderStopped := false
	defer func() {
		if !olderStopped {
			older.stop()
		}
	}()
	select {
	case cause := <-newer.cause:
		if !errors.Is(cause, locks.ErrSteppedDown) || !strings.Contains(cause.Error(), "(release 1.0.0, schema 1) is live and older") {
			t.Errorf("the newer leader's work ended with %v", cause)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the newer leader did not step down once an older server was live")
	}
	waitFor("the older server takes the lead", older.n.elector.IsLeader)
	if newer.n.elector.IsLeader() {
		t.Fatal("both lead")
	}
	state, msg := newer.n.checkDispatcher(ctx)
	if state != dashboard.StateDegraded || !strings.Contains(msg, "will not lead during the rolling upgrade") || !strings.Contains(msg, older.n.peers.self.ID) {
		t.Errorf("the newer server's status: %s %s", state, msg)
	}

	older.stop() // withdraws its announcement
	olderStopped = true
	waitFor("the newer server leads again", newer.n.elector.IsLeader)
}
