package apiv1

import "time"

// The system status, GET /api/v1/status: every component the aegir server
// depends on, ok, degraded or down, and why. `aegir status` prints it and
// exits 1 when a component is down.

// ComponentState is how a component is doing.
type ComponentState string

const (
	// StateOK: the component works.
	StateOK ComponentState = "ok"
	// StateDegraded: aegir runs, but part of what the component does does
	// not happen (routing refused by Consul, a Vault token no longer
	// renewed): an operator should look.
	StateDegraded ComponentState = "degraded"
	// StateDown: the component does not answer; what depends on it stops
	// or waits for it. `aegir status` exits 1.
	StateDown ComponentState = "down"
)

// ComponentStatus is one component's state, as GET /api/v1/status lists it.
type ComponentStatus struct {
	Name   string         `json:"name"`
	Status ComponentState `json:"status"`
	// Message says what the check saw, or what is wrong and what to do.
	// It may name addresses and errors, never a password or a token.
	Message   string    `json:"message"`
	CheckedAt time.Time `json:"checked_at"`
}

// SystemStatus is the answer of GET /api/v1/status (dashboard/api/status.go
// checks the components).
type SystemStatus struct {
	// Components: the store first, then the API's Config.StatusChecks in
	// order.
	Components []ComponentStatus `json:"components"`
	// Leader: this process holds the dispatcher's lease, so it runs tasks,
	// routing and the periodic queues; the others only serve the API.
	Leader  bool   `json:"leader"`
	Version string `json:"version"`
}

// Down reports whether any component is down.
func (s *SystemStatus) Down() bool {
	for _, c := range s.Components {
		if c.Status == StateDown {
			return true
		}
	}
	return false
}
