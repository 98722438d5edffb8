// Package boltkv is the embedded store.KV backend: one bbolt file under the
// data dir, used by `aegir dev` and single-machine installs.
//
// # Layout
//
// Bucket "kv" holds the data: each value is stored behind an 8-byte
// big-endian header carrying its ModifyIndex. Bucket "meta" holds "index",
// the store's global index. A fresh file starts at index 1 so no answer ever
// carries 0 (which Watch reads as "answer at once").
//
// # Indexes
//
// Like Consul's raft index, the global index grows by one per committed
// write transaction, and every key a transaction writes gets that index as
// its ModifyIndex. A transaction that changes nothing (only checks, or
// deletes of missing keys) does not move it. List returns the global index,
// which covers every ModifyIndex it returns.
//
// Checks follow Consul so code that passes here passes there: CAS index 0
// means create-if-absent, a CAS with an index on a missing key fails, a
// check-index on a missing key fails, a delete-cas of a missing key
// succeeds, a set or CAS of the value a key already holds is no change (the
// key keeps its ModifyIndex and no watcher wakes); later ops in a
// transaction see earlier ones. A failing check
// aborts the bbolt transaction, so nothing is written, and Txn returns a
// *store.TxnError for the first failing op.
//
// # Watch
//
// bbolt has no notifications, so the KV keeps an in-memory change log: one
// entry per commit with the index and the keys it wrote or deleted (the
// last Config.ChangeLog commits), and a channel closed and replaced on every
// commit. Txn holds a mutex across the bbolt commit and the change-log
// append, so the log is in index order. Watch(prefix, i) wakes on each
// commit and returns only when an entry after i touches prefix, so writes
// elsewhere do not wake it. Deletions count because the log records keys,
// not values.
//
// The index Watch returns is the global index read in the same bbolt
// transaction as the list (at least every ModifyIndex in it, and greater
// than i when something changed). When Config.WaitTime passes with no
// change under prefix it returns the list with i itself, so callers
// comparing indexes see no change. An index the log cannot judge (older
// than its first entry, for instance from before this process opened the
// file, or ahead of the store's index) gets an answer at once with the
// global index: a spurious wakeup, which the contract allows, never a
// missed one. If the list read sees a commit not yet in the log, the global
// index is returned for the same reason.
//
// # Durability and speed
//
// One writer at a time (bbolt's own rule); every commit is fsynced unless
// Config.NoSync. The freelist is not synced (NoFreelistSync) and is a
// hashmap, which makes commits cheaper; bbolt rebuilds it on Open by
// scanning the file, which is fast at the sizes aegir stores.
package boltkv
