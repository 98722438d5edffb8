package web

import (
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// redirectTarget returns p when it is a safe place to send a browser after
// a form (the login's next=, a form's back=), else "/".
//
// A browser does more to a Location than url.Parse does: it drops tabs,
// CRs and LFs anywhere (so "/\t/evil.example" is "//evil.example"), treats
// a backslash like a slash, and some components decode %2f and %5c before
// routing. So only a path on this host is accepted, after refusing
// anything that parsing could turn into another host:
//
//   - control characters, raw or percent-encoded (%09 %0a %0d and any
//     other %00-%1f, %7f), and spaces or other Unicode spaces;
//   - backslashes, raw or as %5c; and %25, an encoded "%" (double
//     encoding such as %252f), so a path with a literal "%" goes to "/";
//   - a start other than exactly one "/" followed by a character that is
//     neither "/" nor "\" (or "/" alone), including an encoded slash (%2f)
//     anywhere in the first segment, and look-alike slashes (U+FF0F,
//     U+2215, U+2044, U+29F8) anywhere;
//   - empty or dot segments in the path ("/.//evil" is "//evil" to a
//     browser);
//   - anything url.Parse reads with a scheme, a host or an opaque part.
func redirectTarget(p string) string {
	if localPath(p) {
		return p
	}
	return "/"
}

// localPath reports whether p passes redirectTarget's checks.
func localPath(p string) bool {
	if p == "/" {
		return true
	}
	if len(p) < 2 || len(p) > 2048 || p[0] != '/' || p[1] == '/' || p[1] == '\\' || !utf8.ValidString(p) {
		return false
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f || r == '\\' || unicode.IsSpace(r) || unicode.Is(unicode.Cc, r) || lookalikeSlash(r) {
			return false
		}
	}
	// Percent-encoded: decode once (and once more, for double encoding)
	// and refuse what the decoded form would smuggle.
	lower := strings.ToLower(p)
	for _, bad := range []string{"%5c", "%25"} {
		if strings.Contains(lower, bad) {
			return false
		}
	}
	dec, err := url.PathUnescape(p)
	if err != nil || len(dec) < 2 || dec[1] == '/' || dec[1] == '\\' {
		return false
	}
	for _, r := range dec {
		if r < 0x20 || r == 0x7f || unicode.IsSpace(r) || lookalikeSlash(r) {
			return false
		}
	}
	// An encoded slash in the first segment could make "//" after one
	// decoding step.
	first, _, _ := strings.Cut(lower[1:], "/")
	if strings.Contains(first, "%2f") {
		return false
	}
	// Dot segments and empty segments: a browser normalises "/.//x" to
	// "//x"; nothing of ours needs them.
	pathPart, _, _ := strings.Cut(p, "?")
	pathPart, _, _ = strings.Cut(pathPart, "#")
	if strings.Contains(pathPart, "//") || strings.Contains(pathPart+"/", "/./") || strings.Contains(pathPart+"/", "/../") {
		return false
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Opaque != "" || u.User != nil {
		return false
	}
	return true
}

// lookalikeSlash reports the characters some browsers or proxies fold to
// "/" (fullwidth, division and fraction slashes, big solidus).
func lookalikeSlash(r rune) bool {
	switch r {
	case '\uff0f', '\u2215', '\u2044', '\u29f8', '\uff3c', '\u2216', '\ufe68':
		return true
	}
	return false
}
