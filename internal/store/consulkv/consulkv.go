package consulkv

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/aegirhq/aegir/internal/store"
)

var _ store.KV = (*KV)(nil)

// DefaultPrefix is where aegir keeps its keys unless Config.Prefix says
// otherwise.
const DefaultPrefix = "aegir/v1/"

// Config says how to reach Consul. The zero value talks to a local agent.
type Config struct {
	// Address is the agent's HTTP API, "host:port" or a URL
	// ("https://consul.example:8501"). Default "127.0.0.1:8500".
	Address string
	// Token is the ACL token. It needs key_prefix write on Prefix
	// (ops/consul/aegir-policy.hcl). Default none; the Consul client then
	// falls back to CONSUL_HTTP_TOKEN(_FILE). It is sent as a header and
	// never appears in errors.
	Token string
	// Prefix namespaces every key; keys given to the KV are relative to it.
	// A missing trailing slash is added. Default DefaultPrefix.
	Prefix string
	// Datacenter to query. Default the agent's own.
	Datacenter string
	// HTTPClient carries the requests; set it for TLS or a custom
	// transport. It must not time out before WaitTime plus a margin, or
	// Watch fails. Default the Consul client's pooled client.
	HTTPClient *http.Client
	// WaitTime bounds one Watch (a blocking query; Consul adds up to 1/16
	// of jitter and caps it at 10 minutes). Default 60s.
	WaitTime time.Duration
	// Consistent makes Get and List use Consul's consistent mode (the
	// leader confirms it is still leader with a quorum before answering).
	// Default false: default mode, where the leader answers alone. See the
	// package doc for why that is safe here.
	Consistent bool
}

func (c Config) withDefaults() Config {
	c.Address = cmp.Or(c.Address, "127.0.0.1:8500")
	c.Prefix = cmp.Or(c.Prefix, DefaultPrefix)
	if !strings.HasSuffix(c.Prefix, "/") {
		c.Prefix += "/"
	}
	c.WaitTime = cmp.Or(c.WaitTime, 60*time.Second)
	return c
}

func (c Config) validate() error {
	if strings.HasPrefix(c.Prefix, "/") {
		return fmt.Errorf("consulkv: prefix %q must not start with a slash (Consul keys have none)", c.Prefix)
	}
	if c.WaitTime < time.Second || c.WaitTime > 10*time.Minute {
		return fmt.Errorf("consulkv: wait time %v out of range: Consul accepts 1s to 10m", c.WaitTime)
	}
	return nil
}

// ErrClosed is returned by calls made after Close.
var ErrClosed = errors.New("consulkv: store is closed")

// KV is the Consul KV backend of store.KV. It is safe for concurrent use.
type KV struct {
	client *api.Client
	cfg    Config

	closeOnce sync.Once
	closed    chan struct{}
}

// New returns a KV for cfg. It does not contact Consul: the first call
// reports an unreachable agent or a token without permission.
func New(cfg Config) (*KV, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	client, err := api.NewClient(&api.Config{
		Address:    cfg.Address,
		Token:      cfg.Token,
		Datacenter: cfg.Datacenter,
		HttpClient: cfg.HTTPClient,
	})
	if err != nil {
		return nil, fmt.Errorf("consulkv: client for %s: %s", cfg.Address, redact(err.Error(), cfg.Token))
	}
	return &KV{client: client, cfg: cfg, closed: make(chan struct{})}, nil
}

// Prefix is the prefix every key is stored under, with its trailing slash.
func (k *KV) Prefix() string { return k.cfg.Prefix }

// Close makes later calls fail with ErrClosed and ends running Watches.
func (k *KV) Close() error {
	k.closeOnce.Do(func() { close(k.closed) })
	return nil
}

// Get returns the pair at key or an error wrapping store.ErrKeyNotFound.
func (k *KV) Get(ctx context.Context, key string) (*store.Pair, error) {
	if err := k.usable(ctx); err != nil {
		return nil, err
	}
	if key == "" {
		return nil, errors.New("consulkv: get with an empty key")
	}
	kp, _, err := k.client.KV().Get(k.cfg.Prefix+key, k.readOptions(ctx))
	if err != nil {
		return nil, k.wrap(fmt.Sprintf("get %q", key), err)
	}
	if kp == nil {
		return nil, fmt.Errorf("get %q: %w", key, store.ErrKeyNotFound)
	}
	return k.pair(kp), nil
}

// List returns the pairs under prefix, sorted by key, with Consul's index
// for that prefix (X-Consul-Index).
func (k *KV) List(ctx context.Context, prefix string) ([]*store.Pair, uint64, error) {
	if err := k.usable(ctx); err != nil {
		return nil, 0, err
	}
	return k.list(ctx, prefix, k.readOptions(ctx))
}

// Watch is a blocking List: it returns when Consul's index for prefix
// passes index, or after Config.WaitTime (plus Consul's jitter) with the
// list unchanged, or when ctx ends. Index 0 returns at once.
func (k *KV) Watch(ctx context.Context, prefix string, index uint64) ([]*store.Pair, uint64, error) {
	if err := k.usable(ctx); err != nil {
		return nil, 0, err
	}
	// End the request when the store is closed, not only when ctx ends.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-k.closed:
			cancel(ErrClosed)
		case <-ctx.Done():
		}
	}()
	q := &api.QueryOptions{WaitIndex: index, WaitTime: k.cfg.WaitTime}
	pairs, idx, err := k.list(ctx, prefix, q.WithContext(ctx))
	if err != nil && errors.Is(context.Cause(ctx), ErrClosed) {
		return nil, 0, ErrClosed
	}
	return pairs, idx, err
}

func (k *KV) list(ctx context.Context, prefix string, q *api.QueryOptions) ([]*store.Pair, uint64, error) {
	kps, meta, err := k.client.KV().List(k.cfg.Prefix+prefix, q)
	if err != nil {
		return nil, 0, k.wrap(fmt.Sprintf("list %q", prefix), err)
	}
	if meta.ResultsFilteredByACLs {
		return nil, 0, k.hidden(fmt.Sprintf("list %q", prefix))
	}
	pairs := make([]*store.Pair, 0, len(kps))
	for _, kp := range kps {
		pairs = append(pairs, k.pair(kp))
	}
	return pairs, meta.LastIndex, nil
}

func (k *KV) readOptions(ctx context.Context) *api.QueryOptions {
	q := &api.QueryOptions{RequireConsistent: k.cfg.Consistent}
	return q.WithContext(ctx)
}

// pair converts a Consul pair, making its key relative to the prefix.
func (k *KV) pair(kp *api.KVPair) *store.Pair {
	return &store.Pair{
		Key:         strings.TrimPrefix(kp.Key, k.cfg.Prefix),
		Value:       kp.Value,
		ModifyIndex: kp.ModifyIndex,
	}
}

func (k *KV) usable(ctx context.Context) error {
	select {
	case <-k.closed:
		return ErrClosed
	default:
	}
	return ctx.Err()
}
