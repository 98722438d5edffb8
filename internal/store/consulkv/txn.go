package consulkv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/hashicorp/consul/api"

	"github.com/aegirhq/aegir/internal/store"
)

// verbs maps store verbs to Consul's; the check semantics match (boltkv
// copies Consul's), so each op is sent as is.
var verbs = map[store.OpVerb]api.KVOp{
	store.OpCAS:            api.KVCAS,
	store.OpSet:            api.KVSet,
	store.OpDeleteCAS:      api.KVDeleteCAS,
	store.OpDelete:         api.KVDelete,
	store.OpCheckIndex:     api.KVCheckIndex,
	store.OpCheckNotExists: api.KVCheckNotExists,
}

// hasResult says which verbs Consul answers with a result entry on success:
// those whose state-store op leaves an entry (set, cas, check-index). The
// others (delete, delete-cas, check-not-exists) add nothing to Results.
func hasResult(v store.OpVerb) bool {
	return v == store.OpSet || v == store.OpCAS || v == store.OpCheckIndex
}

// Txn applies ops in one Consul transaction (PUT /v1/txn).
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
	txn := make(api.TxnOps, len(ops))
	for i, op := range ops {
		verb, ok := verbs[op.Verb]
		if !ok {
			return nil, fmt.Errorf("consulkv: transaction op %d on %q has unknown verb %d", i, op.Key, op.Verb)
		}
		txn[i] = &api.TxnOp{KV: &api.KVTxnOp{
			Verb:  verb,
			Key:   k.cfg.Prefix + op.Key,
			Value: op.Value,
			Index: op.Index,
		}}
	}

	// Raw().Write rather than Txn().Txn: it keeps the HTTP status of a
	// refusal (403, 413, 500 ...) as an api.StatusError instead of flattening
	// it into text; a 409 (a check failed) carries the TxnResponse as body.
	var resp api.TxnResponse
	wo := (&api.WriteOptions{}).WithContext(ctx)
	_, err := k.client.Raw().Write("/v1/txn", txn, &resp, wo)
	var status api.StatusError
	if errors.As(err, &status) && status.Code == http.StatusConflict {
		var rolledBack api.TxnResponse
		if jerr := json.Unmarshal([]byte(status.Body), &rolledBack); jerr != nil {
			return nil, k.wrap("txn", err)
		}
		return nil, k.txnFailed(ops, rolledBack.Errors)
	}
	if err != nil {
		return nil, k.wrap("txn", err)
	}
	return k.txnResults(ops, resp.Results)
}

// txnFailed turns a rolled-back transaction's errors into the error for its
// first failing op. Consul reports every failing op (it runs them all before
// rolling back); the first is the one boltkv would report.
func (k *KV) txnFailed(ops []store.Op, errs api.TxnErrors) error {
	if len(errs) == 0 {
		return fmt.Errorf("consulkv: txn rolled back without saying why")
	}
	first := slices.MinFunc(errs, func(a, b *api.TxnError) int { return a.OpIndex - b.OpIndex })
	i := first.OpIndex
	if i < 0 || i >= len(ops) {
		return fmt.Errorf("consulkv: txn failed at op %d of %d: %s", i, len(ops), redact(first.What, k.cfg.Token))
	}
	op := ops[i]
	// Per-op ACL denials come back as text only, from Consul's
	// acl.PermissionDeniedError; there is no code to test instead.
	if strings.HasPrefix(first.What, "Permission denied") {
		return k.permissionDenied(fmt.Sprintf("%s %q", op.Verb, op.Key), first.What)
	}
	switch op.Verb {
	case store.OpCAS, store.OpDeleteCAS, store.OpCheckIndex, store.OpCheckNotExists:
		return &store.TxnError{OpIndex: i, Op: op}
	}
	return fmt.Errorf("consulkv: txn op %d (%s %s) failed: %s", i, op.Verb, op.Key, redact(first.What, k.cfg.Token))
}

// txnResults maps Consul's results back onto ops. Consul returns them in op
// order but only for the ops whose verb leaves an entry (see hasResult), so
// walk both lists together and check each result's key.
func (k *KV) txnResults(ops []store.Op, results api.TxnResults) ([]*store.Pair, error) {
	out := make([]*store.Pair, len(ops))
	j := 0
	for i, op := range ops {
		if !hasResult(op.Verb) {
			continue
		}
		if j >= len(results) || results[j].KV == nil || results[j].KV.Key != k.cfg.Prefix+op.Key {
			if op.Verb == store.OpCheckIndex {
				continue // its result is informative only; tolerate its absence
			}
			return nil, fmt.Errorf("consulkv: txn committed, but its results (%d for %d ops) do not match op %d (%s %s): "+
				"read the key back to learn its index", len(results), len(ops), i, op.Verb, op.Key)
		}
		if op.Verb != store.OpCheckIndex {
			out[i] = &store.Pair{Key: op.Key, Value: op.Value, ModifyIndex: results[j].KV.ModifyIndex}
		}
		j++
	}
	return out, nil
}
