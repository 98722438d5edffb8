package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aegirhq/aegir/internal/domain"
)

// Tasks are the one collection that grows without bound between retention
// runs (an hourly cron on 10,000 sites writes 240,000 a day), so they are
// stored by the hour they were created in:
//
//	tasks/<yyyymmddhh>/<id>    the task (the hour comes from the id)
//	taskbuckets/<yyyymmddhh>   touched by every transaction that writes a
//	                           task of that hour
//
// The task mirror watches only taskbuckets/ (a few hundred small keys) and
// re-reads the one or two hours that changed, instead of the whole
// collection on every change (see taskmirror.go).

const (
	prefixTaskBuckets = "taskbuckets/"
	bucketLayout      = "2006010215"
	// orphanBucket holds a task whose id carries no time. Every id NewID
	// makes has one; this only keeps a hand-made key addressable.
	orphanBucket = "0000000000"
)

// taskBucket is the hour bucket of a task id.
func taskBucket(id string) string {
	if t, ok := domain.IDTime(id); ok {
		return t.Format(bucketLayout)
	}
	return orphanBucket
}

// TaskKey is the store key of the task with id. Exported for tools and
// benchmarks that write task records straight into a KV; they must also
// set TaskBucketKey(id) in the same transaction.
func TaskKey(id string) string { return prefixTasks + taskBucket(id) + "/" + id }

// TaskBucketKey is the marker key a transaction writing the task with id
// sets, so that task mirrors re-read that task's bucket.
func TaskBucketKey(id string) string { return prefixTaskBuckets + taskBucket(id) }

// TaskBucketOp is the operation that touches the marker of id's bucket. Its
// value is fresh every time: a write of the value a key already holds
// keeps its index, and the index is what mirrors watch.
func TaskBucketOp(id string) Op {
	return Op{Verb: OpSet, Key: TaskBucketKey(id), Value: []byte(domain.NewID())}
}

// touchTask marks the transaction as writing the task with id: the task
// mirror must catch up with it, and the bucket's marker is set (once per
// bucket per transaction). Call it before adding the task's own op, so that
// op stays the last one added.
func (t *tx) touchTask(s *Store, id string) {
	t.touches[&s.tasks.mirrorBase] = true
	b := taskBucket(id)
	if t.buckets == nil {
		t.buckets = map[string]bool{}
	}
	if t.buckets[b] {
		return
	}
	t.buckets[b] = true
	t.add(TaskBucketOp(id), nil)
}

// splitTaskKey returns the bucket and id of a key under tasks/, or ok=false
// for a key of another shape.
func splitTaskKey(key string) (bucket, id string, ok bool) {
	rest, ok := strings.CutPrefix(key, prefixTasks)
	if !ok {
		return "", "", false
	}
	bucket, id, ok = strings.Cut(rest, "/")
	if !ok || bucket == "" || id == "" || strings.Contains(id, "/") {
		return "", "", false
	}
	return bucket, id, true
}

// listTasks reads every task from the KV, for when the mirror is not
// current.
func (s *Store) listTasks(ctx context.Context) ([]*domain.Task, error) {
	pairs, _, err := s.kv.List(ctx, prefixTasks)
	if err != nil {
		return nil, err
	}
	out := make([]*domain.Task, 0, len(pairs))
	for _, p := range pairs {
		if _, _, ok := splitTaskKey(p.Key); !ok {
			continue
		}
		t, err := decodeTask(p)
		if err != nil {
			return nil, fmt.Errorf("decode %s: %w", p.Key, err)
		}
		out = append(out, t)
	}
	return out, nil
}

// moveFlatTasks moves task records of the layout before hour buckets
// (tasks/<id>, as read in flat) to tasks/<hour>/<id>, check-and-set, so
// several processes starting at once move each record exactly once. A
// batch that loses a check (a record moved or changed meanwhile) is left
// for the caller's next read.
func (s *Store) moveFlatTasks(ctx context.Context, flat []*Pair) error {
	s.log.Info("moving task records into hour buckets", "records", len(flat))
	for len(flat) > 0 {
		t := newTx()
		n := 0
		for _, p := range flat {
			id := p.Key[len(prefixTasks):]
			need := 2
			if !t.buckets[taskBucket(id)] {
				need++
			}
			if len(t.ops)+need > MaxTxnOps-1 {
				break
			}
			t.touchTask(s, id)
			t.add(Op{Verb: OpDeleteCAS, Key: p.Key, Index: p.ModifyIndex}, nil)
			t.add(Op{Verb: OpCAS, Key: TaskKey(id), Value: p.Value}, nil)
			n++
		}
		flat = flat[n:]
		if _, err := s.commit(ctx, t); err != nil {
			if errors.Is(err, domain.ErrConflict) {
				continue
			}
			return err
		}
	}
	return nil
}

// isFlatTaskKey reports whether key is a task record of the layout before
// hour buckets (tasks/<id>).
func isFlatTaskKey(key string) bool {
	rest, ok := strings.CutPrefix(key, prefixTasks)
	return ok && rest != "" && !strings.Contains(rest, "/")
}
