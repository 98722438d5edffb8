package nomadexec

import (
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
)

// A back end's stdout is taken for a result only when its last line is a
// finished result of the same task: Nomad answers a missing log file with
// its error text, and a result of another task or without a final status
// is no result of this one.
func TestParseStdoutResult(t *testing.T) {
	const id = "06h4x1akag0824c5evsw"
	ok := `{"version":1,"task_id":"` + id + `","status":"succeeded","summary":"installed"}`
	for _, tc := range []struct {
		name string
		out  string
		want domain.TaskStatus
	}{
		{"the result", ok + "\n", domain.TaskSucceeded},
		{"after other lines", "a warning\n\n" + ok + "\n\n", domain.TaskSucceeded},
		{"failed", `{"task_id":"` + id + `","status":"failed","error_code":"files_failed"}`, domain.TaskFailed},
		{"nomad's error text", "stat /var/nomad/alloc/x/alloc/logs/provision.stdout.0: no such file or directory", ""},
		{"empty", "", ""},
		{"another task", `{"task_id":"06h4x1akag0824c5evsx","status":"succeeded"}`, ""},
		{"no task id", `{"status":"succeeded"}`, ""},
		{"still running", `{"task_id":"` + id + `","status":"running"}`, ""},
		{"cut short", ok[:len(ok)/2], ""},
	} {
		res := parseStdoutResult([]byte(tc.out), id)
		switch {
		case tc.want == "" && res != nil:
			t.Errorf("%s: took %+v", tc.name, res)
		case tc.want != "" && (res == nil || res.Status != tc.want):
			t.Errorf("%s: %+v, want status %s", tc.name, res, tc.want)
		}
	}
}
