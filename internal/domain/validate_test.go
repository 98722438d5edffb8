package domain

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/testharness"
)

func TestNormalizeDomain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"example.com", "example.com", true},
		{"Example.COM.", "example.com", true},
		{"  www.example.com ", "www.example.com", true},
		{"bücher.example", "xn--bcher-kva.example", true},
		{"xn--bcher-kva.example", "xn--bcher-kva.example", true},
		{"a-b.c-d.example", "a-b.c-d.example", true},
		{"localhost", "", false},
		{"", "", false},
		{"a.com; include /etc/passwd;", "", false},
		{"../../x", "", false},
		{"a..com", "", false},
		{"-a.com", "", false},
		{"a-.com", "", false},
		{"a_b.com", "", false},
		{"*.example.com", "", false},
		{"exa mple.com", "", false},
		{"example.com\n", "example.com", true},
		{"exam\nple.com", "", false},
		{"a.com/x", "", false},
		{"a.com:80", "", false},
		{strings.Repeat("a", 64) + ".com", "", false},
		{strings.Repeat("a.", 127) + "com", "", false},
		{"$(reboot).com", "", false},
		{"a.com'", "", false},
		{"127.0.0.1", "", false},
		{"10.0.0.5.", "", false},
		{"1.2.3.4.5", "", false},
		{"example.123", "", false},
		{"123.example", "123.example", true},
		{"web1.example", "web1.example", true},
	}
	for _, tt := range tests {
		got, err := NormalizeDomain(tt.in)
		if tt.ok != (err == nil) || got != tt.want {
			t.Errorf("NormalizeDomain(%q) = %q, %v; want %q ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("NormalizeDomain(%q) error %v does not wrap ErrInvalid", tt.in, err)
		}
	}
}

// FuzzNormalizeDomain checks that whatever NormalizeDomain accepts is made
// only of safe characters and is stable under renormalisation.
func FuzzNormalizeDomain(f *testing.F) {
	for _, s := range testharness.HostileInputs {
		f.Add(s)
	}
	for _, s := range []string{"example.com", "bücher.example", "a.com; x", "../../x", "A.B.C.", "xn--.com", "a\u200d.com", "127.0.0.1", "0x7f.0.0.1", "[::1]", "１２７.０.０.１"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := NormalizeDomain(s)
		if err != nil {
			return
		}
		if len(got) > 253 || !strings.Contains(got, ".") {
			t.Fatalf("accepted %q as %q", s, got)
		}
		if _, err := netip.ParseAddr(got); err == nil {
			t.Fatalf("accepted the address %q as the domain %q", s, got)
		}
		for _, c := range []byte(got) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
				t.Fatalf("accepted %q as %q with byte %q", s, got, c)
			}
		}
		again, err := NormalizeDomain(got)
		if err != nil || again != got {
			t.Fatalf("not stable: %q → %q → %q, %v", s, got, again, err)
		}
	})
}

// FuzzSiteAliases checks a site's alias normalisation: what Normalize
// accepts is a normalised domain and distinct, sorted normalised aliases,
// none of them the domain, and normalising again changes nothing.
func FuzzSiteAliases(f *testing.F) {
	for _, s := range testharness.HostileInputs {
		f.Add("example.com", s, "www.example.com")
		f.Add(s, "example.com", s)
	}
	f.Add("example.com", "WWW.Example.com.", "www.example.com")
	f.Add("bücher.example", "xn--bcher-kva.example", "b.example")
	f.Fuzz(func(t *testing.T, d, a1, a2 string) {
		site := Site{Domain: d, Aliases: []string{a1, a2}, PlatformID: NewID(), DBServerID: NewID(), ClientID: NewID()}
		if err := site.Normalize(); err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field == "" {
				t.Fatalf("error without a field: %v", err)
			}
			return
		}
		for i, n := range site.Names() {
			if got, err := NormalizeDomain(n); err != nil || got != n {
				t.Fatalf("name %d %q is not normalised (%q, %v)", i, n, got, err)
			}
			if i > 0 && n == site.Domain {
				t.Fatalf("alias %q is the domain", n)
			}
			if i > 1 && site.Names()[i-1] >= n {
				t.Fatalf("aliases not sorted and distinct: %q", site.Aliases)
			}
		}
		again := site
		again.Aliases = slices.Clone(site.Aliases)
		if err := again.Normalize(); err != nil || again.Domain != site.Domain || !slices.Equal(again.Aliases, site.Aliases) {
			t.Fatalf("not stable: %v → %v, %v", site.Names(), again.Names(), err)
		}
	})
}

func TestValidateName(t *testing.T) {
	t.Parallel()
	good := []string{"a", "web1", "my-client", "db_2", "0abc"}
	bad := []string{"", "-a", "_a", "A", "a b", "a/b", "a.b", "a;b", strings.Repeat("a", 64), "é"}
	for _, s := range good {
		if err := ValidateName("name", s); err != nil {
			t.Errorf("ValidateName(%q) = %v", s, err)
		}
	}
	for _, s := range bad {
		if err := ValidateName("name", s); err == nil {
			t.Errorf("ValidateName(%q) accepted", s)
		}
	}
}

func FuzzValidateName(f *testing.F) {
	for _, s := range testharness.HostileInputs {
		f.Add(s)
	}
	f.Add("web1")
	f.Add("a;b")
	f.Fuzz(func(t *testing.T, s string) {
		if ValidateName("n", s) != nil {
			return
		}
		for _, c := range []byte(s) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				t.Fatalf("accepted %q", s)
			}
		}
	})
}

func TestValidatePath(t *testing.T) {
	t.Parallel()
	roots := []string{"/var/aegir/platforms", "/srv/www"}
	tests := []struct {
		p  string
		ok bool
	}{
		{"/var/aegir/platforms/d10", true},
		{"/srv/www/site", true},
		{"/var/aegir/platforms", true},
		{"/var/aegir/platformsX", false},
		{"/var/aegir/platforms/../etc", false},
		{"/etc/passwd", false},
		{"relative/path", false},
		{"/srv/www/a b", false},
		{"/srv/www/a;b", false},
		{"/srv/www/", false},
		{"/srv//www/a", false},
		{"/", false},
		{"", false},
	}
	for _, tt := range tests {
		if err := ValidatePath("path", tt.p, roots); (err == nil) != tt.ok {
			t.Errorf("ValidatePath(%q) = %v, want ok=%v", tt.p, err, tt.ok)
		}
	}
	if err := ValidatePath("path", "/anything/clean", nil); err != nil {
		t.Errorf("no roots: %v", err)
	}
}

func FuzzValidatePath(f *testing.F) {
	for _, s := range testharness.HostileInputs {
		f.Add(s)
		f.Add("/var/aegir/" + s)
	}
	f.Add("/var/aegir/platforms/d10")
	f.Add("/var/aegir/platforms/../../etc")
	f.Fuzz(func(t *testing.T, p string) {
		if ValidatePath("path", p, []string{"/var/aegir"}) != nil {
			return
		}
		if strings.Contains(p, "..") && strings.Contains(p, "/../") || !strings.HasPrefix(p, "/var/aegir") {
			t.Fatalf("accepted %q", p)
		}
	})
}

func TestNewIDSortsAndValidates(t *testing.T) {
	t.Parallel()
	prev := ""
	seen := map[string]bool{}
	for i := 0; i < 10000; i++ {
		id := NewID()
		if !ValidID(id) {
			t.Fatalf("NewID() = %q is not ValidID", id)
		}
		if id <= prev {
			t.Fatalf("ids not increasing: %q after %q", id, prev)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id], prev = true, id
	}
	for _, bad := range []string{"", "short", strings.Repeat("A", IDLen), strings.Repeat("i", IDLen), "../../../../../../etc"} {
		if ValidID(bad) {
			t.Errorf("ValidID(%q) = true", bad)
		}
	}
}

func TestIDTimeIsTheCreationTime(t *testing.T) {
	t.Parallel()
	before := time.Now().Truncate(time.Millisecond)
	id := NewID()
	after := time.Now()
	got, ok := IDTime(id)
	if !ok || got.Before(before) || got.After(after) {
		t.Fatalf("IDTime(%q) = %v, %v; want between %v and %v", id, got, ok, before, after)
	}
	at := time.Date(2026, 3, 4, 5, 6, 7, 8e6, time.UTC)
	if got, ok := IDTime(NewIDAt(at)); !ok || !got.Equal(at) {
		t.Fatalf("IDTime(NewIDAt(%v)) = %v, %v", at, got, ok)
	}
	if _, ok := IDTime("../../../../../etc/x"); ok {
		t.Fatal("IDTime accepted an invalid id")
	}
}
