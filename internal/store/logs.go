package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The log archive (scheduler/tasklog) keeps the full log of every finished
// task. What its records hold (compressed chunks, a JSON index) is the
// archive's; where they live and how they are written is the store's:
//
//	logs/<task id>/0000, 0001, ...   the chunks, in order
//	logs/<task id>/index             written last, once every chunk is stored
//
// Every record is created check-and-set (it must not exist yet), so two
// archivers of the same task can't interleave their chunks: the loser's
// transaction fails.

const prefixLogs = "logs/"

func logPrefix(taskID string) string { return prefixLogs + taskID + "/" }

func logChunkKey(taskID string, n int) string { return fmt.Sprintf("%s%04d", logPrefix(taskID), n) }

func logIndexKey(taskID string) string { return logPrefix(taskID) + "index" }

// LogArchive is one task's archived log records as read.
type LogArchive struct {
	// Index is the index record; nil when there is none: no archive, or
	// one cut short before its index was written.
	Index []byte
	// Chunks are the chunk records by number.
	Chunks map[int][]byte
}

// HasLogIndex reports whether a task's archived log is complete (its index
// is written).
func (s *Store) HasLogIndex(ctx context.Context, taskID string) (bool, error) {
	_, err := s.kv.Get(ctx, logIndexKey(taskID))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrKeyNotFound):
		return false, nil
	}
	return false, err
}

// GetLogArchive reads every record of a task's archived log.
func (s *Store) GetLogArchive(ctx context.Context, taskID string) (LogArchive, error) {
	prefix := logPrefix(taskID)
	pairs, _, err := s.kv.List(ctx, prefix)
	if err != nil {
		return LogArchive{}, err
	}
	out := LogArchive{Chunks: map[int][]byte{}}
	for _, p := range pairs {
		name := strings.TrimPrefix(p.Key, prefix)
		if name == "index" {
			out.Index = p.Value
			continue
		}
		if n, err := strconv.Atoi(name); err == nil && logChunkKey(taskID, n) == p.Key {
			out.Chunks[n] = p.Value
		}
	}
	return out, nil
}

// PutLogArchive stores a task's archived log: its chunks, numbered from 0,
// in as few transactions as the store's limits allow (MaxTxnOps, and 3/4
// of MaxTxnSize), then its index. Each chunk must be well under
// MaxTxnSize. Any record that exists already fails the write with an
// error wrapping ErrCASFailed; clear a partial archive first
// (DeleteLogArchive).
func (s *Store) PutLogArchive(ctx context.Context, taskID string, chunks [][]byte, index []byte) error {
	var ops []Op
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		_, err := s.kv.Txn(ctx, ops)
		ops = ops[:0]
		return err
	}
	for n, chunk := range chunks {
		op := Op{Verb: OpCAS, Key: logChunkKey(taskID, n), Value: chunk}
		if len(ops) == MaxTxnOps || TxnSize(append(ops, op)) > MaxTxnSize*3/4 {
			if err := flush(); err != nil {
				return fmt.Errorf("store log chunks of task %s: %w", taskID, err)
			}
		}
		ops = append(ops, op)
	}
	if err := flush(); err != nil {
		return fmt.Errorf("store log chunks of task %s: %w", taskID, err)
	}
	if _, err := s.kv.Txn(ctx, []Op{{Verb: OpCAS, Key: logIndexKey(taskID), Value: index}}); err != nil {
		return fmt.Errorf("store log index of task %s: %w", taskID, err)
	}
	return nil
}

// DeleteLogArchive deletes every record of a task's archived log, whole or
// cut short, check-and-set on the versions it read.
func (s *Store) DeleteLogArchive(ctx context.Context, taskID string) error {
	pairs, _, err := s.kv.List(ctx, logPrefix(taskID))
	if err != nil {
		return err
	}
	for len(pairs) > 0 {
		n := min(len(pairs), MaxTxnOps)
		ops := make([]Op, n)
		for i, p := range pairs[:n] {
			ops[i] = Op{Verb: OpDeleteCAS, Key: p.Key, Index: p.ModifyIndex}
		}
		if _, err := s.kv.Txn(ctx, ops); err != nil {
			return err
		}
		pairs = pairs[n:]
	}
	return nil
}
