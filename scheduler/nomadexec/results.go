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
