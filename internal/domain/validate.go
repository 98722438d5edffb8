package domain

import (
	"path"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// MaxAliases bounds how many aliases one site may have. An edit that
// replaces every alias deletes and creates one index key per name in a single
// store transaction, and 2×(25+1) keys plus the site, its task and its
// audit entry (two keys) stay under Consul's limit of 64 operations.
const MaxAliases = 25

var idnaProfile = idna.New(
	idna.MapForLookup(),
	idna.Transitional(false),
	idna.StrictDomainName(true),
	idna.BidiRule(),
	idna.ValidateLabels(true),
	idna.VerifyDNSLength(true),
)

// NormalizeDomain checks that s is an RFC 1123 host name of at least two
// labels and returns it lowercased, with an IDN converted to punycode. It
// accepts only the letters a-z, digits, hyphens and dots after conversion, so
// the result is safe to place in a vhost, a Host header or a store key.
func NormalizeDomain(s string) (string, error) {
	const field = "domain"
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(s, ".")
	if s == "" {
		return "", Invalid(field, "is empty")
	}
	if len(s) > 253*4 {
		return "", Invalid(field, "is longer than 253 characters")
	}
	if !utf8.ValidString(s) {
		// The IDNA mapping turns invalid bytes into a label it then
		// refuses, so such a domain would not normalise to itself.
		return "", Invalid(field, "%q is not valid UTF-8", Clip(s))
	}
	ascii, err := idnaProfile.ToASCII(s)
	if err != nil {
		return "", Invalid(field, "%q is not a valid host name (letters, digits, hyphens and dots only): %v", Clip(s), err)
	}
	ascii = strings.ToLower(ascii)
	if len(ascii) > 253 {
		return "", Invalid(field, "%q is longer than 253 characters", Clip(s))
	}
	labels := strings.Split(ascii, ".")
	if len(labels) < 2 {
		return "", Invalid(field, "%q needs at least two labels, like example.com", Clip(s))
	}
	if allDigits(labels[len(labels)-1]) {
		// 127.0.0.1, 10.1.2.3, 0x7f.1: no top-level domain is numeric, so
		// this is an address; a site on it would answer for that Host.
		return "", Invalid(field, "%q is an IP address, not a domain: sites are served by name; use a domain that points at the server", Clip(s))
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return "", Invalid(field, "%q has an empty label or one longer than 63 characters", Clip(s))
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return "", Invalid(field, "%q has a label that starts or ends with a hyphen", Clip(s))
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", Invalid(field, "%q may contain only letters, digits, hyphens and dots", Clip(s))
			}
		}
	}
	return ascii, nil
}

// allDigits reports whether label is made of decimal digits only.
func allDigits(label string) bool {
	for i := 0; i < len(label); i++ {
		if label[i] < '0' || label[i] > '9' {
			return false
		}
	}
	return label != ""
}

// ValidateName checks an entity name (client, server, platform, user):
// 1 to 63 characters of a-z, 0-9, '-' and '_', starting with a letter or a
// digit. Names appear in paths, job ids and database identifiers, hence the
// narrow alphabet.
func ValidateName(field, s string) error {
	if s == "" {
		return Invalid(field, "is empty")
	}
	if len(s) > 63 {
		return Invalid(field, "is longer than 63 characters")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || (i > 0 && (c == '-' || c == '_'))
		if !ok {
			return Invalid(field, "%q may contain only lowercase letters, digits, '-' and '_', and must start with a letter or digit", Clip(s))
		}
	}
	return nil
}

// ValidatePath checks that p is an absolute, clean path made of safe
// characters (letters, digits, '/', '.', '_', '-') and, when roots is not
// empty, that it lies inside one of them.
func ValidatePath(field, p string, roots []string) error {
	if p == "" {
		return Invalid(field, "is empty")
	}
	if len(p) > 1024 {
		return Invalid(field, "is longer than 1024 characters")
	}
	if !path.IsAbs(p) {
		return Invalid(field, "%q must be an absolute path", Clip(p))
	}
	if path.Clean(p) != p {
		return Invalid(field, "%q must be a clean path (no '..', '//' or trailing '/')", Clip(p))
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '/' || c == '.' || c == '_' || c == '-') {
			return Invalid(field, "%q may contain only letters, digits, '/', '.', '_' and '-'", Clip(p))
		}
	}
	if p == "/" {
		return Invalid(field, "must not be the root directory")
	}
	if len(roots) == 0 {
		return nil
	}
	for _, r := range roots {
		if r == "/" || p == r || strings.HasPrefix(p, strings.TrimSuffix(r, "/")+"/") {
			return nil
		}
	}
	return Invalid(field, "%q is outside the allowed roots %v", Clip(p), roots)
}

// Clip shortens user input quoted back in an error message to about 80
// bytes, never cutting a UTF-8 character in half.
func Clip(s string) string {
	if len(s) <= 80 {
		return s
	}
	cut := 80
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
