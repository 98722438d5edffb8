package nomadexec

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/aegirhq/aegir/internal/provision"
)

// backEndTask is the task of the aegir-task job that runs the back end
// (jobspecs/aegir-task.nomad.hcl); its stdout is the allocation's
// alloc/logs/<task>.stdout.0.
const backEndTask = "provision"

// maxStdoutResult bounds what is read of a back end's stdout: it prints
// exactly one result line, a few KiB.
const maxStdoutResult = 1 << 20

// resultFromStdout reads the result a back end printed on its stdout, for
// an allocation that ended without leaving one in Redis (the back end
// could not reach Redis, or Redis lost the record). Every back end prints
// its result there too, redacted as in Redis. It needs the read-fs
// capability (ops/nomad/aegir-policy.hcl); nil when the allocation's
// files are gone (node down, garbage-collected), the capability is
// missing, or the output holds no result of this task.
//
// A back end that exited 0 (settle) printed its result, so its output is
// read again a few times, for up to stdoutSettle, in case Nomad's log
// collector has not written the line yet; any other is read once.
func (r *nomadRun) resultFromStdout(allocID string, settle bool) *provision.Result {
	ctx, cancel := context.WithTimeout(context.Background(), stdoutSettle+15*time.Second)
	defer cancel()
	q := (&api.QueryOptions{}).WithContext(ctx)
	alloc, _, err := r.e.api.Allocations().Info(allocID, q)
	if err != nil {
		r.e.log.Warn("read a back end's stdout for its result", "task", r.taskID, "alloc", shortID(allocID), "err", err)
		return nil
	}
	deadline := time.Now()
	if settle {
		deadline = deadline.Add(stdoutSettle)
	}
	for wait := 100 * time.Millisecond; ; wait *= 2 {
		if res, err := r.catResult(alloc, q); res != nil || err != nil || time.Now().Add(wait).After(deadline) {
			if err != nil {
				r.e.log.Warn("read a back end's stdout for its result", "task", r.taskID, "alloc", shortID(allocID), "err", err)
			}
			return res
		}
		select {
		case <-time.After(wait):
		case <-r.detachCh:
			return nil
		}
	}
}

// stdoutSettle bounds how long resultFromStdout waits for a back end's
// stdout to hold its result.
const stdoutSettle = 5 * time.Second

func (r *nomadRun) catResult(alloc *api.Allocation, q *api.QueryOptions) (*provision.Result, error) {
	rc, err := r.e.api.AllocFS().Cat(alloc, fmt.Sprintf("alloc/logs/%s.stdout.0", backEndTask), q)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxStdoutResult))
	if err != nil {
		return nil, err
	}
	return parseStdoutResult(b, r.taskID), nil
}

// parseStdoutResult returns the result in a back end's stdout (its last
// non-empty line) when it is a result of task taskID with a final status;
// nil otherwise (Nomad answers a missing file with its error text).
func parseStdoutResult(out []byte, taskID string) *provision.Result {
	out = bytes.TrimSpace(out)
	if i := bytes.LastIndexByte(out, '\n'); i >= 0 {
		out = out[i+1:]
	}
	var res provision.Result
	if len(out) == 0 || out[0] != '{' || json.Unmarshal(out, &res) != nil {
		return nil
	}
	if res.TaskID != taskID || !res.Status.Done() {
		return nil
	}
	return &res
}
