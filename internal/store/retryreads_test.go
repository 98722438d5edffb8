package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/store/boltkv"
)

// unavailableKV is a fault-injecting KV: while `fail` is positive, its Gets
// answer store.ErrUnavailable, as Consul does while it restarts.
type unavailableKV struct {
	store.KV
	fail  atomic.Int32
	reads atomic.Int32
}

func (u *unavailableKV) Get(ctx context.Context, key string) (*store.Pair, error) {
	u.reads.Add(1)
	if u.fail.Add(-1) >= 0 {
		return nil, fmt.Errorf("consul get %q: Unexpected response code: 500 (No cluster leader): %w", key, store.ErrUnavailable)
	}
	return u.KV.Get(ctx, key)
}

// TestReadsWaitForTheStore: a read the backend answers ErrUnavailable is
// retried and gets its answer once the backend is back within ReadRetry;
// past ReadRetry the error, still ErrUnavailable, is returned.
func TestReadsWaitForTheStore(t *testing.T) {
	t.Parallel()
	kv, err := boltkv.Open(filepath.Join(t.TempDir(), "aegir.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	u := &unavailableKV{KV: kv}
	st := store.New(u, &store.Config{ReadRetry: 2 * time.Second})
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	c := &domain.Client{Name: "acme"}
	if err := st.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	u.reads.Store(0)
	u.fail.Store(3)
	got, err := st.GetClient(ctx, c.ID)
	if err != nil || got.Name != "acme" || u.reads.Load() != 4 {
		t.Fatalf("read through 3 unavailable answers: %v %v after %d reads", got, err, u.reads.Load())
	}
	u.fail.Store(1000)
	start := time.Now()
	_, err = st.GetClient(ctx, c.ID)
	if !errors.Is(err, store.ErrUnavailable) || time.Since(start) < time.Second || time.Since(start) > 3*time.Second {
		t.Fatalf("a store away longer than the retry: %v after %s", err, time.Since(start))
	}
}
