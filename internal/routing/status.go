package routing

import (
	"errors"
	"sync"
	"time"
)

// Status is what a Reconciler reports about itself, for the operator's
// status view (GET /api/v1/status): whether it runs, when it last
// brought the catalog in line with the store, and what stops it now.
type Status struct {
	// Running: Run is running (in the leading aegir process only).
	Running bool
	// LastPass is when the last reconcile pass ended with the catalog as
	// wanted; zero until the first one.
	LastPass time.Time
	// Published is how many instances of this installation the catalog
	// held after that pass.
	Published int
	// Err is why the catalog is not as wanted now: the last pass, the
	// catalog watch or the last health-check write failed (a refused
	// write wraps ErrPermissionDenied). Nil once each succeeded again.
	Err error
}

// runStatus keeps what Status reports; the Run goroutines write it.
type runStatus struct {
	mu        sync.Mutex
	running   bool
	lastPass  time.Time
	published int
	passErr   error // the last reconcile pass's
	watchErr  error // the catalog watch's
	probeErr  error // the last write of health check results
}

// Status reports how the reconciler is doing. It is cheap: no request to
// Consul or the store.
func (r *Reconciler) Status() Status {
	s := &r.status
	s.mu.Lock()
	defer s.mu.Unlock()
	return Status{Running: s.running, LastPass: s.lastPass, Published: s.published,
		Err: errors.Join(s.passErr, s.watchErr, s.probeErr)}
}

// setRunning marks the start (errors of an earlier Run forgotten) or the
// end of Run.
func (r *Reconciler) setRunning(running bool) {
	s := &r.status
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running = running
	if running {
		s.passErr, s.watchErr, s.probeErr = nil, nil, nil
	}
}

// passDone records the end of a reconcile pass that got as far as
// comparing (err nil: the catalog is as wanted).
func (r *Reconciler) passDone(err error) {
	r.mu.Lock()
	published := len(r.entries)
	r.mu.Unlock()
	s := &r.status
	s.mu.Lock()
	defer s.mu.Unlock()
	s.passErr = err
	if err == nil {
		s.lastPass, s.published = time.Now(), published
	}
}

func (r *Reconciler) setWatchErr(err error) {
	r.status.mu.Lock()
	r.status.watchErr = err
	r.status.mu.Unlock()
}

func (r *Reconciler) setProbeErr(err error) {
	r.status.mu.Lock()
	r.status.probeErr = err
	r.status.mu.Unlock()
}
