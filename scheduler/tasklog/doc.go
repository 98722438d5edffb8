// Package tasklog keeps task logs. The back end writes JSON lines on
// stderr; the local executor appends each to the log bus as it arrives
// (a Nomad back end writes to the bus itself), and the dispatcher adds its
// own lines ("aegir: running install on example.com", "aegir: task
// succeeded: …"). When a task finishes, Archive moves its log from the bus
// into the store (zstd, chunked under the store's limits) and deletes the
// live log. TaskLogs reads the archive first and the live bus otherwise,
// so the API can follow a running task and read a finished one without
// the bus.
package tasklog
