// Package store is aegir's repository: typed entities on top of a small KV
// interface (kv.go) with two backends, Consul KV (consulkv) and bbolt
// (boltkv), proven equal by the conformance suite in storetest.
//
// # Keys
//
// Under the backend's prefix (Consul: aegir/v1/ by default):
//
//	<collection>/<id>          one JSON entity: sites/, clients/ ...
//	tasks/<hour>/<id>          one task, by the hour its id was made (taskkeys.go)
//	taskbuckets/<hour>         set by every write to a task of that hour
//	unique/domain/<host>       site id owning that domain or alias
//	unique/<kind>/<name>       id owning a client, server, platform or user name
//	unique/service/<srv>/<t>   the one service of type t on server srv
//	queue/<task id>            a task that is queued or running
//	quotaguards/<client id>    a client's quota guard: its users' unfinished tasks (quotas.go)
//	settings/quotas            the quota defaults an admin set (quotas.go)
//
// # Check-and-set everywhere
//
// Every write is a transaction of check-and-set operations: creates use CAS
// with index 0 (absent), updates CAS on the Version the caller read (the
// key's ModifyIndex), deletes DeleteCAS. Uniqueness of domains and names is
// enforced by creating the unique/ keys in the same transaction as the
// entity, never by reading first: two concurrent creates of one domain race
// on the same key and exactly one wins. A change that needs work on a server
// writes its queued task (tasks/ and queue/) in that same transaction.
//
// # Lists
//
// Lists of sites and tasks are served from an in-memory mirror of their
// collection fed by the backend's Watch (Consul blocking queries), so listing
// 10,000 sites does not fetch 10,000 values per request. The task mirror
// watches only the hour markers and re-reads the hours that changed, so a
// task change does not re-read every task either (taskmirror.go). Read-your-writes
// holds within a process: every transaction also sets meta/writes, whose new
// index tells the mirror how far it must have caught up before it answers; if
// it has not within a short wait, the list falls back to reading the store.
package store
