package domain

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/aegirhq/aegir/internal/testharness"
)

func TestNormalizeServerAddress(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string // want "": refused
	}{
		{"10.0.0.2", "10.0.0.2"},
		{" 127.0.0.1 ", "127.0.0.1"},
		{"2001:DB8::0:1", "2001:db8::1"},
		{"[2001:db8::1]", "2001:db8::1"},
		{"localhost", "localhost"},
		{"LocalHost.", "localhost"},
		{"DB1.Example.COM.", "db1.example.com"},
		{"bücher.example", "xn--bcher-kva.example"},
		{"xn--bcher-kva.example", "xn--bcher-kva.example"},
		{"例え.jp", "xn--r8jz45g.jp"},
		{"", ""},
		{"1.2.3.4; rm -rf /", ""},
		{"fe80::1%eth0", ""},
		{"аpple.com", ""},        // Cyrillic а among Latin letters
		{"раураl.com", ""},       // a Cyrillic label under a Latin TLD
		{"xn--pple-43d.com", ""}, // the same homograph sent as punycode
		{"gοogle.com", ""},       // Greek omicron
		{"db1", ""},              // one label, not localhost
		{"a..b", ""},
	} {
		got, err := NormalizeServerAddress(tc.in)
		if tc.want == "" {
			var ve *ValidationError
			if err == nil || !errors.As(err, &ve) || ve.Field != "address" {
				t.Errorf("NormalizeServerAddress(%q) = %q, %v; want a ValidationError on address", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("NormalizeServerAddress(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestServerValidateNormalisesAddress(t *testing.T) {
	t.Parallel()
	s := &Server{Name: "web1", Address: "Web1.Example.com"}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if s.Address != "web1.example.com" {
		t.Fatalf("address = %q", s.Address)
	}
}

// FuzzNormalizeServerAddress checks that an accepted server address is an
// IP address, localhost or a normalised host name of one script group,
// made only of safe characters, and stable under renormalisation.
func FuzzNormalizeServerAddress(f *testing.F) {
	for _, s := range testharness.HostileInputs {
		f.Add(s)
	}
	f.Add("DB1.Example.COM.")
	f.Add("fe80::1%eth0")
	f.Add("раураl.com")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := NormalizeServerAddress(s)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != "address" {
				t.Fatalf("error not on field address: %v", err)
			}
			return
		}
		if _, err := netip.ParseAddr(got); err != nil && got != "localhost" {
			if n, err := NormalizeDomain(got); err != nil || n != got {
				t.Fatalf("accepted %q as %q, neither an address nor a normalised name (%v)", s, got, err)
			}
			for _, c := range []byte(got) {
				if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
					t.Fatalf("accepted %q as %q with byte %q", s, got, c)
				}
			}
		}
		if again, err := NormalizeServerAddress(got); err != nil || again != got {
			t.Fatalf("not stable: %q → %q → %q, %v", s, got, again, err)
		}
	})
}
