package domain

import (
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode"

	"golang.org/x/net/idna"
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

// Validate checks the server's fields and rewrites Address to its normal
// form (NormalizeServerAddress).
func (s *Server) Validate() error {
	if err := ValidateName("name", s.Name); err != nil {
		return err
	}
	addr, err := NormalizeServerAddress(s.Address)
	if err != nil {
		return err
	}
	s.Address = addr
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

// NormalizeServerAddress checks a server's address and returns its normal
// form: an IP address as netip prints it (IPv6 compressed, lowercase), a
// host name as NormalizeDomain returns it (lowercase, punycode), or
// "localhost". Host names whose letters mix scripts ("аpple.com" with a
// Cyrillic а, "раураl.com" under a Latin top-level domain) are refused: an
// operator reading the server list could not tell them from the name they
// imitate. Errors are on field "address".
func NormalizeServerAddress(a string) (string, error) {
	const field = "address"
	a = strings.TrimSpace(a)
	if a == "" {
		return "", Invalid(field, "is empty; use an IP address or a host name")
	}
	if ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(a, "["), "]")); err == nil {
		if ip.Zone() != "" {
			return "", Invalid(field, "%q has an IPv6 zone; use an address without %%zone", Clip(a))
		}
		return ip.String(), nil
	}
	if strings.EqualFold(strings.TrimSuffix(a, "."), "localhost") {
		return "localhost", nil
	}
	n, err := NormalizeDomain(a)
	if err != nil {
		return "", Invalid(field, "%q is neither an IP address nor a host name", Clip(a))
	}
	u, err := idna.ToUnicode(n)
	if err != nil {
		return "", Invalid(field, "%q is not a valid host name: %v", Clip(a), err)
	}
	if scripts := scriptsOf(u); len(scripts) > 1 && !(len(scripts) == 2 && slices.Contains(scripts, "Latin") && slices.Contains(scripts, "Han")) {
		return "", Invalid(field, "%q mixes the scripts %s, which makes it look like another name; use a name in one script (or its punycode only if it is really meant)", Clip(a), strings.Join(scripts, " and "))
	}
	return n, nil
}

// scriptGroups are the scripts a name's letters may come from together:
// Japanese writes Han, Hiragana and Katakana side by side, Korean Han and
// Hangul, Chinese Han and Bopomofo. These may also sit beside Latin (a
// Latin top-level domain), whose letters they do not resemble; any other
// script stands alone.
var scriptGroups = map[string]string{
	"Han": "Han", "Hiragana": "Han", "Katakana": "Han", "Hangul": "Han", "Bopomofo": "Han",
}

// scriptsOf lists the scripts (or script groups) of the letters in s, in
// the order they first appear; digits, hyphens and dots belong to none.
func scriptsOf(s string) []string {
	var out []string
	for _, r := range s {
		if r < 0x80 {
			if unicode.IsLetter(r) && !slices.Contains(out, "Latin") {
				out = append(out, "Latin")
			}
			continue
		}
		for name, table := range unicode.Scripts {
			if name == "Common" || name == "Inherited" || !unicode.Is(table, r) {
				continue
			}
			if g, ok := scriptGroups[name]; ok {
				name = g
			}
			if !slices.Contains(out, name) {
				out = append(out, name)
			}
			break
		}
	}
	return out
}
