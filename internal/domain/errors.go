package domain

import (
	"errors"
	"fmt"
)

// Sentinel errors give an error its identity; the dashboard maps each to one
// HTTP status and one stable error code. Wrap them with %w for context.
var (
	ErrNotFound          = errors.New("not found")
	ErrConflict          = errors.New("changed by someone else; reload and try again")
	ErrDuplicate         = errors.New("already exists")
	ErrInvalid           = errors.New("invalid input")
	ErrIllegalTransition = errors.New("illegal state transition")
	ErrTooLarge          = errors.New("too large")
	ErrUnauthorized      = errors.New("missing or unknown credentials")
	ErrForbidden         = errors.New("not allowed")
	ErrBusy              = errors.New("busy")
)

// ValidationError says which field is wrong and why, in words the operator
// can act on.
type ValidationError struct {
	Field  string
	Reason string
}

func (e *ValidationError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

func (e *ValidationError) Unwrap() error { return ErrInvalid }

// Invalid returns a *ValidationError for field.
func Invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// DuplicateError names the unique key that is already taken, and by whom.
type DuplicateError struct {
	Kind    string // "domain", "client name", ...
	Value   string
	OwnerID string
	// OwnerName is the owner's name where it has one (the domain of the
	// site a domain or alias belongs to): the message names it, not the id.
	OwnerName string
}

func (e *DuplicateError) Error() string {
	switch {
	case e.OwnerName != "":
		return fmt.Sprintf("%s %q is already used by the site %s (id %s)", e.Kind, e.Value, e.OwnerName, e.OwnerID)
	case e.OwnerID != "":
		return fmt.Sprintf("%s %q is already used by %s", e.Kind, e.Value, e.OwnerID)
	}
	return fmt.Sprintf("%s %q is already used", e.Kind, e.Value)
}

func (e *DuplicateError) Unwrap() error { return ErrDuplicate }

// TransitionError reports a state change the state machine does not allow.
type TransitionError struct {
	Entity string
	From   string
	To     string
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("%s cannot go from %q to %q", e.Entity, e.From, e.To)
}

func (e *TransitionError) Unwrap() error { return ErrIllegalTransition }

// NotFoundError names what was looked for.
type NotFoundError struct {
	Kind string
	ID   string
}

func (e *NotFoundError) Error() string { return fmt.Sprintf("%s %q not found", e.Kind, e.ID) }
func (e *NotFoundError) Unwrap() error { return ErrNotFound }

// NotFound returns a *NotFoundError.
func NotFound(kind, id string) error { return &NotFoundError{Kind: kind, ID: id} }
