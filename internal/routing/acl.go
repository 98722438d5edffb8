package routing

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/hashicorp/consul/api"
)

// ErrPermissionDenied marks a catalog write Consul's ACLs refused: aegir's
// Consul token is missing, unknown, or lacks the policy in
// ops/consul/aegir-policy.hcl. The reconciler keeps retrying (the token
// may be fixed while it runs) and logs it as an error.
var ErrPermissionDenied = errors.New("Consul ACL token lacks permission for routing")

// anonymousAccessor is the AccessorID of Consul's anonymous token, which
// Consul names in a refusal of a request that carried no token.
const anonymousAccessor = "00000000-0000-0000-0000-000000000002"

// aclError is a catalog call Consul refused (403), with what to do.
type aclError struct {
	msg string
	err error // the Consul client's api.StatusError
}

func (e *aclError) Error() string { return e.msg }

func (e *aclError) Unwrap() []error { return []error{ErrPermissionDenied, e.err} }

// consulErr wraps the error of the catalog call op ("register example.com
// on aegir-web1"). A refusal by Consul's ACLs becomes an error wrapping
// ErrPermissionDenied that names the setting and the policy to fix; Consul
// says what was refused in text only ("Permission denied: token with
// AccessorID '...' lacks permission 'service:write' on \"aegir-site\"", or
// "ACL not found" for a token it does not know), so that text is read.
func (r *Reconciler) consulErr(op string, err error) error {
	var se api.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusForbidden {
		return fmt.Errorf("%s: %w", op, err)
	}
	var msg string
	switch {
	case strings.Contains(se.Body, "ACL not found"):
		msg = "Consul refused to " + op + ": it does not know the ACL token in store.consul.token (CONSUL_HTTP_TOKEN), " +
			"which was deleted or mistyped, or belongs to another Consul cluster; make one with ops/consul/setup-acl.sh"
	case strings.Contains(se.Body, anonymousAccessor):
		msg = "Consul refused to " + op + ": no ACL token is set, so Consul treats aegir as anonymous; " +
			"set store.consul.token (or CONSUL_HTTP_TOKEN) to a token with the policy in ops/consul/aegir-policy.hcl " +
			"(ops/consul/setup-acl.sh makes one)"
	default:
		msg = "Consul ACL token lacks permission to " + op + ": " + r.grant()
	}
	return &aclError{msg: msg + "; Consul said: " + se.Body, err: err}
}

// grant says which permissions aegir's Consul token needs for routing: its
// nodes (NodeName's "aegir-" prefix) and its service.
func (r *Reconciler) grant() string {
	return fmt.Sprintf(`give the token in store.consul.token (CONSUL_HTTP_TOKEN) the policy in ops/consul/aegir-policy.hcl `+
		`(node_prefix "aegir-" and service %q, policy "write")`, r.cfg.ServiceName)
}
