// Package dberr holds the errors that every database driver (sqlite,
// mariadb, postgresql) returns for the failures the back end reports with
// their own error codes, so the runner maps them with errors.Is instead of
// knowing each driver:
//
//	switch {
//	case errors.Is(err, dberr.ErrUnreachable): // "db_unreachable"
//	case errors.Is(err, dberr.ErrAuthFailed):  // "db_auth_failed"
//	case errors.Is(err, dberr.ErrExists):      // "db_exists"
//	}
//
// Code does that mapping. Messages never carry a password.
package dberr

import (
	"errors"
	"fmt"
)

var (
	// ErrUnreachable: the database server did not answer (refused, timed
	// out, socket missing). Nothing was changed.
	ErrUnreachable = errors.New("database server unreachable")
	// ErrAuthFailed: the server answered but refused the admin
	// credentials. Nothing was changed.
	ErrAuthFailed = errors.New("database server refused the credentials")
	// ErrExists: Create found a database of that name already; it was left
	// alone, so a new site never inherits another's data.
	ErrExists = errors.New("database already exists")
)

// Error is a classified driver failure: which server, which operation, and
// the driver's error.
type Error struct {
	Kind   error  // ErrUnreachable, ErrAuthFailed or ErrExists
	Engine string // "mariadb", "postgresql", "sqlite"
	Addr   string // where the server answers: host:port or socket path
	Op     string // "check", "create s_abc" ...
	Err    error
}

func (e *Error) Error() string {
	switch e.Kind {
	case ErrUnreachable:
		return fmt.Sprintf("%s: %s at %s did not answer: %v; check that the server is running and reachable from this host", e.Op, e.Engine, e.Addr, e.Err)
	case ErrAuthFailed:
		return fmt.Sprintf("%s: %s at %s refused aegir's admin credentials: %v; store the right ones with `aegir server credentials`", e.Op, e.Engine, e.Addr, e.Err)
	case ErrExists:
		return fmt.Sprintf("%s: %s at %s already has this database; drop it by hand if it is a leftover, or pick another site", e.Op, e.Engine, e.Addr)
	}
	return fmt.Sprintf("%s: %s at %s: %v", e.Op, e.Engine, e.Addr, e.Err)
}

// Unwrap exposes both the kind (for errors.Is) and the driver's error.
func (e *Error) Unwrap() []error { return []error{e.Kind, e.Err} }

// Code returns the result error code for a classified error, or "" for
// any other error.
func Code(err error) string {
	switch {
	case errors.Is(err, ErrUnreachable):
		return "db_unreachable"
	case errors.Is(err, ErrAuthFailed):
		return "db_auth_failed"
	case errors.Is(err, ErrExists):
		return "db_exists"
	}
	return ""
}
