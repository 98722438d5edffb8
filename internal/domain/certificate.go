package domain

import (
	"slices"
	"time"
)

// HTTPSMode is how a site answers over HTTPS.
type HTTPSMode string

const (
	HTTPSOff      HTTPSMode = "off"      // HTTP only (also the empty value)
	HTTPSOn       HTTPSMode = "on"       // HTTP and HTTPS
	HTTPSRedirect HTTPSMode = "redirect" // HTTPS; HTTP answers 301 to HTTPS
)

// HTTPSModes lists the modes in the order forms show them.
var HTTPSModes = []HTTPSMode{HTTPSOff, HTTPSOn, HTTPSRedirect}

// Validate returns a *ValidationError unless m is a known mode or empty.
func (m HTTPSMode) Validate() error {
	switch m {
	case "", HTTPSOff, HTTPSOn, HTTPSRedirect:
		return nil
	}
	return Invalid("https", "must be off, on or redirect, not %q", string(m))
}

// Enabled reports whether the site answers over HTTPS.
func (m HTTPSMode) Enabled() bool { return m == HTTPSOn || m == HTTPSRedirect }

// Certificate issuers.
const (
	IssuerLocal    = "local"    // aegir's local CA (aegir dev)
	IssuerACME     = "acme"     // an ACME directory (Let's Encrypt ...)
	IssuerUploaded = "uploaded" // a certificate an operator uploaded
)

// Certificate is the state of a site's certificate: what covers the site
// now and how the last attempt to issue or renew one ended. The
// certificate and its key are secrets (secrets.SiteCertRef), never here.
type Certificate struct {
	Issuer    string    `json:"issuer,omitempty"`
	Names     []string  `json:"names,omitempty"` // the names it covers (domain and aliases)
	NotBefore time.Time `json:"not_before,omitzero"`
	NotAfter  time.Time `json:"not_after,omitzero"`
	Serial    string    `json:"serial,omitempty"`
	RenewedAt time.Time `json:"renewed_at,omitzero"` // last issuance or renewal
	// Error, Hint and FailedAt say why the last attempt failed; empty
	// after a success. Failures counts attempts failed in a row, for
	// the renewal queue's backoff.
	Error    string    `json:"error,omitempty"`
	Hint     string    `json:"hint,omitempty"`
	FailedAt time.Time `json:"failed_at,omitzero"`
	Failures int       `json:"failures,omitempty"`
}

// Valid reports whether the certificate covers the site at now.
func (c *Certificate) Valid(now time.Time) bool {
	return c != nil && !c.NotAfter.IsZero() && now.Before(c.NotAfter) && !now.Before(c.NotBefore)
}

// Due reports whether the certificate should be renewed at now: none yet,
// expiring within window, or not covering every name in names.
func (c *Certificate) Due(now time.Time, window time.Duration, names []string) bool {
	if c == nil || c.NotAfter.IsZero() || now.Add(window).After(c.NotAfter) {
		return true
	}
	for _, n := range names {
		if !slices.Contains(c.Names, n) {
			return true
		}
	}
	return false
}
