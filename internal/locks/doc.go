// Package locks gives aegir's processes exclusive, expiring leases with
// fencing tokens, and leadership on top of them.
//
// What aegir locks:
//
//	site/<id>, platform/<id>, server/<id>   one running task per target (the dispatcher)
//	dispatcher                              one active dispatcher per cluster (Elector)
//	queue/<name>                            a periodic queue pass never overlapping itself
//
// Two lockers implement Locker: Memory, in-process (aegir dev, one aegir
// server on one machine), and Redis, for a cluster of aegir servers.
//
// # The Redis lock
//
//	<prefix>lock:{<name>}    random 128-bit token, PX ttl
//	<prefix>fence:{<name>}   the fencing counter of name
//
//	acquire   one Lua script: SET lock token NX PX ttl; only if that
//	          succeeded, INCR fence, raised to at least Redis's clock in
//	          nanoseconds (TIME), and return it
//	renew     every ttl/3: if GET lock == token then PEXPIRE lock ttl
//	release   if GET lock == token then DEL lock
//
// A lease is valid until ttl after the last successful renewal was *sent*
// (measured on the holder's clock, so it never overestimates). If a
// renewal answers "not ours" (the key expired or someone else holds it),
// Lost closes at once; if Redis does not answer, the lease retries every
// ttl/12 and closes Lost ttl/10 before the lease could have run out in
// Redis, so a holder cut off from Redis stops before anyone else can take
// the lock (TestRedisPartitionedHolderStopsBeforeExpiry).
//
// # Fencing tokens, and why a lock alone is not enough
//
// A lease that expires while its holder is paused (GC, swapped out, VM
// frozen, a stalled disk) lets a second holder in while the first still
// believes it holds the lock. No lock service can prevent this; the
// resource has to refuse the stale holder (Kleppmann, "How to do
// distributed locking"). In aegir the resource is the store: the
// dispatcher passes the lease's Fence to store.StartTask, which records it
// as the newest token of the task's target, and store.FinishTask refuses
// a result from a task whose token is older than the newest recorded
// (store.ErrStaleFence). The check is in the same transaction as the
// write, so a stalled dispatcher can neither start work nor apply a
// result after a newer holder started (TestRedisPausedHolderIsFencedOut).
//
// Fences must only grow. INCR gives that while Redis keeps its data; the
// floor of Redis's clock in nanoseconds keeps it when Redis restarts
// without persistence and the counter starts over: the next token is
// then at least "now", above every earlier token (which were at most
// "then" plus the few acquisitions since). The in-process locker uses the
// same scale (wall clock in nanoseconds at its start), so moving a store
// from Memory to Redis keeps its recorded fences below the new ones.
// Fences are decimal strings in the script because Lua's doubles cannot
// hold 19-digit integers; they fit uint64 until the year 2262.
//
// # Leadership
//
// Elector keeps trying (every ttl/4) to take the lock "dispatcher"; the
// process that holds it runs the dispatcher with a context cancelled when
// the lease is lost, waits for it to return, and only then releases and
// campaigns again, so one process never runs two dispatchers. A leader
// that stops cleanly releases the lock and another takes over within one
// retry interval; a leader that dies or is cut off is replaced once its
// lease runs out: within ttl + ttl/4 (TestElectorHandOverOnRedis).
// IsLeader says whether this process leads; CampaignErr why it could not
// even try (Redis unreachable), as against another process holding the
// lock: aegir's status view tells the two apart with them.
//
// # Failure modes and what aegir does
//
//   - Leader (or lock holder) pauses past its lease: another process takes
//     the lock with a higher fence and starts work. When the paused one
//     wakes, its renewal finds another token and Lost closes (the
//     dispatcher stops the back end, the elector cancels the leader's
//     context), and any write it attempts before noticing carries its old
//     fence and is refused by the store. Cost: the stalled task's result
//     is discarded and the task ends failed; the newer holder's work
//     stands.
//   - Holder dies (crash, kill -9, machine gone): nothing renews; the lock
//     expires after at most ttl and another process takes it. Its running
//     tasks are failed by the new dispatcher's reap ("runner is gone").
//   - Network partition between a holder and Redis: renewals fail; Lost
//     closes ttl/10 before the lease can expire, the holder stops its work
//     and, being unable to reach Redis, cannot take any lock until the
//     partition heals. The other side takes over after the expiry. A
//     holder partitioned from Redis but not from the store is the paused
//     holder above: fencing is the backstop.
//   - Redis restarts without persistence: every lock and fence counter is
//     gone. Holders' next renewal finds their key missing and Lost closes
//     (at most ttl/3 later); meanwhile another process may take the lock
//     at once — with a higher fence thanks to the clock floor, so the store
//     accepts only the new holder. Running tasks of the old holders are
//     stopped and fail with "lost the task's lock"; queued ones run again.
//   - Redis restarts with persistence (AOF): locks and counters survive,
//     up to the last fsync; the clock floor covers a counter that went
//     back.
//   - Redis unreachable: nobody can take or keep a lock; holders stop
//     before their leases could expire; no task starts until it is back.
//   - Redis's clock steps back across a restart without persistence:
//     fences could repeat or go back; the store then refuses the new
//     holder (ErrStaleFence) — safe, but the target stays blocked until the
//     clock catches up. Run Redis with a synchronised clock.
//   - Redis Cluster or a failover to a replica: a replica may not have
//     the last lock write (replication is asynchronous), so two holders are
//     possible right after a failover; fencing in the store still decides.
//     Keys of one lock share a hash slot ({name}), as the script needs.
//   - Memory locker: leases never expire while held (only Revoke and
//     Close end them); every holder dies with the process.
package locks
