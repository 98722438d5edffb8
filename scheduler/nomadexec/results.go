package nomadexec

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/aegirhq/aegir/internal/provision"
)

// ResultStore is where the Nomad executor finds the result a back end
// left: a back end run by Nomad has no stdout anyone reads.
type ResultStore interface {
	// Result returns the result the back end of task taskID left, or nil
	// and no error when it left none.
	Result(ctx context.Context, taskID string) (*provision.Result, error)
	// Abandon records that aegir gave task taskID up (its node was lost):
	// a back end still running stops and rolls back, one not started yet
	// does nothing, and one that finished anyway removes the archives it
	// made (provision.AbandonedKey).
	Abandon(ctx context.Context, taskID string) error
}

// ErrBadResult means a result record is there but is not a result: a
// retry cannot help.
var ErrBadResult = errors.New("not a result record")

// RedisResults reads the result records back ends write with ResultSink
// "redis": key provision.ResultKey(prefix, task id), JSON, 24h TTL.
type RedisResults struct {
	rdb    redis.UniversalClient
	prefix string
}

var _ ResultStore = (*RedisResults)(nil)

// NewRedisResults reads results from rdb under prefix (default "aegir:",
// the same as the log bus's).
func NewRedisResults(rdb redis.UniversalClient, prefix string) *RedisResults {
	return &RedisResults{rdb: rdb, prefix: cmp.Or(prefix, provision.DefaultRedisPrefix)}
}

// Abandon sets task taskID's abandoned mark (24h, like results).
func (r *RedisResults) Abandon(ctx context.Context, taskID string) error {
	if err := r.rdb.Set(ctx, provision.AbandonedKey(r.prefix, taskID), "1", provision.ResultTTL).Err(); err != nil {
		return fmt.Errorf("mark task %s abandoned in redis: %w", taskID, err)
	}
	return nil
}

// Result reads task taskID's result record.
func (r *RedisResults) Result(ctx context.Context, taskID string) (*provision.Result, error) {
	b, err := r.rdb.Get(ctx, provision.ResultKey(r.prefix, taskID)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the result of task %s from redis: %w", taskID, err)
	}
	var res provision.Result
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("the result record of task %s is not a result (%v): %w", taskID, err, ErrBadResult)
	}
	return &res, nil
}
