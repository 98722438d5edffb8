package logbus

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ParseJSONLine reads one line the back end wrote on stderr: a JSON
// object {"time","level","msg", ...fields}. The fields other than the
// task's own identity (task, type, target: the same on every line of its
// log) are kept, appended to the message as key=value in key order, so a
// line such as "throwaway database user leased user=t-06h…" or "leasing
// failed err=…" keeps what the operator needs. ok is false for a line that
// is not such an object; ParseLine then keeps it as text.
func ParseJSONLine(raw []byte) (Line, bool) {
	raw = []byte(strings.TrimRight(string(raw), "\r\n"))
	if len(raw) == 0 || raw[0] != '{' {
		return Line{}, false
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil {
		return Line{}, false
	}
	var msg, level string
	if json.Unmarshal(fields["msg"], &msg) != nil || msg == "" {
		return Line{}, false
	}
	_ = json.Unmarshal(fields["level"], &level)
	var t time.Time
	_ = json.Unmarshal(fields["time"], &t)
	if t.IsZero() {
		t = time.Now()
	}
	switch level = strings.ToLower(level); level {
	case "debug", "info", "warn", "error":
	case "warning":
		level = "warn"
	default:
		level = "info"
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		switch k {
		case "time", "level", "msg", "task", "type", "target":
		default:
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString(msg)
	for _, k := range keys {
		b.WriteByte(' ')
		b.WriteString(k)
		b.WriteByte('=')
		var s string
		if json.Unmarshal(fields[k], &s) == nil {
			if s == "" || strings.ContainsAny(s, " \t\"=") {
				s = strconv.Quote(s)
			}
			b.WriteString(s)
		} else {
			b.Write(fields[k]) // numbers, booleans, objects: as JSON
		}
	}
	return Line{Time: t.UTC(), Level: level, Msg: strings.ToValidUTF8(b.String(), "�")}, true
}

// ParseLine is ParseJSONLine, with any other line kept as plain text at
// level info (output of a command the back end ran, say).
func ParseLine(raw []byte) Line {
	if l, ok := ParseJSONLine(raw); ok {
		return l
	}
	return Line{Time: time.Now().UTC(), Level: "info", Msg: strings.ToValidUTF8(strings.TrimRight(string(raw), "\r\n"), "�")}
}
