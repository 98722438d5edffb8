package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Suggest returns the candidate word most likely meant by a mistyped word:
// the plural or singular of a candidate ("sites" for "site"), or the
// nearest by edit distance when it is close (at most one edit in four
// letters, two at most). It returns "" when no candidate is close.
func Suggest(word string, candidates []string) string {
	w := strings.ToLower(word)
	if w == "" {
		return ""
	}
	best, bestD := "", 0
	for _, c := range candidates {
		lc := strings.ToLower(c)
		if lc == w || lc+"s" == w || lc == w+"s" {
			return c
		}
		d := editDistance(w, lc)
		if best == "" || d < bestD {
			best, bestD = c, d
		}
	}
	limit := min(max(len(w)/4, 1), 2)
	if best == "" || bestD > limit {
		return ""
	}
	return best
}

// didYouMean is ` (did you mean "x"?)` for Suggest's answer, or "".
func didYouMean(word string, candidates []string) string {
	if s := Suggest(word, candidates); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return ""
}

// editDistance is the Damerau-Levenshtein distance of a and b (an adjacent
// swap counts as one edit), on bytes: names are ASCII.
func editDistance(a, b string) int {
	// d[i][j]: distance of a[:i] and b[:j]; three rows suffice.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// verbNames lists a noun's verbs, for suggestions.
func (n *noun) verbNames() []string {
	out := make([]string, len(n.verbs))
	for i, v := range n.verbs {
		out[i] = v.name
	}
	return out
}

// refTypo turns the API's refusal of a name a flag gave (an error on the
// flag's field, such as "platform") into a usage error naming the near
// name that was probably meant, when there is one; otherwise it returns
// err as it is. refs' keys are the API's field names.
func refTypo(ctx context.Context, c *api, err error, refs ...refFlag) error {
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status < 400 || ae.Status >= 500 || ae.Status == http.StatusForbidden {
		return err
	}
	for _, rf := range refs {
		if rf.ref == "" || (ae.Field != rf.key && ae.Field != rf.key+"_id") {
			continue
		}
		var ue *usageError
		if _, ferr := rf.r.idOf(ctx, c, rf.ref); errors.As(ferr, &ue) {
			return ferr
		}
	}
	return err
}
