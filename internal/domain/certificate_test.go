package domain

import (
	"errors"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/testharness"
)

func TestSiteHTTPSSetting(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		https   HTTPSMode
		hsts    bool
		want    HTTPSMode
		wantErr string
	}{
		{https: "", want: ""},
		{https: HTTPSOff, want: ""},
		{https: HTTPSOn, want: HTTPSOn},
		{https: HTTPSRedirect, hsts: true, want: HTTPSRedirect},
		{https: HTTPSOn, hsts: true, want: HTTPSOn},
		{https: "yes", wantErr: "https"},
		{https: "ON", wantErr: "https"},
		{https: HTTPSOff, hsts: true, wantErr: "hsts"},
	} {
		s := Site{Domain: "example.com", PlatformID: NewID(), DBServerID: NewID(), ClientID: NewID(), HTTPS: tc.https, HSTS: tc.hsts}
		err := s.Normalize()
		if tc.wantErr != "" {
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != tc.wantErr {
				t.Errorf("https=%q hsts=%v: err %v, want a validation error on %s", tc.https, tc.hsts, err, tc.wantErr)
			}
			continue
		}
		if err != nil || s.HTTPS != tc.want {
			t.Errorf("https=%q hsts=%v: got %q, %v; want %q", tc.https, tc.hsts, s.HTTPS, err, tc.want)
		}
	}
}

func TestCertificateDue(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &Certificate{Names: []string{"a.example", "b.example"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(40 * 24 * time.Hour)}
	win := 30 * 24 * time.Hour
	if c.Due(now, win, []string{"a.example", "b.example"}) {
		t.Error("a certificate 40 days from expiry is due with a 30-day window")
	}
	if !c.Due(now.Add(11*24*time.Hour), win, []string{"a.example"}) {
		t.Error("a certificate 29 days from expiry is not due")
	}
	if !c.Due(now, win, []string{"a.example", "c.example"}) {
		t.Error("a certificate missing a new alias is not due")
	}
	var none *Certificate
	if !none.Due(now, win, nil) || none.Valid(now) {
		t.Error("no certificate must be due and not valid")
	}
	if !c.Valid(now) || c.Valid(now.Add(41*24*time.Hour)) {
		t.Error("Valid is wrong around NotAfter")
	}
}

func FuzzHTTPSMode(f *testing.F) {
	for _, s := range []string{"", "off", "on", "redirect", "On", "redirect\x00"} {
		f.Add(s)
	}
	for _, s := range testharness.HostileInputs {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := HTTPSMode(s).Validate()
		known := s == "" || s == "off" || s == "on" || s == "redirect"
		if (err == nil) != known {
			t.Fatalf("Validate(%q) = %v", s, err)
		}
	})
}
