package boltkv

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/aegirhq/aegir/internal/store"
)

// Txn applies ops atomically in one bbolt write transaction. Every key it
// writes gets the same new ModifyIndex (the global index plus one); a
// transaction that changes nothing leaves the global index alone. The checks
// mirror Consul's: a CAS with a non-zero index on a missing key fails, a
// delete-cas on a missing key succeeds, a check-index on a missing key fails,
// and a set or CAS that writes the value the key already holds changes
// nothing (the key keeps its ModifyIndex). Later ops see the effects of
// earlier ones.
func (k *KV) Txn(ctx context.Context, ops []store.Op) ([]*store.Pair, error) {
	if err := store.CheckOps(ops); err != nil {
		return nil, err
	}
	if err := k.usable(ctx); err != nil {
		return nil, err
	}
	if len(ops) == 0 {
		return nil, nil
	}

	k.writeMu.Lock()
	defer k.writeMu.Unlock()
	// Close may have run while we waited for the lock.
	if err := k.usable(ctx); err != nil {
		return nil, err
	}

	var (
		results = make([]*store.Pair, len(ops))
		changed []string
		index   uint64
	)
	err := k.db.Update(func(tx *bolt.Tx) error {
		data, meta := tx.Bucket(dataBucket), tx.Bucket(metaBucket)
		index = readIndex(meta) + 1
		for i, op := range ops {
			key := []byte(op.Key)
			cur, exists := currentIndex(data, key)
			fail := func() error { return &store.TxnError{OpIndex: i, Op: op} }
			switch op.Verb {
			case store.OpCAS:
				if (op.Index == 0 && exists) || (op.Index != 0 && (!exists || cur != op.Index)) {
					return fail()
				}
				fallthrough
			case store.OpSet:
				if exists && bytes.Equal(data.Get(key)[headerLen:], op.Value) {
					// As in Consul, rewriting the same value is not a
					// change: the key keeps its ModifyIndex.
					results[i] = &store.Pair{Key: op.Key, Value: op.Value, ModifyIndex: cur}
					continue
				}
				if err := data.Put(key, encodeValue(index, op.Value)); err != nil {
					return fmt.Errorf("put %q: %w", op.Key, err)
				}
				results[i] = &store.Pair{Key: op.Key, Value: op.Value, ModifyIndex: index}
				changed = append(changed, op.Key)
			case store.OpDeleteCAS:
				if !exists {
					continue // as in Consul: nothing to delete is success
				}
				if cur != op.Index {
					return fail()
				}
				fallthrough
			case store.OpDelete:
				if !exists {
					continue
				}
				if err := data.Delete(key); err != nil {
					return fmt.Errorf("delete %q: %w", op.Key, err)
				}
				changed = append(changed, op.Key)
			case store.OpCheckIndex:
				if !exists || cur != op.Index {
					return fail()
				}
			case store.OpCheckNotExists:
				if exists {
					return fail()
				}
			default:
				return fmt.Errorf("transaction op %d on %q has unknown verb %d", i, op.Key, op.Verb)
			}
		}
		if len(changed) == 0 {
			return nil
		}
		return writeIndex(meta, index)
	})
	var txnErr *store.TxnError
	if errors.As(err, &txnErr) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("boltkv: txn: %w", err)
	}
	if len(changed) > 0 {
		k.recordChange(change{index: index, keys: changed})
	}
	return results, nil
}

func currentIndex(data *bolt.Bucket, key []byte) (uint64, bool) {
	v := data.Get(key)
	if v == nil {
		return 0, false
	}
	return binary.BigEndian.Uint64(v[:headerLen]), true
}
