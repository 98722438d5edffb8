package logbus

import (
	"strconv"
	"strings"
)

// Less reports whether line id a comes before b. Ids are "<n>-<seq>":
// in-process ids are "<n>-0", Redis stream ids "<ms>-<seq>"; "", "0" and
// "0-0" mean "before every line". Both parts compare as numbers, so "10-0"
// comes after "9-0" (a string comparison would say otherwise). A malformed
// id sorts as the zero id.
func Less(a, b string) bool {
	am, as := parseID(a)
	bm, bs := parseID(b)
	if am != bm {
		return am < bm
	}
	return as < bs
}

// parseID splits an id into its two numbers; a missing sequence is 0.
func parseID(id string) (uint64, uint64) {
	ms, seq, _ := strings.Cut(id, "-")
	m, err := strconv.ParseUint(ms, 10, 64)
	if err != nil {
		return 0, 0
	}
	if seq == "" {
		return m, 0
	}
	s, err := strconv.ParseUint(seq, 10, 64)
	if err != nil {
		return 0, 0
	}
	return m, s
}
