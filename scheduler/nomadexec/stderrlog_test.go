package nomadexec

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aegirhq/aegir/internal/testharness"
)

// A back end's stderr becomes the lines its Redis sink would have sent:
// JSON lines as the sink parses them, other text (a Go panic) kept as
// plain lines, at level error from the panic on, never dropped.
func TestStderrLines(t *testing.T) {
	out := `{"time":"2026-12-07T09:00:00Z","level":"ERROR","msg":"cannot send the log and result to redis","err":"redis password_file /secrets/redis-password is empty","task":"06h4x1akag0824c5evsw"}
a line of plain text

{"time":"2026-12-07T09:00:01Z","level":"info","msg":"backup written","bytes":1234}
panic: runtime error: index out of range

goroutine 1 [running]:
`
	lines, total := stderrLines([]byte(out), false)
	want := []struct{ level, msg string }{
		{"error", `cannot send the log and result to redis err="redis password_file /secrets/redis-password is empty"`},
		{"info", "a line of plain text"},
		{"info", "backup written bytes=1234"},
		{"error", "panic: runtime error: index out of range"},
		{"error", "goroutine 1 [running]:"},
	}
	if total != len(want) || len(lines) != len(want) {
		t.Fatalf("%d lines of %d, want %d: %+v", len(lines), total, len(want), lines)
	}
	for i, w := range want {
		if lines[i].Level != w.level || lines[i].Msg != w.msg {
			t.Errorf("line %d: %s %q, want %s %q", i, lines[i].Level, lines[i].Msg, w.level, w.msg)
		}
	}
	if lines[1].Time != lines[0].Time || lines[0].Time.IsZero() {
		t.Errorf("a plain line is not timed as the JSON line before it: %v, %v", lines[1].Time, lines[0].Time)
	}

	// Read from inside a line (the tail of a long stderr): that line is
	// left out.
	lines, total = stderrLines([]byte(`msg":"half a line"}`+"\n"+`{"level":"info","msg":"whole"}`), true)
	if total != 1 || lines[0].Msg != "whole" {
		t.Errorf("cut stderr: %d lines %+v", total, lines)
	}
}

// Past maxCopiedLines the last lines are kept, and the note says how many
// were left out and where they all are.
func TestStderrLinesCapped(t *testing.T) {
	var b strings.Builder
	for i := range maxCopiedLines + 7 {
		fmt.Fprintf(&b, `{"level":"info","msg":"line %d"}`+"\n", i)
	}
	lines, total := stderrLines([]byte(b.String()), false)
	if total != maxCopiedLines+7 || len(lines) != maxCopiedLines || lines[0].Msg != "line 7" {
		t.Fatalf("%d lines of %d, first %q", len(lines), total, lines[0].Msg)
	}
	const alloc = "1a2b3c4d-0000-0000-0000-000000000000"
	for _, tc := range []struct {
		copied, total int
		cut           int64
		want          string
	}{
		{3, 3, 0, "3 log lines copied from allocation 1a2b3c4d's stderr (the back end's Redis sink failed, so they had not reached this log)"},
		{len(lines), total, 0, "; capped: its first 7 lines were left out (nomad alloc logs -stderr " + alloc + " has them all)"},
		{len(lines), len(lines), 99, "; capped: its first 99 bytes were left out ("},
		{len(lines), total, 99, "; capped: its first 99 bytes and the 7 lines after them were left out ("},
	} {
		if got := copyNote(alloc, tc.copied, tc.total, tc.cut); !strings.Contains(got, tc.want) {
			t.Errorf("copyNote(%d, %d, %d) = %q, want it to hold %q", tc.copied, tc.total, tc.cut, got, tc.want)
		}
	}
	if got := copyNote(alloc, 3, 3, 0); strings.Contains(got, "capped") {
		t.Errorf("an uncapped copy says %q", got)
	}
}

// Whatever a back end wrote on its stderr, the copy is bounded, valid
// UTF-8, and keeps every non-empty line.
func FuzzStderrLines(f *testing.F) {
	for _, s := range testharness.HostileInputs {
		f.Add([]byte(s), false)
		f.Add([]byte(`{"level":"info","msg":`+strconv.Quote(s)+"}\n"+s+"\n"), true)
	}
	f.Add([]byte(`{"level":"info","msg":"x"}`+"\npanic: boom\n"), false)
	f.Add([]byte("half\n{\"msg\":\"\xff\"}\n\r\n"), true)
	f.Fuzz(func(t *testing.T, out []byte, cut bool) {
		lines, total := stderrLines(out, cut)
		if len(lines) > maxCopiedLines || len(lines) > total {
			t.Fatalf("%d lines of %d", len(lines), total)
		}
		for _, l := range lines {
			if !utf8.ValidString(l.Msg) || l.Msg == "" {
				t.Fatalf("line %q", l.Msg)
			}
		}
		if !cut && total != nonEmptyLines(out) {
			t.Fatalf("%d lines from %d non-empty ones in %q", total, nonEmptyLines(out), out)
		}
	})
}

func nonEmptyLines(out []byte) int {
	n := 0
	for _, l := range strings.Split(string(out), "\n") {
		if strings.TrimSpace(l) != "" {
			n++
		}
	}
	return n
}
