package locks

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// Elector makes one process of a cluster the leader for name (the
// "dispatcher"): it keeps trying to hold the lock, and while it holds it
// runs the leader's work with a context that is cancelled the moment the
// lease is lost. Works on any Locker: with Redis, a leader that dies is
// replaced within the lease time plus one retry interval.
type Elector struct {
	locker Locker
	name   string
	ttl    time.Duration
	log    *slog.Logger
	leader atomic.Bool
	fence  atomic.Uint64
	// campaignErr is why the last try to take the lock failed (not
	// ErrHeld); nil after a try that worked or found it held.
	campaignErr atomic.Pointer[error]
	// heldBack is why Hold kept this process from campaigning the last
	// time it asked; nil when it may campaign.
	heldBack atomic.Pointer[error]

	// RetryInterval is how often a follower tries to take the lock.
	// Default (set by NewElector): ttl/4. Set it before Run.
	RetryInterval time.Duration

	// Hold, when set, is asked before every try to take the lock: an
	// error keeps this process from campaigning until a later try (a
	// newer aegir lets an older server live on the cluster lead). While
	// this process leads it is asked every RetryInterval too, and an
	// error makes it step down: lead's context ends with a cause wrapping
	// ErrSteppedDown, and once lead returns the lock is released for the
	// others, as after a lost lease. Set it before Run.
	Hold func(ctx context.Context) error
}

// ErrSteppedDown is wrapped by the cause (context.Cause) of a lead's
// context that ended because Hold said no while this process led.
var ErrSteppedDown = errors.New("stepped down from the lead")

// ErrLeaseLost is the cause of a lead's context that ended because the
// lease was lost (not renewed in time).
var ErrLeaseLost = errors.New("the leadership's lease was lost")

// NewElector returns an elector for the lock name with lease time ttl
// (renewed every ttl/3 while leading). logger may be nil.
func NewElector(locker Locker, name string, ttl time.Duration, logger *slog.Logger) *Elector {
	logger = cmp.Or(logger, slog.Default())
	return &Elector{
		locker: locker, name: name, ttl: ttl, RetryInterval: max(ttl/4, time.Millisecond),
		log: logger.With("component", "elector", "lock", name),
	}
}

// IsLeader reports whether this elector leads now.
func (e *Elector) IsLeader() bool { return e.leader.Load() }

// Fence is the fencing token of the current leadership (0 when not
// leading): it grows with every new leader.
func (e *Elector) Fence() uint64 { return e.fence.Load() }

// CampaignErr is why the last try to take the lock failed, for the
// status view: the locker is unreachable, so this process cannot lead
// (and, if every process shares that locker, no process can). Nil when
// the last try took the lock or found it held by another process.
func (e *Elector) CampaignErr() error {
	if p := e.campaignErr.Load(); p != nil {
		return *p
	}
	return nil
}

// HeldBack is why Hold kept this process from campaigning at its last
// try, or made it step down from the lead, for the status view; nil when
// it may campaign.
func (e *Elector) HeldBack() error {
	if p := e.heldBack.Load(); p != nil {
		return *p
	}
	return nil
}

// Run campaigns until ctx ends. Each time it takes the lock it calls lead
// with a context cancelled when the lease is lost or ctx ends, and waits
// for lead to return before it releases the lock and campaigns again: one
// process never runs two leaders, and a leader that returns early gives
// the lock up for someone else. Run returns ctx's error.
func (e *Elector) Run(ctx context.Context, lead func(ctx context.Context)) error {
	for {
		if !e.held(ctx) {
			e.try(ctx, lead)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(e.RetryInterval):
		}
	}
}

// held asks Hold whether this process may campaign now, and remembers
// the answer for HeldBack.
func (e *Elector) held(ctx context.Context) bool {
	if e.Hold == nil {
		return false
	}
	err := e.Hold(ctx)
	if err == nil {
		e.heldBack.Store(nil)
		return false
	}
	if e.HeldBack() == nil {
		e.log.Warn("not campaigning for leadership", "why", err)
	}
	e.heldBack.Store(&err)
	return true
}

// try takes the lock if it is free and then leads until the lease ends.
func (e *Elector) try(ctx context.Context, lead func(ctx context.Context)) {
	lease, err := e.locker.TryAcquire(ctx, e.name, e.ttl)
	switch {
	case err == nil:
		e.campaignErr.Store(nil)
		e.serve(ctx, lease, lead)
	case errors.Is(err, ErrHeld):
		e.campaignErr.Store(nil)
	case ctx.Err() != nil:
	default:
		e.campaignErr.Store(&err)
		e.log.Warn("cannot campaign for leadership; retrying", "err", err)
	}
}

func (e *Elector) serve(ctx context.Context, lease Lease, lead func(ctx context.Context)) {
	leadCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go e.watch(leadCtx, lease, cancel)
	e.fence.Store(lease.Fence())
	e.leader.Store(true)
	e.log.Info("leading", "fence", lease.Fence())
	lead(leadCtx)
	e.leader.Store(false)
	e.fence.Store(0)
	cancel(nil)
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), max(e.ttl, time.Second))
	defer rcancel()
	if err := lease.Release(rctx); err != nil {
		e.log.Warn("release leadership", "err", err)
	}
	e.log.Info("no longer leading")
}

// watch ends the leadership (cancel) when the lease is lost, or when Hold
// says no at one of its ticks (every RetryInterval) while leading.
func (e *Elector) watch(leadCtx context.Context, lease Lease, cancel context.CancelCauseFunc) {
	var tick <-chan time.Time
	if e.Hold != nil {
		t := time.NewTicker(e.RetryInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-lease.Lost():
			e.log.Warn("leadership lost; stopping the leader's work", "fence", lease.Fence())
			cancel(ErrLeaseLost)
			return
		case <-leadCtx.Done():
			return
		case <-tick:
			err := e.Hold(leadCtx)
			if err == nil || leadCtx.Err() != nil {
				continue
			}
			e.heldBack.Store(&err)
			e.log.Warn("stepping down from the lead, handing over to the others", "why", err, "fence", lease.Fence())
			cancel(fmt.Errorf("%w: %w", ErrSteppedDown, err))
			return
		}
	}
}
