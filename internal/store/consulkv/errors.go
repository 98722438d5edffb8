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
	// unavailable is store.ErrUnavailable when a retry may succeed: no
	// answer, or Consul's 5xx (no leader, "raft apply failed: leadership
	// lost") or 429.
	unavailable error
	err         error
}

func (e *Error) Error() string { return e.msg }

// Unwrap gives the category (for errors.Is with ErrUnreachable,
// ErrPermissionDenied, store.ErrTxnTooLarge) and the Consul client's error
// (for context.Canceled and the like).
func (e *Error) Unwrap() []error {
	out := []error{e.err}
	for _, k := range []error{e.kind, e.unavailable} {
		if k != nil {
			out = append(out, k)
		}
	}
	return out
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
			e.msg = k.deniedMessage(op, body)
		case http.StatusRequestEntityTooLarge:
			e.kind = store.ErrTxnTooLarge
			e.msg = "Consul refused " + op + " as too large: " + body
		default:
			e.msg = "consul " + op + ": " + detail
			if status.Code >= 500 || status.Code == http.StatusTooManyRequests {
				e.unavailable = store.ErrUnavailable
			}
		}
	case errors.Is(err, syscall.ECONNREFUSED), errors.As(err, &netErr):
		e.kind, e.unavailable = ErrUnreachable, store.ErrUnavailable
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
	what = redact(what, k.cfg.Token)
	return &Error{
		Op:         op,
		StatusCode: http.StatusConflict,
		kind:       ErrPermissionDenied,
		msg:        k.deniedMessage(op, what),
		err:        errors.New(what),
	}
}

// hidden builds the error for a list Consul answered with some keys left
// out because the token may not read them (X-Consul-Results-Filtered-By-
// ACLs): a partial list would pass for the whole store. Consul sets the
// header only for a request with a token; an anonymous one just sees less,
// and learns of the missing permission from its first write.
func (k *KV) hidden(op string) error {
	return &Error{
		Op:         op,
		StatusCode: http.StatusOK,
		kind:       ErrPermissionDenied,
		msg: "Consul hid some keys from aegir's ACL token (to " + op + " under " + k.cfg.Prefix + "): " +
			k.grant() + "; Consul said: results filtered by ACLs",
		err: errors.New("results filtered by ACLs"),
	}
}

// anonymousAccessor is the AccessorID of Consul's anonymous token, which
// Consul names in a refusal of a request that carried no token.
const anonymousAccessor = "00000000-0000-0000-0000-000000000002"

// deniedMessage says why Consul refused op and what to do about it.
// Consul gives ACL refusals as text only: "ACL not found" for a token it
// does not know, "Permission denied: token with AccessorID '...' lacks
// permission 'key:write' on \"...\"" otherwise (the anonymous token's
// accessor when none was sent).
func (k *KV) deniedMessage(op, consulSaid string) string {
	what := op + " under " + k.cfg.Prefix
	var msg string
	switch {
	case strings.Contains(consulSaid, "ACL not found"):
		msg = "Consul refused to " + what + ": it does not know the ACL token in store.consul.token (CONSUL_HTTP_TOKEN), " +
			"which was deleted or mistyped, or belongs to another Consul cluster; make one with ops/consul/setup-acl.sh"
	case strings.Contains(consulSaid, anonymousAccessor):
		msg = "Consul refused to " + what + ": no ACL token is set, so Consul treats aegir as anonymous; " +
			"set store.consul.token (or CONSUL_HTTP_TOKEN) to a token with the policy in ops/consul/aegir-policy.hcl " +
			"(ops/consul/setup-acl.sh makes one)"
	default:
		msg = "Consul ACL token lacks permission to " + what + ": " + k.grant()
	}
	return msg + "; Consul said: " + consulSaid
}

// grant says which permission the configured token needs.
func (k *KV) grant() string {
	return "give the token in store.consul.token (CONSUL_HTTP_TOKEN) the policy in ops/consul/aegir-policy.hcl " +
		"(key_prefix \"" + k.cfg.Prefix + "\" { policy = \"write\" })"
}

// redact removes the token from s.
func redact(s, token string) string {
	if token == "" {
		return s
	}
	return strings.ReplaceAll(s, token, "<redacted>")
}
