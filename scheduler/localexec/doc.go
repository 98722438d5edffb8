// Package localexec is the executor that runs each task's back end
// (`aegir provision run`) as a child process of this aegir process, on
// this machine (`aegir dev`, and `aegir server` with executor local).
//
// The child gets the task's context on stdin, writes its log as JSON
// lines on stderr (appended to the log bus as they arrive) and its result
// on stdout. It runs in a process group of its own, so Cancel stops
// everything it started (SIGTERM, then SIGKILL after KillGrace), and with
// a parent-death signal, so it dies with aegir: the executor cannot
// reattach (CanReattach is false) and the dispatcher fails the tasks of a
// restarted process whose runner is gone. The runner handle
// "local:<host>:<pid>:<start>" names the process with its start time, so
// Alive is not fooled by a reused pid.
//
// A child that ends without a usable result (killed, crashed, printed
// something else) gives a NoResultError with its exit and last log lines.
package localexec
