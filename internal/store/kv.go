package store

import (
	"context"
	"encoding/base64"
	"errors"
)

// KV is the small key/value interface the repository needs. Both backends
// (Consul KV and bbolt) implement it with the same semantics, proven by the
// conformance suite in storetest.
//
// Every key carries a ModifyIndex that grows on every write that changes
// its value (writing the value a key already holds keeps its index and wakes
// no watcher, as in Consul). Updates are check-and-set on that index;
// multi-key changes go through Txn, which applies all operations or none.
// As in Consul, a delete-cas of a missing key succeeds and a check-index on
// a missing key fails whatever the index.
type KV interface {
	// Get returns the pair at key, or an error wrapping ErrKeyNotFound.
	Get(ctx context.Context, key string) (*Pair, error)
	// List returns every pair whose key starts with prefix, sorted by key,
	// and the store index the answer reflects.
	List(ctx context.Context, prefix string) ([]*Pair, uint64, error)
	// Txn applies ops atomically. When any check fails nothing is written
	// and the error wraps ErrCASFailed (and is a *TxnError naming the op).
	// On success it returns the pair written by each Set/CAS op, in order,
	// with its new ModifyIndex (nil for the others).
	Txn(ctx context.Context, ops []Op) ([]*Pair, error)
	// Watch blocks until something under prefix changed after index (or ctx
	// ends, or an implementation-defined wait of about a minute passes) and
	// returns the full list under prefix with the new index. Index 0 returns
	// at once. Like Consul blocking queries, it may return early with no
	// change: callers compare indexes.
	Watch(ctx context.Context, prefix string, index uint64) ([]*Pair, uint64, error)
	// Close releases the backend's resources.
	Close() error
}

// MaxTxnOps is the most operations one transaction may carry (Consul's
// limit); both backends enforce it so code that works on bbolt works on
// Consul.
const MaxTxnOps = 64

// MaxValueSize is the largest value a key may hold (Consul's limit).
const MaxValueSize = 512 * 1024

// MaxTxnSize bounds the encoded size of one transaction: Consul refuses a
// /v1/txn request body above txn_max_req_len (512 KiB by default), and that
// body carries every value base64-encoded plus each op's JSON framing. So a
// transaction's values together must stay well under 384 KiB, whatever
// MaxValueSize says about one value. CheckOps estimates the body size (see
// TxnSize) and both backends refuse a transaction above this bound.
const MaxTxnSize = 512 * 1024

// txnOpOverhead is a generous estimate of one op's JSON framing in a Consul
// txn request, including a key prefix of up to about 100 bytes.
const txnOpOverhead = 256

// TxnSize estimates the size of ops as a Consul /v1/txn request body.
func TxnSize(ops []Op) int {
	n := 0
	for _, op := range ops {
		n += txnOpOverhead + len(op.Key) + base64.StdEncoding.EncodedLen(len(op.Value))
	}
	return n
}

// Pair is a key, its value and the index of its last modification.
type Pair struct {
	Key         string
	Value       []byte
	ModifyIndex uint64
}

// OpVerb is what an Op does.
type OpVerb int

const (
	// OpCAS writes Value when the key's ModifyIndex equals Index; Index 0
	// means "only if the key does not exist".
	OpCAS OpVerb = iota + 1
	// OpSet writes Value unconditionally. Use it only for keys no one else
	// writes (the repository uses CAS for every entity).
	OpSet
	// OpDeleteCAS deletes the key when its ModifyIndex equals Index.
	OpDeleteCAS
	// OpDelete deletes the key if it exists.
	OpDelete
	// OpCheckIndex fails the transaction unless the key's ModifyIndex
	// equals Index.
	OpCheckIndex
	// OpCheckNotExists fails the transaction if the key exists.
	OpCheckNotExists
)

func (v OpVerb) String() string {
	switch v {
	case OpCAS:
		return "cas"
	case OpSet:
		return "set"
	case OpDeleteCAS:
		return "delete-cas"
	case OpDelete:
		return "delete"
	case OpCheckIndex:
		return "check-index"
	case OpCheckNotExists:
		return "check-not-exists"
	}
	return "unknown"
}

// Op is one operation of a transaction.
type Op struct {
	Verb  OpVerb
	Key   string
	Value []byte
	Index uint64
}

var (
	// ErrKeyNotFound is returned by Get for a missing key.
	ErrKeyNotFound = errors.New("key not found")
	// ErrCASFailed means a check-and-set or check op did not match: someone
	// else changed the key first, or it already exists.
	ErrCASFailed = errors.New("check-and-set failed")
	// ErrTooManyOps means a transaction had more than MaxTxnOps operations.
	ErrTooManyOps = errors.New("transaction has too many operations")
	// ErrValueTooLarge means a value exceeded MaxValueSize.
	ErrValueTooLarge = errors.New("value too large")
	// ErrTxnTooLarge means a transaction's values together exceeded
	// MaxTxnSize once encoded: split it, or keep big data out of the store.
	ErrTxnTooLarge = errors.New("transaction too large")
	// ErrUnavailable means the backend did not answer or answered that it
	// cannot serve now (Consul down, restarting or electing a leader): a
	// retry later may succeed. A write that failed so may still have been
	// applied. The API answers it 503 store_unavailable.
	ErrUnavailable = errors.New("the store is unavailable")
)

// TxnError says which operation of a transaction failed its check.
type TxnError struct {
	OpIndex int
	Op      Op
}

func (e *TxnError) Error() string {
	return "transaction op " + e.Op.Verb.String() + " on " + e.Op.Key + " failed its check"
}

func (e *TxnError) Unwrap() error { return ErrCASFailed }

// CheckOps validates a transaction's shape before it is sent: both backends
// call it so they refuse the same things.
func CheckOps(ops []Op) error {
	if len(ops) > MaxTxnOps {
		return ErrTooManyOps
	}
	for _, op := range ops {
		if len(op.Value) > MaxValueSize {
			return ErrValueTooLarge
		}
		if op.Key == "" {
			return errors.New("transaction op with an empty key")
		}
	}
	if TxnSize(ops) > MaxTxnSize {
		return ErrTxnTooLarge
	}
	return nil
}
