package web

import (
	"net/url"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/testharness"
)

// openRedirectPayloads are known ways to make a "local" redirect leave
// the host: each must fall back to "/".
var openRedirectPayloads = []string{
	"", "evil.example", "//evil.example", "///evil.example", "/\\evil.example", "\\\\evil.example", "/\\/evil.example",
	"https://evil.example", "http:evil.example", "HTTPS://evil.example", "javascript:alert(1)", "JaVaScRiPt:alert(1)",
	"data:text/html,<script>alert(1)</script>", "//evil.example/%2e%2e", "/%09/evil.example", "/%0a/evil.example",
	"/%0d/evil.example", "/%0D%0A/evil.example", "/\t/evil.example", "\t//evil", "/\n/evil", "/\r/evil", " //evil",
	"/%2f%2fevil.example", "/%2F%2Fevil.example", "/%2fevil.example", "%2F%2Fevil", "%2f%2fevil", "/%5cevil.example",
	"/%5Cevil.example", "/%5c%5cevil.example", "/ /evil", "/%20/evil", "/.//evil", "/./evil", "/../evil", "/a/../../evil",
	"/／evil", "/∕evil", "/⁄evil", "/＼evil", "/%ef%bc%8fevil", "/%e2%88%95evil", "/%00/evil", "/\x00/evil",
	"/%252f%252fevil", "/%25%32%66evil", "/\u00a0/evil", "/\u2028/evil", "/\x7f/evil", "/a//evil",
	"@evil.example", "/@evil.example\\", "/%", "/%zz", "\xff", "/\xff",
}

var goodRedirectTargets = []string{
	"/", "/sites", "/sites/abc", "/tasks?state=failed", "/sites/x?a=b&c=d#top", "/users/01HXYZ",
	"/tasks?next=http://x", "/a.b/c-d_e~f", "/sites?q=%C3%A9",
}

func TestRedirectTarget(t *testing.T) {
	t.Parallel()
	for _, p := range openRedirectPayloads {
		if got := redirectTarget(p); got != "/" {
			t.Errorf("redirectTarget(%q) = %q, want /", p, got)
		}
	}
	for _, p := range goodRedirectTargets {
		if got := redirectTarget(p); got != p {
			t.Errorf("redirectTarget(%q) = %q, want it kept", p, got)
		}
	}
}

func FuzzRedirectTarget(f *testing.F) {
	for _, s := range testharness.HostileInputs {
		f.Add(s)
	}
	for _, s := range append(openRedirectPayloads, goodRedirectTargets...) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := redirectTarget(s)
		if got == "/" {
			return
		}
		if got != s {
			t.Fatalf("redirectTarget(%q) = %q: neither the input nor /", s, got)
		}
		if len(got) < 2 || got[0] != '/' || got[1] == '/' || got[1] == '\\' {
			t.Fatalf("accepted %q: not one / then a path character", s)
		}
		for _, r := range got {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("accepted %q with a control character", s)
			}
		}
		if strings.ContainsRune(got, '\\') {
			t.Fatalf("accepted %q with a backslash", s)
		}
		u, err := url.Parse(got)
		if err != nil || u.Host != "" || u.Scheme != "" {
			t.Fatalf("accepted %q: parses with host %q scheme %q (%v)", s, u.Host, u.Scheme, err)
		}
		// What a browser does first: drop tabs and newlines, read
		// backslashes as slashes, decode once.
		b := strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/").Replace(got)
		if dec, err := url.PathUnescape(b); err == nil && strings.HasPrefix(dec, "//") {
			t.Fatalf("accepted %q: a browser may read it as %q", s, dec)
		}
	})
}
