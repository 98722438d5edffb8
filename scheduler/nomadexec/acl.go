package nomadexec

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/hashicorp/nomad/api"

	"github.com/aegirhq/aegir/scheduler/runner"
)

// ErrNomadPermissionDenied marks a request Nomad's ACLs refused: aegir's
// Nomad token is missing, unknown or expired, or lacks a rule of the
// policy in ops/nomad/aegir-policy.hcl.
var ErrNomadPermissionDenied = &runner.Failure{Msg: "Nomad ACL token lacks permission", Code: "nomad_permission",
	Hint: "Give aegir's Nomad token (nomad.token, NOMAD_TOKEN) the policy in ops/nomad/aegir-policy.hcl " +
		"(ops/nomad/setup-acl.sh), then retry the task."}

// NomadACLError is a request Nomad's ACLs refused. Nomad answers only
// "Permission denied" (or "ACL token not found"), never what was missing,
// so aegir, which knows what it asked, names the rule. It wraps
// ErrNomadPermissionDenied and the Nomad client's error.
type NomadACLError struct {
	// Op is what aegir asked, e.g. "register Nomad job aegir-task-web1".
	Op string
	// Needs is the policy rule the request needs, e.g. `capability
	// "submit-job" in namespace "default"`.
	Needs string
	// Nomad is what Nomad answered.
	Nomad string
	// NoToken is set when aegir sent no token: neither nomad.token nor
	// NOMAD_TOKEN is set, so Nomad took aegir for anonymous.
	NoToken bool

	err error
}

func (e *NomadACLError) Error() string {
	var msg string
	switch {
	case strings.Contains(e.Nomad, "ACL token not found"), strings.Contains(e.Nomad, "ACL token expired"):
		msg = "Nomad refused to " + e.Op + ": it does not know the token in nomad.token (NOMAD_TOKEN), which was " +
			"deleted, expired or mistyped, or belongs to another cluster; make one with ops/nomad/setup-acl.sh"
	case e.NoToken:
		msg = "Nomad refused to " + e.Op + ": no Nomad token is set, so Nomad treats aegir as anonymous; set nomad.token " +
			"(or NOMAD_TOKEN) to a token with the policy in ops/nomad/aegir-policy.hcl (ops/nomad/setup-acl.sh makes one)"
	default:
		msg = "Nomad ACL token lacks permission to " + e.Op + ": the token in nomad.token (NOMAD_TOKEN) needs " + e.Needs +
			"; give it the policy in ops/nomad/aegir-policy.hcl"
	}
	return msg + " (Nomad said: " + e.Nomad + ")"
}

func (e *NomadACLError) Unwrap() []error { return []error{ErrNomadPermissionDenied, e.err} }

// ErrNomadNamespace marks a request for a Nomad namespace that does not
// exist: nomad.namespace names one nobody created.
var ErrNomadNamespace = &runner.Failure{Msg: "Nomad namespace does not exist", Code: "nomad_namespace",
	Hint: "Create the Nomad namespace aegir is configured for (ops/nomad/setup-acl.sh does), or set nomad.namespace to an existing one, then retry the task."}

// nomadErr wraps the error of the Nomad request op: an ACL refusal becomes
// a *NomadACLError naming needs, a missing namespace an error wrapping
// ErrNomadNamespace that says how to make it, anything else "op: err".
func (e *Executor) nomadErr(err error, op, needs string) error {
	var already *NomadACLError
	code, body, ok := responseError(err)
	if ok && strings.Contains(body, "nonexistent namespace") {
		ns := cmp.Or(e.cfg.Namespace, "default")
		return fmt.Errorf("%s: %w %q: create it (ops/nomad/setup-acl.sh does, or `nomad namespace apply %s`) or set nomad.namespace to an existing one (Nomad said: %s): %w",
			op, ErrNomadNamespace, ns, ns, strings.TrimSpace(body), err)
	}
	if errors.As(err, &already) || !ok ||
		(code != http.StatusForbidden && !strings.Contains(body, "ACL token expired")) { // 1.4 answers 500 for an expired token
		return fmt.Errorf("%s: %w", op, err)
	}
	return &NomadACLError{
		Op: op, Needs: needs, Nomad: strings.TrimSpace(body), err: err,
		NoToken: e.cfg.Token == "" && os.Getenv("NOMAD_TOKEN") == "",
	}
}

// responseError is the status and body of a Nomad API error response.
func responseError(err error) (int, string, bool) {
	var ue api.UnexpectedResponseError
	if errors.As(err, &ue) {
		return ue.StatusCode(), ue.Body(), true
	}
	var up *api.UnexpectedResponseError
	if errors.As(err, &up) {
		return up.StatusCode(), up.Body(), true
	}
	return 0, "", false
}

// namespace is the Nomad namespace aegir's jobs and variables are in.
func (e *Executor) namespace() string {
	return cmp.Or(e.cfg.Namespace, os.Getenv("NOMAD_NAMESPACE"), "default")
}

// needsCap is a namespace capability, as Needs.
func (e *Executor) needsCap(capability string) string {
	return fmt.Sprintf("capability %q in namespace %q", capability, e.namespace())
}

// needsVar is a capability on a variable path, as Needs.
func (e *Executor) needsVar(capability, path string) string {
	return fmt.Sprintf("variables capability %q on %s in namespace %q", capability, path, e.namespace())
}
