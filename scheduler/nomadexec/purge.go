package nomadexec

import (
	"context"
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/aegirhq/aegir/jobspecs"
)

// Purge deregisters, with purge, the dispatched aegir-task children that
// are dead and were submitted more than PurgeAfter ago, so Nomad's state
// (held in memory on every server) does not grow with every task ever
// run. It returns how many it purged.
func (e *Executor) Purge(ctx context.Context) (int, error) {
	return e.purgeOlder(ctx, e.cfg.PurgeAfter)
}

func (e *Executor) purgeOlder(ctx context.Context, age time.Duration) (int, error) {
	stubs, _, err := e.api.Jobs().List((&api.QueryOptions{Prefix: jobspecs.Task + "-"}).WithContext(ctx))
	if err != nil {
		return 0, e.nomadErr(err, "list the dispatched jobs", e.needsCap("list-jobs"))
	}
	cutoff := time.Now().Add(-age).UnixNano()
	n := 0
	for _, j := range stubs {
		if j.ParentID == "" || !strings.HasPrefix(j.ParentID, jobspecs.Task+"-") || j.Status != "dead" || j.SubmitTime > cutoff {
			continue
		}
		if _, _, err := e.api.Jobs().Deregister(j.ID, true, (&api.WriteOptions{}).WithContext(ctx)); err != nil && !isNotFound(err) {
			return n, e.nomadErr(err, "purge dispatched job "+j.ID, e.needsCap("submit-job"))
		}
		n++
	}
	if n > 0 {
		e.log.Info("purged finished dispatched jobs", "count", n)
	}
	return n, nil
}

// RunPurge purges every PurgeInterval until ctx ends. Run it in one aegir
// process (the dispatching one).
func (e *Executor) RunPurge(ctx context.Context) {
	t := time.NewTicker(e.cfg.PurgeInterval)
	defer t.Stop()
	for {
		if _, err := e.Purge(ctx); err != nil && ctx.Err() == nil {
			e.log.Warn("purge finished dispatched jobs; will retry", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
