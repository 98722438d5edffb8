package locks_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/locks"
)

// TestElectorCampaignErr: while Redis is down the elector cannot lead
// and CampaignErr says why; once Redis is back it leads again and
// CampaignErr is nil.
func TestElectorCampaignErr(t *testing.T) {
	t.Parallel()
	r := setupRedis(t)
	e := locks.NewElector(r.locker(t, nil), "dispatcher", time.Second, nil)
	e.RetryInterval = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = e.Run(ctx, func(ctx context.Context) { <-ctx.Done() }) }()
	defer func() { cancel(); <-done }()
	waitFor(t, 10*time.Second, "leads", e.IsLeader)
	if err := e.CampaignErr(); err != nil {
		t.Fatalf("CampaignErr while leading: %v", err)
	}

	r.srv.Stop(t)
	waitFor(t, 10*time.Second, "gives up leading and cannot campaign", func() bool { return !e.IsLeader() && e.CampaignErr() != nil })
	if err := e.CampaignErr(); !strings.Contains(err.Error(), r.srv.Addr) {
		t.Errorf("CampaignErr does not say which Redis: %v", err)
	}

	r.srv.Restart(t)
	waitFor(t, 10*time.Second, "leads again", func() bool { return e.IsLeader() && e.CampaignErr() == nil })
}

// TestElectorHold: while Hold says no, the elector does not take a free
// lock and HeldBack says why; once Hold lets it, it leads.
func TestElectorHold(t *testing.T) {
	t.Parallel()
	e := locks.NewElector(locks.NewMemory(), "dispatcher", time.Second, nil)
	e.RetryInterval = 10 * time.Millisecond
	var allow atomic.Bool
	e.Hold = func(context.Context) error {
		if allow.Load() {
			return nil
		}
		return errors.New("an older server is live")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = e.Run(ctx, func(ctx context.Context) { <-ctx.Done() }) }()
	defer func() { cancel(); <-done }()
	waitFor(t, 10*time.Second, "held back", func() bool { return e.HeldBack() != nil })
	time.Sleep(50 * time.Millisecond)
	if e.IsLeader() {
		t.Fatal("leads while held back")
	}
	if err := e.HeldBack(); err.Error() != "an older server is live" {
		t.Errorf("HeldBack: %v", err)
	}
	allow.Store(true)
	waitFor(t, 10*time.Second, "leads once let", func() bool { return e.IsLeader() && e.HeldBack() == nil })
}

// TestElectorStepsDown: a leader whose Hold says no at a later tick steps
// down: its lead's context ends with ErrSteppedDown (and Hold's reason),
// HeldBack says why, and the lock is released for another process, which
// takes it; the one that stepped down does not campaign again meanwhile.
func TestElectorStepsDown(t *testing.T) {
	t.Parallel()
	mem := locks.NewMemory()
	e := locks.NewElector(mem, "dispatcher", time.Second, nil)
	e.RetryInterval = 10 * time.Millisecond
	var hold atomic.Bool
	e.Hold = func(context.Context) error {
		if hold.Load() {
			return errors.New("an older server is live")
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ended := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = e.Run(ctx, func(ctx context.Context) { <-ctx.Done(); ended <- context.Cause(ctx) })
	}()
	defer func() { cancel(); <-done }()
	waitFor(t, 10*time.Second, "leads", e.IsLeader)
	time.Sleep(50 * time.Millisecond) // a few ticks of Hold saying yes
	if !e.IsLeader() {
		t.Fatal("stepped down while Hold let it lead")
	}

	hold.Store(true)
	var cause error
	select {
	case cause = <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the lead's context did not end once Hold said no")
	}
	if !errors.Is(cause, locks.ErrSteppedDown) || !strings.Contains(cause.Error(), "an older server is live") {
		t.Errorf("cause %v", cause)
	}
	waitFor(t, 10*time.Second, "no longer leads", func() bool { return !e.IsLeader() })
	if err := e.HeldBack(); err == nil || err.Error() != "an older server is live" {
		t.Errorf("HeldBack: %v", err)
	}
	other := locks.NewElector(mem, "dispatcher", time.Second, nil)
	other.RetryInterval = 10 * time.Millisecond
	otherDone := make(chan struct{})
	go func() { defer close(otherDone); _ = other.Run(ctx, func(ctx context.Context) { <-ctx.Done() }) }()
	defer func() { cancel(); <-otherDone }()
	waitFor(t, 10*time.Second, "the other process takes the released lock", other.IsLeader)
	hold.Store(false)
	time.Sleep(50 * time.Millisecond)
	if e.IsLeader() {
		t.Error("leads beside the other")
	}
}
