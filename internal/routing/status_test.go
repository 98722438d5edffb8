package routing_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"

	"github.com/aegirhq/aegir/internal/routing"
)

// TestStatus: a reconciler whose Consul token may only read (Traefik's)
// reports the refused registration in Status, with what to fix and
// without the token; one with aegir's token reports a clean pass and the
// instance it published; a stopped one reports that it does not run.
func TestStatus(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{acl: true, noReconciler: true})
	e.install(e.a, "status.example.com", nil, false)

	start := func(token string) (*routing.Reconciler, func()) {
		t.Helper()
		cl, err := api.NewClient(&api.Config{Address: e.consul.Addr, Token: token})
		if err != nil {
			t.Fatal(err)
		}
		rec, err := routing.New(routing.Config{Store: e.store, Consul: cl, Logger: testLogger(t), CheckTimeout: routeLimit / 4})
		if err != nil {
			t.Fatal(err)
		}
		if st := rec.Status(); st.Running || !st.LastPass.IsZero() || st.Err != nil {
			t.Fatalf("status before Run: %+v", st)
		}
		ctx, cancel := context.WithCancel(e.ctx)
		done := make(chan error, 1)
		go func() { done <- rec.Run(ctx) }()
		return rec, func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	}

	refused, stop := start(e.traefikToken)
	var st routing.Status
	eventually(t, routeLimit, "the refusal in Status", func() error {
		if st = refused.Status(); st.Err == nil {
			return errNotYet
		}
		return nil
	})
	if !st.Running || !errors.Is(st.Err, routing.ErrPermissionDenied) || !st.LastPass.IsZero() {
		t.Fatalf("status of a refused reconciler: %+v, want running, never passed, an error wrapping ErrPermissionDenied", st)
	}
	for _, want := range []string{"lacks permission to register status.example.com", "'service:write'", "ops/consul/aegir-policy.hcl"} {
		if !strings.Contains(st.Err.Error(), want) {
			t.Errorf("status error lacks %q: %v", want, st.Err)
		}
	}
	if strings.Contains(st.Err.Error(), e.traefikToken) {
		t.Error("the status error holds the token")
	}
	stop()
	if st := refused.Status(); st.Running {
		t.Errorf("status after Run returned: %+v", st)
	}

	ok, stop := start(e.aegirToken)
	defer stop()
	eventually(t, routeLimit, "a clean pass in Status", func() error {
		st = ok.Status()
		if st.Err != nil || st.LastPass.IsZero() || st.Published != 1 {
			return fmt.Errorf("%+v", st)
		}
		return nil
	})
}
