package locks_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/locks"
)

// TestElectorCampaignErr: while Redis is down the elector cannot lead
// and CampaignErr says why; once Redis is back it leads again and
// CampaignErr is nil.
func TestElectorCampaignErr(t *testing.T) {
	t.Parallel()
	r := setupRedis(t)
	e := locks.NewElector(r.locker(t, nil), "dispatcher", time.Second, nil)
	e.RetryInterval = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = e.Run(ctx, func(ctx context.Context) { <-ctx.Done() }) }()
	defer func() { cancel(); <-done }()
	waitFor(t, 10*time.Second, "leads", e.IsLeader)
	if err := e.CampaignErr(); err != nil {
		t.Fatalf("CampaignErr while leading: %v", err)
	}

	r.srv.Stop(t)
	waitFor(t, 10*time.Second, "gives up leading and cannot campaign", func() bool { return !e.IsLeader() && e.CampaignErr() != nil })
	if err := e.CampaignErr(); !strings.Contains(err.Error(), r.srv.Addr) {
		t.Errorf("CampaignErr does not say which Redis: %v", err)
	}

	r.srv.Restart(t)
	waitFor(t, 10*time.Second, "leads again", func() bool { return e.IsLeader() && e.CampaignErr() == nil })
}
