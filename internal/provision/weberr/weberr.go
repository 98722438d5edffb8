// Package weberr holds the errors that every web driver (builtin, nginx)
// returns for the failures the back end reports with their own error
// codes, so the runner maps them with errors.Is instead of knowing each
// driver, as internal/provision/dberr does for database drivers:
//
//	switch {
//	case errors.Is(err, weberr.ErrUnavailable): // "web_unavailable"
//	case errors.Is(err, weberr.ErrRejected):    // "web_publish_failed"
//	case errors.Is(err, weberr.ErrReload):      // "web_publish_failed"
//	}
//
// Code does that mapping. A site the driver refuses before writing
// anything (a bad domain, docroot or upstream) is domain.ErrInvalid, not
// one of these.
package weberr

import (
	"errors"
	"fmt"
)

var (
	// ErrUnavailable: the web server cannot be used at all (binary
	// missing, config or routes directory missing or not writable, its
	// configuration broken). Nothing was changed.
	ErrUnavailable = errors.New("web server is not usable")
	// ErrRejected: the web server refused the configuration with the
	// site's change; the previous configuration was put back and the
	// server keeps serving the other sites.
	ErrRejected = errors.New("web server rejected the configuration")
	// ErrReload: the configuration is in place and tested but the running
	// server could not be told to load it (not running, signal refused).
	ErrReload = errors.New("web server did not load the configuration")
)

// Error is a classified driver failure: which server, which operation,
// and the driver's error (which carries the fix hint).
type Error struct {
	Kind   error  // ErrUnavailable, ErrRejected or ErrReload
	Server string // "nginx", "builtin"
	Op     string // "check", "publish example.com" ...; may be empty
	Err    error
}

func (e *Error) Error() string {
	what := "failed"
	switch e.Kind {
	case ErrUnavailable:
		what = "is not usable"
	case ErrRejected:
		what = "rejected the configuration"
	case ErrReload:
		what = "did not load the configuration"
	}
	msg := fmt.Sprintf("%s %s: %v", e.Server, what, e.Err)
	if e.Op != "" {
		msg = e.Op + ": " + msg
	}
	return msg
}

// Unwrap exposes both the kind (for errors.Is) and the driver's error.
func (e *Error) Unwrap() []error { return []error{e.Kind, e.Err} }

// ConfigError is a configuration the web server refused (ErrRejected),
// with the server's own message.
type ConfigError struct {
	Server string // "nginx"
	Domain string
	// Output is what the server's config test printed.
	Output string
	// AlreadyBroken is true when the server refused the configuration
	// even after the site's previous config was restored: some other file
	// is at fault.
	AlreadyBroken bool
}

func (e *ConfigError) Error() string {
	if e.AlreadyBroken {
		return fmt.Sprintf("%s rejects its configuration even without the change to %s, so another file is broken; fix the file %s names and run verify again: %s", e.Server, e.Domain, e.Server, e.Output)
	}
	return fmt.Sprintf("%s rejected the new config for %s, the previous one was restored and %s keeps serving the other sites; %s said: %s", e.Server, e.Domain, e.Server, e.Server, e.Output)
}

// Unwrap makes a ConfigError ErrRejected.
func (e *ConfigError) Unwrap() error { return ErrRejected }

// Code returns the result error code for a classified error, or "" for
// any other error (the caller picks the code of the step that failed).
func Code(err error) string {
	switch {
	case errors.Is(err, ErrUnavailable):
		return "web_unavailable"
	case errors.Is(err, ErrRejected), errors.Is(err, ErrReload):
		return "web_publish_failed"
	}
	return ""
}
