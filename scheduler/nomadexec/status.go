package nomadexec

import (
	"context"

	"github.com/hashicorp/nomad/api"

	"github.com/aegirhq/aegir/jobspecs"
)

// Ping checks that Nomad answers with a leader and accepts aegir's token
// in its namespace, by listing at most one of aegir's task jobs (the
// capability list-jobs). Its error says what is wrong as the executor's
// own errors do: unreachable, an ACL refusal naming the capability, a
// missing namespace.
func (e *Executor) Ping(ctx context.Context) error {
	_, _, err := e.api.Jobs().List((&api.QueryOptions{Prefix: jobspecs.Task + "-", PerPage: 1}).WithContext(ctx))
	if err != nil {
		return e.nomadErr(err, "list aegir's jobs at "+e.api.Address(), e.needsCap("list-jobs"))
	}
	return nil
}

// InFlight is how many dispatched back ends have not finished, and the
// cap (Config.MaxInFlight) past which Start waits.
func (e *Executor) InFlight() (n, max int) { return len(e.slots), cap(e.slots) }

// Address is the Nomad API address the executor talks to.
func (e *Executor) Address() string { return e.api.Address() }
