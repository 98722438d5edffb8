// Package logbus carries live task logs from the back end to everyone
// following them: the API's log endpoint (SSE), `aegir task logs -f`, and
// the dispatcher's archiver.
//
// Two buses implement Bus: Memory, in-process (aegir dev, one machine),
// and Redis, on Redis Streams (aegir server, back ends on Nomad).
//
// # Redis Streams layout
//
//	<prefix>log:<task id>   one stream per task
//	  <ms>-<seq>  time=<RFC 3339>  level=info|warn|error|debug  msg=<text>
//	  ...
//	  <ms>-<seq>  end=1                                    the end marker
//
// Appends are Lua scripts (one round trip each): XADD with MAXLEN ~
// (default 100,000 lines, so a runaway task cannot fill Redis), refused
// once the end marker is there, and a PEXPIRE of IdleTTL (7 days) so a log
// nobody ends goes away. End adds the marker once and sets EndTTL (24h).
// Delete (after the dispatcher archived the log) is DEL.
//
// Read is XRANGE after the reader's id for lines already there, then one
// blocking XREAD of up to wait for the live tail, so a follower that
// joins late gets the whole log then the tail, and one that reconnects
// resumes after the last id it saw (the SSE Last-Event-ID). It reads one
// entry more than asked so it can say "done" on the page whose next entry
// is the end marker. Each blocked follower holds one Redis connection;
// size the client's PoolSize for the followers at once.
//
// # A Redis restart mid-task: where the log survives
//
// Production Redis for aegir may run without persistence, so a restart
// wipes every stream. Writers therefore go through a BufferedAppender (or
// BufferedBus, one appender per task), which makes the back end's process
// the durable copy of its own log until the log has ended:
//
//  1. Append queues the line in memory (bounded: QueueLines, default
//     10,000; only then does Append block) and one goroutine sends the
//     queue in order in batches. While Redis is unreachable it retries
//     with backoff (50ms doubling to 2s); order is kept.
//  2. Every line that reached Redis stays in the appender (KeepLines,
//     default MaxLen, and KeepBytes, 64 MiB) with the id Redis gave it.
//  3. Each batch's script first checks that the appender's last line is
//     still in the stream. If it is not, Redis lost the stream or its tail
//     (restart without persistence, FLUSHALL, an AOF that lost its last
//     second), and the script answers LOST with the newest entry it still
//     has from before. The appender then sends the lost lines again with
//     their original ids (XADD with an explicit id), so the stream is
//     exactly what it was and a follower resuming after an id it had seen
//     neither misses nor repeats a line. If someone else appended in the
//     meantime (the dispatcher's own "aegir: ..." lines), an id can no
//     longer be reused and the line gets a fresh one; order is kept.
//  4. End sends whatever is queued, makes the same check, and adds the end
//     marker. So when End returns the stream is whole, and the dispatcher
//     archives it into the store (scheduler/tasklog) right away; from
//     then on reading the log never needs Redis.
//
// A process that stops calls BufferedBus.Shutdown, not Close: Append only
// queues, so the lines written last (the dispatcher's note that it hands a
// running task over) may still be queued or on their way; Shutdown sends
// them, for as long as its ctx allows, before it stops the appenders.
//
// What can still be lost, by design:
//
//   - Lines the appender had let go of (a log past KeepLines/KeepBytes)
//     when Redis loses them: the resent log starts with a warning line
//     saying how many are missing.
//   - A Redis wipe between End and the archive (milliseconds after the
//     task ends, in the dispatcher's process): the archive gets what Redis
//     still has. BufferedAppender.Lines returns what the appender kept, for
//     a writer in the dispatcher's own process that wants to archive from
//     it instead. A back end on another machine that must close this gap
//     too should put its log into its result record.
//   - A batch whose reply was lost on a connection that broke after Redis
//     applied it is sent again: with persistence on, those lines can appear
//     twice; they are never lost.
//   - Memory of the writing process: the appender's bounds above.
//   - Lines still unsent when a stopping process's Shutdown gives up
//     (aegir server waits 5 s for a Redis that does not answer): the
//     server's log says how many.
package logbus
