package api

import (
	"errors"
	"fmt"
	"testing"

	"github.com/aegirhq/aegir/internal/locks"
	"github.com/aegirhq/aegir/internal/store"
)

// TestStoreUnavailable: a store that does not answer is a 503 with the
// stable code store_unavailable, not an internal error.
func TestStoreUnavailable(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("request queue pass: %w", fmt.Errorf("cannot reach Consul at 127.0.0.1:8500: %w", store.ErrUnavailable))
	status, d := MapError(err, "r1")
	if status != 503 || d.Code != CodeStoreUnavailable || d.Message == "" {
		t.Fatalf("MapError = %d %+v", status, d)
	}
	err = fmt.Errorf("start a pass of queue backup: take lock queue/backup in redis: %w: dial tcp: connection refused", locks.ErrUnavailable)
	if status, d := MapError(err, "r3"); status != 503 || d.Code != CodeBusUnavailable {
		t.Fatalf("MapError(redis away) = %d %+v", status, d)
	}
	if status, d := MapError(errors.New("boom"), "r2"); status != 500 || d.Code != CodeInternal {
		t.Fatalf("other errors: %d %+v", status, d)
	}
}
