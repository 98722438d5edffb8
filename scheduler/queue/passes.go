package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/locks"
	"github.com/aegirhq/aegir/internal/store"
)

// PassState is where a pass is in its life (internal/apiv1 documents
// each state).
type PassState = apiv1.PassState

// The states of a pass.
const (
	PassRunning     = apiv1.PassRunning
	PassDone        = apiv1.PassDone
	PassFailed      = apiv1.PassFailed
	PassInterrupted = apiv1.PassInterrupted
	PassLost        = apiv1.PassLost
)

// KeepPasses is how many pass records each queue keeps.
const KeepPasses = 20

// ErrClosed means the queues are shutting down and start no pass.
var ErrClosed = fmt.Errorf("this aegir server is shutting down and starts no queue pass; start it again once aegir is back, or on another aegir server: %w", domain.ErrBusy)

// PassRunningError is ErrPassRunning with the pass that is running, when
// its record says which (PassID is empty otherwise).
type PassRunningError struct {
	Queue  string
	PassID string
}

func (e *PassRunningError) Error() string {
	if e.PassID == "" {
		return fmt.Sprintf("a pass of the %s queue is already running; wait for it to end", e.Queue)
	}
	return fmt.Sprintf("a pass of the %s queue is already running (pass %s); follow that pass, or wait for it to end", e.Queue, e.PassID)
}

// Is makes errors.Is(err, ErrPassRunning) hold.
func (e *PassRunningError) Is(target error) bool { return target == ErrPassRunning }

// Unwrap makes it a domain.ErrConflict.
func (e *PassRunningError) Unwrap() error { return domain.ErrConflict }

// activePass is a pass that holds its queue's lock. Its record is written
// only by it (check-and-set on index), or, once it is dead, marked lost
// by the next pass.
type activePass struct {
	set   Settings
	lease locks.Lease

	mu     sync.Mutex
	rep    PassReport
	index  uint64 // ModifyIndex of the record as last written
	dirty  bool   // rep changed since it was written
	orphan bool   // someone else took the record over: stop writing it
	// unsure holds the values of writes that failed on a store outage
	// since the last one known to succeed: one of them may have been
	// applied all the same (savePass).
	unsure [][]byte
}

// update changes the report under the pass's lock.
func (p *activePass) update(f func(r *PassReport)) {
	p.mu.Lock()
	f(&p.rep)
	p.dirty = true
	p.mu.Unlock()
}

func (p *activePass) snapshot() PassReport {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rep
}

// begin takes the queue's lock and writes the new pass's record, so that
// by the time it returns the pass exists for anyone who looks.
func (q *Queues) begin(ctx context.Context, name string) (*activePass, error) {
	s, err := q.Settings(ctx, name)
	if err != nil {
		return nil, err
	}
	// The pass outlives its caller: keep our own copy of the name, not the
	// caller's (Fiber's parameters live in buffers it reuses).
	name = Names[slices.Index(Names, name)]
	lease, err := q.cfg.Locker.TryAcquire(ctx, "queue/"+name, q.cfg.LockTTL)
	if errors.Is(err, locks.ErrHeld) {
		e := &PassRunningError{Queue: name}
		if cur, err := q.runningPass(ctx, name); err == nil && cur != nil {
			e.PassID = cur.ID
		}
		return nil, e
	}
	if err != nil {
		return nil, fmt.Errorf("take the %s queue's lock: %w", name, err)
	}
	now := q.cfg.Now().UTC()
	p := &activePass{set: s, lease: lease,
		rep: PassReport{ID: domain.NewID(), Queue: name, State: PassRunning, Started: now}}
	q.tidyPasses(ctx, name)
	if err := q.retryTransient(ctx, q.cfg.StartRetry, "recording a new pass", func(ctx context.Context) error { return q.savePass(ctx, p) }, "queue", name, "pass", p.rep.ID); err != nil {
		_ = lease.Release(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("record the new %s pass: %w", name, err)
	}
	return p, nil
}

// StartPass starts one pass of queue name and returns its record as soon
// as the pass holds the queue's lock (a *PassRunningError, which is
// ErrPassRunning, if a pass is under way). The pass goes on in the
// background until it ends or Close: ctx bounds only the start, so a
// caller that goes away neither stops the pass nor starts a second one.
// Follow it with Pass.
func (q *Queues) StartPass(ctx context.Context, name string) (*PassReport, error) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil, ErrClosed
	}
	q.wg.Add(1)
	q.mu.Unlock()
	p, err := q.beginRetrying(ctx, name)
	if err != nil {
		q.wg.Done()
		return nil, err
	}
	rep := p.snapshot()
	go func() {
		defer q.wg.Done()
		if _, err := q.run(q.base, p); err != nil && q.base.Err() == nil {
			q.log.Error("queue pass", "queue", name, "pass", rep.ID, "err", err)
		}
	}()
	return &rep, nil
}

// Close stops the passes StartPass started and waits until each has
// recorded how far it got (state interrupted). Passes run by RunPass end
// with their own context.
func (q *Queues) Close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.stop()
	q.wg.Wait()
}

// savePass writes the pass's record, check-and-set on the index of its
// last write (0: it must not exist yet). If someone else changed it (the
// next pass marked it lost), the pass stops writing it.
func (q *Queues) savePass(ctx context.Context, p *activePass) error {
	p.mu.Lock()
	if p.orphan {
		p.mu.Unlock()
		return nil
	}
	p.rep.Updated = q.cfg.Now().UTC()
	b, err := json.Marshal(p.rep)
	idx, name, id := p.index, p.rep.Queue, p.rep.ID
	p.dirty = false
	p.mu.Unlock()
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	key := store.QueuePasses(name).Key(id)
	version, err := q.st.PutQueueRecord(wctx, key, b, idx)
	if errors.Is(err, store.ErrCASFailed) && q.adoptUnsure(wctx, p, key) {
		return q.savePass(ctx, p) // our own earlier write was applied: write again over it
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case errors.Is(err, store.ErrCASFailed):
		p.orphan = true
		q.log.Warn("another pass took over this pass's record (it was taken for dead); no longer writing it", "queue", name, "pass", id)
		return nil
	case err != nil:
		p.dirty = true
		if errors.Is(err, store.ErrUnavailable) && len(p.unsure) < 64 {
			p.unsure = append(p.unsure, b)
		}
		return err
	}
	p.index, p.unsure = version, nil
	return nil
}

// adoptUnsure is for a check-and-set that failed after writes that
// reported a store outage: if the record holds one of those writes, it
// was ours after all (Consul applied it before it stopped answering), so
// the pass takes its index and is not an orphan.
func (q *Queues) adoptUnsure(ctx context.Context, p *activePass, key store.QueueKey) bool {
	p.mu.Lock()
	unsure := p.unsure
	p.mu.Unlock()
	if len(unsure) == 0 {
		return false
	}
	rec, err := q.st.GetQueueRecord(ctx, key)
	if err != nil {
		return false
	}
	for _, b := range unsure {
		if bytes.Equal(rec.Value, b) {
			p.mu.Lock()
			p.index, p.unsure, p.dirty = rec.Version, nil, true
			p.mu.Unlock()
			return true
		}
	}
	return false
}

// reportProgress writes the pass's record every Config.Progress while it
// changed, and at least every LockTTL/4, until ctx ends.
func (q *Queues) reportProgress(ctx context.Context, p *activePass) {
	beat := max(q.cfg.LockTTL/4, q.cfg.Progress)
	tick := time.NewTicker(q.cfg.Progress)
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		p.mu.Lock()
		dirty := p.dirty
		p.mu.Unlock()
		if !dirty && time.Since(last) < beat {
			continue
		}
		if err := q.savePass(ctx, p); err != nil {
			if ctx.Err() == nil {
				q.log.Warn("pass progress not recorded; trying again", "queue", p.rep.Queue, "pass", p.rep.ID, "err", err)
			}
			continue
		}
		last = time.Now()
	}
}

// lostAfter is how long a running pass's record may go without a write
// before the pass counts as lost: twice the lock's lease, by which time
// its lock has expired too.
func (q *Queues) lostAfter() time.Duration { return 2 * q.cfg.LockTTL }

// view is a record as readers see it: a running pass that stopped
// reporting is lost.
func (q *Queues) view(r PassReport) PassReport {
	if r.State == PassRunning && q.cfg.Now().Sub(r.Updated) > q.lostAfter() {
		r.State = PassLost
		r.Error = fmt.Sprintf("the aegir process running this pass stopped reporting at %s; its lock has expired, so the next pass takes over",
			r.Updated.Format(time.RFC3339))
	}
	return r
}

// passRecords returns a queue's pass records, newest first, with their
// modify indexes.
func (q *Queues) passRecords(ctx context.Context, name string) ([]PassReport, []uint64, error) {
	recs, err := q.st.ListQueueRecords(ctx, store.QueuePasses(name))
	if err != nil {
		return nil, nil, err
	}
	slices.Reverse(recs) // by id, newest first
	out := make([]PassReport, 0, len(recs))
	idx := make([]uint64, 0, len(recs))
	for _, rec := range recs {
		var r PassReport
		if err := json.Unmarshal(rec.Value, &r); err != nil {
			q.log.Warn("skipping an undecodable pass record", "queue", name, "pass", rec.ID, "err", err)
			continue
		}
		out, idx = append(out, r), append(idx, rec.Version)
	}
	return out, idx, nil
}

// Passes returns a queue's last passes (at most KeepPasses), newest
// first.
func (q *Queues) Passes(ctx context.Context, name string) ([]PassReport, error) {
	if !Known(name) {
		return nil, domain.NotFound("queue", name)
	}
	recs, _, err := q.passRecords(ctx, name)
	if err != nil {
		return nil, err
	}
	for i := range recs {
		recs[i] = q.view(recs[i])
	}
	return recs, nil
}

// Pass returns one pass of a queue, with its progress while it runs.
func (q *Queues) Pass(ctx context.Context, name, id string) (*PassReport, error) {
	if !Known(name) {
		return nil, domain.NotFound("queue", name)
	}
	if !domain.ValidID(id) {
		return nil, domain.NotFound("pass", id)
	}
	var r PassReport
	_, ok, err := q.getJSON(ctx, store.QueuePasses(name).Key(id), &r)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, domain.NotFound("pass", id)
	}
	r = q.view(r)
	return &r, nil
}

// runningPass returns the queue's running pass, nil if none.
func (q *Queues) runningPass(ctx context.Context, name string) (*PassReport, error) {
	recs, _, err := q.passRecords(ctx, name)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		if r = q.view(r); r.State == PassRunning {
			return &r, nil
		}
	}
	return nil, nil
}

// tidyPasses runs when a new pass holds the queue's lock: a record still
// running belongs to a pass that died (it no longer holds the lock) and
// is marked lost; records beyond the newest KeepPasses-1 are deleted.
// Each change is check-and-set on the record as read; failures only cost
// a tidier store, so they are logged.
func (q *Queues) tidyPasses(ctx context.Context, name string) {
	recs, idx, err := q.passRecords(ctx, name)
	if err != nil {
		q.log.Warn("old pass records not tidied", "queue", name, "err", err)
		return
	}
	passes := store.QueuePasses(name)
	for i, r := range recs {
		var err error
		switch {
		case i >= KeepPasses-1:
			err = q.st.DeleteQueueRecord(ctx, passes.Key(r.ID), idx[i])
		case r.State == PassRunning:
			r.State = PassLost
			r.Error = fmt.Sprintf("a later pass took the queue's lock while this one still showed running (last report %s): its aegir process stopped or lost the lock",
				r.Updated.Format(time.RFC3339))
			b, err := json.Marshal(r)
			if err != nil {
				continue
			}
			_, err = q.st.PutQueueRecord(ctx, passes.Key(r.ID), b, idx[i])
		default:
			continue
		}
		if err != nil {
			q.log.Warn("an old pass record not tidied", "queue", name, "pass", r.ID, "err", err)
		}
	}
}
