package control

import (
	"context"
	"regexp"
	"slices"
	"strings"

	"github.com/aegirhq/aegir/internal/domain"
)

// A task's own words (its log lines, explanation, fix hint and summary)
// are written for the operator and name what only admins may see:
// directories on the servers ("The site directory /srv/... is missing",
// "backup written path=/var/lib/aegir/backups/..."), server addresses
// (a database server that did not answer at 10.0.0.5:3306) and service
// settings (their paths). A client user gets them through a redactor:
// every absolute path and every IPv4 address is replaced, and so is each
// server's address as stored where it stands alone (a host name the
// patterns cannot know).

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
	hiddenPath    = "(path hidden)"
	hiddenAddress = "(address hidden)"
)

// Redactor returns the function a task's text goes through before the
// actor sees it: nil for an admin (everything as written), otherwise one
// that hides paths and server addresses (see above).
func (s *Tasks) Redactor(ctx context.Context, a Actor) (func(string) string, error) {
	if a.Admin() {
		return nil, nil
	}
	servers, err := s.st.ListServers(ctx)
	if err != nil {
		return nil, err
	}
	var addrs []string
	for _, srv := range servers {
		if srv.Address != "" {
			addrs = append(addrs, srv.Address)
		}
	}
	// Longest first, so "db1.example.com" goes before "db1".
	slices.SortFunc(addrs, func(x, y string) int { return len(y) - len(x) })
	return func(text string) string {
		text = absPath.ReplaceAllString(text, "${1}"+hiddenPath)
		text = ipv4.ReplaceAllString(text, hiddenAddress)
		for _, ad := range addrs {
			text = replaceHost(text, ad, hiddenAddress)
		}
		return text
	}, nil
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

// redactTasks passes the text of tasks through the actor's redactor.
func (s *Tasks) redactTasks(ctx context.Context, a Actor, tasks []domain.Task) error {
	r, err := s.Redactor(ctx, a)
	if err != nil || r == nil {
		return err
	}
	for i := range tasks {
		redactTask(r, &tasks[i])
	}
	return nil
}

// redactOne passes one task's text through the actor's redactor.
func (s *Tasks) redactOne(ctx context.Context, a Actor, t *domain.Task) error {
	r, err := s.Redactor(ctx, a)
	if err != nil || r == nil {
		return err
	}
	redactTask(r, t)
	return nil
}

func redactTask(r func(string) string, t *domain.Task) {
	t.Explanation, t.FixHint, t.Summary = r(t.Explanation), r(t.FixHint), r(t.Summary)
}
