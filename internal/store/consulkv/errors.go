package consulkv

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/hashicorp/consul/api"

	"github.com/aegirhq/aegir/internal/store"
)

var (
	// ErrUnreachable means no answer came from Consul at all: the agent is
	// down, the address is wrong, or the network is in the way.
	ErrUnreachable = errors.New("cannot reach Consul")
	// ErrPermissionDenied means Consul refused the ACL token.
	ErrPermissionDenied = errors.New("Consul ACL token lacks permission")
)

// Error is a failed call to Consul. Its message never contains the token.
type Error struct {
	// Op is what was attempted, e.g. "get sites/abc" or "txn".
	Op string
	// StatusCode is Consul's HTTP status, 0 when no answer came.
	StatusCode int

	msg  string
	kind error // ErrUnreachable, ErrPermissionDenied, store.ErrTxnTooLarge, or nil
	err  error
}

func (e *Error) Error() string { return e.msg }

// Unwrap gives the category (for errors.Is with ErrUnreachable,
// ErrPermissionDenied, store.ErrTxnTooLarge) and the Consul client's error
// (for context.Canceled and the like).
func (e *Error) Unwrap() []error {
	if e.kind == nil {
		return []error{e.err}
	}
	return []error{e.kind, e.err}
}

// wrap turns an error from the Consul client into an *Error that says what
// to do about it.
func (k *KV) wrap(op string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	e := &Error{Op: op, err: err}
	detail := redact(err.Error(), k.cfg.Token)
	var status api.StatusError
	var netErr net.Error
	switch {
	case errors.As(err, &status):
		e.StatusCode = status.Code
		body := redact(status.Body, k.cfg.Token)
		e.err = api.StatusError{Code: status.Code, Body: body}
		switch status.Code {
		case http.StatusForbidden:
			e.kind = ErrPermissionDenied
			e.msg = "Consul ACL token lacks permission to " + op + " under " + k.cfg.Prefix +
				" (grant it key_prefix \"" + k.cfg.Prefix + "\" { policy = \"write\" }): " + body
		case http.StatusRequestEntityTooLarge:
			e.kind = store.ErrTxnTooLarge
			e.msg = "Consul refused " + op + " as too large: " + body
		default:
			e.msg = "consul " + op + ": " + detail
		}
	case errors.Is(err, syscall.ECONNREFUSED), errors.As(err, &netErr):
		e.kind = ErrUnreachable
		e.msg = "cannot reach Consul at " + k.cfg.Address + " (" + op + "): " + detail +
			"; is the agent running and is the address right?"
	default:
		e.msg = "consul " + op + ": " + detail
	}
	return e
}

// permissionDenied builds the error for an op Consul refused inside a
// transaction (a 409 whose error text is an ACL denial).
func (k *KV) permissionDenied(op, what string) error {
	return &Error{
		Op:         op,
		StatusCode: http.StatusConflict,
		kind:       ErrPermissionDenied,
		msg: "Consul ACL token lacks permission to " + op + " (grant it key_prefix \"" + k.cfg.Prefix +
			"\" { policy = \"write\" }): " + redact(what, k.cfg.Token),
		err: errors.New(redact(what, k.cfg.Token)),
	}
}

// redact removes the token from s.
func redact(s, token string) string {
	if token == "" {
		return s
	}
	return strings.ReplaceAll(s, token, "<redacted>")
}
