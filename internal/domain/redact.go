package domain

import (
	"regexp"
	"slices"
	"strings"
)

// What a client user may not see in a task's own words (its log lines,
// explanation, fix hint and summary, and the notifications that carry
// them): directories on the servers, server addresses. See
// internal/control/redact.go for where it applies.

// absPath matches an absolute path after a separator (the start, a
// space, "=", a quote, a bracket or a comma): "/" and a character that is
// not another "/", up to the next space, quote or bracket. A URL's
// slashes follow a colon, so "https://x/y" is left as it is.
var (
	absPath = regexp.MustCompile(`(^|[\s="'(\[,])/[^\s/"'()\[\],;][^\s"'()\[\],;]*`)
	ipv4    = regexp.MustCompile(`\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b`)
)

// Hidden replaces what a client user may not see in a task's text.
const (
	HiddenPath    = "(path hidden)"
	HiddenAddress = "(address hidden)"
)

// ClientRedactor returns the function a task's text goes through before a
// client user sees it: every absolute path and IPv4 address is replaced,
// and so is each of serverAddrs where it stands alone (a host name the
// patterns cannot know).
func ClientRedactor(serverAddrs []string) func(string) string {
	addrs := slices.Clone(serverAddrs)
	// Longest first, so "db1.example.com" goes before "db1".
	slices.SortFunc(addrs, func(x, y string) int { return len(y) - len(x) })
	return func(text string) string {
		text = absPath.ReplaceAllString(text, "${1}"+HiddenPath)
		text = ipv4.ReplaceAllString(text, HiddenAddress)
		for _, ad := range addrs {
			text = replaceHost(text, ad, HiddenAddress)
		}
		return text
	}
}

// replaceHost replaces host in text where it stands alone, not where it
// is part of a longer name: the server "localhost" is hidden, the site
// "hello.localhost" is not.
func replaceHost(text, host, with string) string {
	nameByte := func(c byte) bool {
		return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c >= 0x80
	}
	var b strings.Builder
	for {
		i := strings.Index(text, host)
		if i < 0 {
			b.WriteString(text)
			return b.String()
		}
		end := i + len(host)
		before := i == 0 || !nameByte(text[i-1]) && text[i-1] != '.'
		after := end == len(text) || !nameByte(text[end]) && (text[end] != '.' || end+1 == len(text) || !nameByte(text[end+1]))
		b.WriteString(text[:i])
		if before && after {
			b.WriteString(with)
		} else {
			b.WriteString(host)
		}
		text = text[end:]
	}
}
