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

// ValidID reports whether id is a line id a reader may resume after:
// "" (from the start), "<n>" or "<n>-<seq>" in decimal. Less sorts any
// other string as the zero id, so a reader that passed one on would
// silently start again from the first line.
func ValidID(id string) bool {
	if id == "" {
		return true
	}
	ms, seq, hasSeq := strings.Cut(id, "-")
	if _, err := strconv.ParseUint(ms, 10, 64); err != nil || !digits(ms) {
		return false
	}
	if !hasSeq {
		return true
	}
	_, err := strconv.ParseUint(seq, 10, 64)
	return err == nil && digits(seq)
}

// digits reports whether s is made of ASCII digits only (ParseUint also
// accepts a leading '+').
func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
