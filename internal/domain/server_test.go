package domain

import (
	"errors"
	"testing"
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
