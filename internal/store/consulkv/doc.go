// Package consulkv is the production store.KV backend: Consul KV through
// github.com/hashicorp/consul/api.
//
// # Keys
//
// Keys given to the KV are relative. Every key is stored under
// Config.Prefix ("aegir/v1/" by default) and comes back with it stripped,
// so several installs, or tests, can share one Consul by prefix.
//
// # Indexes
//
// ModifyIndex is Consul's: the raft index of the write, the same for every
// key of one transaction. List and Watch return X-Consul-Index for the
// prefix: the highest ModifyIndex under it, or of a tombstone a delete left
// under it, so it moves on deletions too. Two Consul rules the suite pins
// (and boltkv copies): writing the value a key already holds is not a write
// (its ModifyIndex stays and no watcher wakes), and a delete-cas of a
// missing key succeeds. A prefix that never held a key has no index of its
// own and reports the whole KV table's index, so a Watch on it wakes on any
// write anywhere: a spurious wakeup, which the contract allows. The index
// can go backwards when Consul reaps tombstones (after 15 minutes by
// default) or after a snapshot restore; callers that see a smaller index
// should treat it as a change, which comparing for equality does.
//
// # Reads: default mode, not consistent
//
// Get and List use Consul's default consistency mode: the request is
// forwarded to the leader, which answers from its state without first
// confirming with a quorum that it is still leader. A write returns only
// once the leader has applied it, so a read after a write sees it, on one
// server always, on a cluster except in the short window where a deposed
// leader does not yet know it is deposed. A stale read there cannot lose an
// update: every write is a check-and-set, so it fails with ErrCASFailed and
// the caller reads again. Config.Consistent switches to consistent mode
// (one extra quorum round per read) for callers that want it. On one dev
// agent (2 CPUs) a Get took about 0.34 ms in default mode and 0.9 ms in
// consistent mode; on a real cluster the extra round is a network round
// trip to a quorum. Watch is a blocking query in default mode.
//
// Listing is the expensive read: 10,000 values of 600 bytes took 0.5 to
// 0.7 s a List, almost all of it inside Consul (RPC and JSON encoding), so
// code that needs many entities should keep them in memory and follow them
// with Watch rather than List them per request.
//
// # Transactions and their results
//
// Txn sends PUT /v1/txn with one KV op per store op, verbs mapped one to
// one (cas, set, delete-cas, delete, check-index, check-not-exists); CAS
// index 0 is Consul's create-if-absent. It goes through the client's Raw
// API rather than Txn().Txn because the latter flattens every refusal other
// than 409 into text, losing the status that tells a 403 from a 413 or 500.
//
// On 409 (rolled back) Consul lists an error for every failing op, having
// run them all before rolling back; the first one is reported, as a
// *store.TxnError for a checking verb, or as ErrPermissionDenied when its
// text is an ACL denial (the only form Consul gives per-op ACL errors in).
//
// On 200 Consul returns results only for ops that leave an entry in its
// state store: set, cas and check-index get one (value blanked, new
// ModifyIndex), delete, delete-cas and check-not-exists get none. Results
// are in op order, so Txn walks ops and results together, checking each
// result's key, and returns the written pair for each set/cas op and nil
// for the others, as store.KV promises.
//
// Consul also bounds a transaction's request body at 512 KiB (values are
// base64 in it), which store.CheckOps enforces as store.MaxTxnSize before
// sending, so the same transaction fails the same way on bbolt.
//
// # Errors
//
// No answer at all is ErrUnreachable ("cannot reach Consul at ADDR ...");
// an ACL refusal is ErrPermissionDenied (below); 413 is
// store.ErrTxnTooLarge. The errors carry the HTTP status in *Error and never
// the token (it travels in a header; any echo of it is redacted). A Txn that
// failed with ErrUnreachable was not applied when the connection was
// refused; after a timeout or a dropped connection it may or may not have
// been, which the next CAS reveals.
//
// # ACLs
//
// With Consul's ACLs on, the token needs key_prefix write on the prefix and
// nothing else here (ops/consul/aegir-policy.hcl; the store suite passes
// with just that, acl_test.go). A refusal is ErrPermissionDenied, with an
// operator's reading of Consul's text (Consul gives no code): no token set
// (Consul names its anonymous token), a token Consul does not know ("ACL
// not found"), or a token without the permission, each naming the setting
// (store.consul.token, CONSUL_HTTP_TOKEN) and the policy to give. Consul
// refuses a Get outright (403) and a denied op of a transaction in the
// 409's text. A List it answers with the keys the token may read, saying
// so in a header (X-Consul-Results-Filtered-By-ACLs), which List and Watch
// turn into ErrPermissionDenied: a partial list would pass for the whole
// store. Consul sets that header only for a request with a token, so with
// none at all a List sees an empty store and the first write fails.
package consulkv
