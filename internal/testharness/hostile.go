package testharness

import "strings"

// HostileInputs are the inputs a hostile tenant and a careless operator
// sent when aegir was probed (issue 14), and their kin: open-redirect
// targets, IP addresses and homographs as domains, traversal paths,
// injection into nginx config, SQL and shells, control characters and
// invalid UTF-8. Every fuzz target adds them to its seed corpus (a test,
// TestFuzzTargetsSeedHostileInputs, checks that each one does), so the
// seeds alone, run by every plain `go test`, try them, and the bounded
// fuzzing in CI (ops/fuzz.sh) starts from them.
var HostileInputs = []string{
	// Redirect targets that leave the host once a browser has parsed them.
	"/%09/evil.example", "/\t/evil.example", "//evil.example", "/\\evil.example", "/%5Cevil.example",
	"/%2F/evil.example", "%2F%2Fevil.example", "/\n/evil.example", "\\\\evil.example",
	"https://evil.example", "http:evil.example", "javascript:alert(1)", "data:text/html,x",
	"/.//evil.example", "/ /evil.example", "/\u3000/evil.example",
	// Domains that are IP addresses, or that look like another name.
	"127.0.0.1", "127.1", "2130706433", "0x7f000001", "[::1]", "::1", "::ffff:127.0.0.1", "10.0.0.1.",
	"exаmple.com", // Cyrillic а
	"аррӏе.com",   // all Cyrillic
	"ｅｘａｍｐｌｅ.com", // fullwidth
	"ex\u200bample.com", "xn--80ak6aa92e.com", "xn--.com", "EXAMPLE.COM.", "a..b", ".example.com",
	"*.example.com", "example.com:80", "user@example.com",
	// Paths that climb out, or smuggle.
	"../../etc/passwd", "..", "a/../../b", "/etc/passwd", "files/../../etc/passwd", "..%2f..%2fetc%2fpasswd",
	"./.aegir-staging-x", "site.tar.zst.tmp-123", "/proc/self/environ", "~root",
	// Injection into config, SQL and shells.
	"a;b", "a}b{", "x\"; include /etc/passwd; \"", "$(id)", "`id`", "${file(\"/etc/passwd\")}", "'; DROP TABLE sites; --",
	"a\nserver_name evil;", "/bin/sh", "1000000h",
	// Control characters, odd encodings, sizes.
	"", " ", "\x00", "a\x00b", "a\r\nb", "\x1b[2J", "\xff\xfe", "\xed\xa0\x80", strings.Repeat("a", 300),
	strings.Repeat("a.", 130) + "com",
}
