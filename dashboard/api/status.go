package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/aegirhq/aegir/internal/apiv1"
)

// The system status. GET /api/v1/status (admins) checks every component
// this aegir process depends on, all at once and each bounded by
// Config.StatusTimeout, and says which is ok, degraded or down and why:
// what an operator otherwise finds only in the log (Consul refusing
// routing's catalog writes, Redis down while log lines wait in memory, a
// Vault token that stopped renewing) or not at all (which process leads).
// The dashboard's overview shows the same as its System panel. GET
// /api/v1/health (public, for load balancers) answers 503 when the store
// does not answer, and says nothing else.

// The status view's wire types are internal/apiv1's (the CLI reads them
// too); these names stay for the API's callers.
type (
	// ComponentState is how a component is doing: ok, degraded or down.
	ComponentState = apiv1.ComponentState
	// ComponentStatus is one component's state, as GET /api/v1/status
	// lists it.
	ComponentStatus = apiv1.ComponentStatus
	// SystemStatus is the answer of GET /api/v1/status.
	SystemStatus = apiv1.SystemStatus
)

// A component's states.
const (
	StateOK       = apiv1.StateOK
	StateDegraded = apiv1.StateDegraded
	StateDown     = apiv1.StateDown
)

// StatusCheck checks one component for the status view. Check gets a
// context that ends after Config.StatusTimeout and should return by then
// (one that does not is reported down, "no answer within ..."). Its
// message goes to admins: it may name addresses and errors, never a
// secret.
type StatusCheck struct {
	Name  string
	Check func(ctx context.Context) (ComponentState, string)
}

// statusChecker runs the checks.
type statusChecker struct {
	checks  []StatusCheck // the store's first
	timeout time.Duration
	leader  func() bool
	version string

	refresh sync.Mutex // one refresh for recent at a time
	mu      sync.Mutex // guards last
	last    *SystemStatus
}

func newStatusChecker(s *Server) *statusChecker {
	store := StatusCheck{Name: "store", Check: func(ctx context.Context) (ComponentState, string) {
		start := time.Now()
		if err := s.st.Ping(ctx); err != nil {
			return StateDown, err.Error()
		}
		return StateOK, "a read took " + roundDuration(time.Since(start)).String()
	}}
	return &statusChecker{
		checks: append([]StatusCheck{store}, s.cfg.StatusChecks...), timeout: s.cfg.StatusTimeout,
		leader: s.cfg.Leader, version: s.cfg.Version,
	}
}

// roundDuration keeps two or three significant digits.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond)
	case d < time.Second:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(10 * time.Millisecond)
}

// check runs every check at once and returns when all have answered or
// the timeout (and a short grace for checks that end with their context)
// passed. A check that panics is reported down, as is one that did not
// answer. The caller's cancellation does not cut the checks short.
func (c *statusChecker) check(ctx context.Context) SystemStatus {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
	defer cancel()
	type result struct {
		i  int
		cs ComponentStatus
	}
	results := make(chan result, len(c.checks)) // late checks never block
	for i, chk := range c.checks {
		go func() {
			cs := ComponentStatus{Name: chk.Name}
			defer func() {
				if p := recover(); p != nil {
					cs.Status, cs.Message = StateDown, fmt.Sprintf("the check of %s failed: %v", chk.Name, p)
				}
				cs.CheckedAt = time.Now().UTC()
				results <- result{i, cs}
			}()
			cs.Status, cs.Message = chk.Check(ctx)
		}()
	}
	out := SystemStatus{Components: make([]ComponentStatus, len(c.checks)), Version: c.version}
	var grace <-chan time.Time
	deadline := ctx.Done()
wait:
	for got := 0; got < len(c.checks); {
		select {
		case r := <-results:
			out.Components[r.i] = r.cs
			got++
		case <-deadline:
			deadline, grace = nil, time.After(100*time.Millisecond)
		case <-grace:
			break wait
		}
	}
	now := time.Now().UTC()
	for i, chk := range c.checks {
		if out.Components[i].Name == "" {
			out.Components[i] = ComponentStatus{Name: chk.Name, Status: StateDown, CheckedAt: now,
				Message: fmt.Sprintf("no answer within %s", c.timeout)}
		}
		if !validState(out.Components[i].Status) {
			out.Components[i].Status = StateDown
		}
	}
	if c.leader != nil {
		out.Leader = c.leader()
	}
	c.mu.Lock()
	c.last = &out
	c.mu.Unlock()
	return out
}

func validState(s ComponentState) bool {
	return s == StateOK || s == StateDegraded || s == StateDown
}

// recent returns the last status if it is younger than maxAge, else
// checks again; concurrent callers share one check. The overview page
// uses it, so that many open dashboards do not each ask Vault and Nomad.
func (c *statusChecker) recent(ctx context.Context, maxAge time.Duration) SystemStatus {
	c.refresh.Lock()
	defer c.refresh.Unlock()
	c.mu.Lock()
	last := c.last
	c.mu.Unlock()
	if last == nil || time.Since(oldest(last)) >= maxAge {
		fresh := c.check(ctx)
		last = &fresh
	}
	out := *last
	out.Components = append([]ComponentStatus(nil), last.Components...)
	if c.leader != nil {
		out.Leader = c.leader()
	}
	return out
}

// oldest is when the oldest component of s was checked.
func oldest(s *SystemStatus) time.Time {
	var t time.Time
	for i, c := range s.Components {
		if i == 0 || c.CheckedAt.Before(t) {
			t = c.CheckedAt
		}
	}
	return t
}

// errStatusAdmin refuses the status view to anyone but an admin.
var errStatusAdmin = newAPIError(fiber.StatusForbidden, CodeForbidden, "", "only admins can see the system status")

// systemStatus is GET /api/v1/status.
func (s *Server) systemStatus(c *fiber.Ctx) error {
	if !isAdmin(c) {
		return errStatusAdmin
	}
	return c.JSON(s.status.check(c.UserContext()))
}

// healthCheck is the store check behind GET /api/v1/health: at most one
// store read per healthTTL whatever the request rate (the route is
// public), shared by the requests that arrive meanwhile, and bounded by
// the status timeout. It logs when the store stops and starts answering.
type healthCheck struct {
	ping    func(context.Context) error
	ttl     time.Duration // how long one answer serves; healthTTL
	timeout time.Duration
	log     *slog.Logger

	mu   sync.Mutex
	at   time.Time
	err  error
	down bool
}

// healthTTL is how long one answer of the store serves /health.
const healthTTL = time.Second

func (h *healthCheck) check(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.at.IsZero() && time.Since(h.at) < h.ttl {
		return h.err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.timeout)
	err := h.ping(ctx)
	cancel()
	h.at, h.err = time.Now(), err
	switch {
	case err != nil && !h.down:
		h.log.Error("health: the store does not answer; /api/v1/health answers 503 until it does", "err", err)
	case err == nil && h.down:
		h.log.Info("health: the store answers again")
	}
	h.down = err != nil
	return err
}

// health is GET /api/v1/health: 200 while the store answers, 503
// unavailable when it does not, so a load balancer sends no one to a
// process that cannot serve. The cause goes to the log (once, by
// healthCheck, not once per probe), never to the anonymous caller.
func (s *Server) health(c *fiber.Ctx) error {
	if err := s.healthCheck.check(c.UserContext()); err != nil {
		return c.Status(http.StatusServiceUnavailable).JSON(ErrorBody{Error: ErrorDetail{Code: CodeUnavailable,
			Message: "this aegir server cannot reach its store; its log says why, and an admin sees more in GET /api/v1/status"}})
	}
	return c.JSON(map[string]string{"status": "ok"})
}
