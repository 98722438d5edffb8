package domain

import (
	"net/netip"
	"time"
)

// ServerStatus is a server's state.
type ServerStatus string

const (
	ServerPending ServerStatus = "pending" // created, verify-server queued
	ServerReady   ServerStatus = "ready"
	ServerFailed  ServerStatus = "failed" // last verify failed
)

var serverMachine = machine[ServerStatus]{entity: "server", next: map[ServerStatus][]ServerStatus{
	ServerPending: {ServerReady, ServerFailed},
	ServerReady:   {ServerFailed, ServerPending},
	ServerFailed:  {ServerReady, ServerPending},
}}

// Server is a machine that provides services. NomadNode names the Nomad
// client node the back end runs on for this server (empty: the local
// executor runs it).
type Server struct {
	ID        string       `json:"id"`
	Name      string       `json:"name"`
	Address   string       `json:"address"`
	NomadNode string       `json:"nomad_node,omitempty"`
	Status    ServerStatus `json:"status"`
	CreatedAt time.Time    `json:"created_at"`
	UpdatedAt time.Time    `json:"updated_at"`
	Version   uint64       `json:"version"`
}

// Validate checks the server's fields.
func (s *Server) Validate() error {
	if err := ValidateName("name", s.Name); err != nil {
		return err
	}
	if s.Address == "" {
		return Invalid("address", "is empty; use an IP address or a host name")
	}
	if _, err := netip.ParseAddr(s.Address); err != nil {
		if _, err := NormalizeDomain(s.Address); err != nil && s.Address != "localhost" {
			return Invalid("address", "%q is neither an IP address nor a host name", Clip(s.Address))
		}
	}
	if s.NomadNode != "" {
		if err := ValidateName("nomad_node", s.NomadNode); err != nil {
			return err
		}
	}
	if s.Status != "" && !serverMachine.known(s.Status) {
		return Invalid("status", "unknown status %q", s.Status)
	}
	return nil
}

// Transition moves the server to status to, or returns a *TransitionError.
func (s *Server) Transition(to ServerStatus) error {
	if err := serverMachine.check(s.Status, to); err != nil {
		return err
	}
	s.Status = to
	return nil
}
