package domain

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/testharness"
)

func TestValidateWebhookURL(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		url  string
		want string // "" accepted, else a part of the error
	}{
		{"https://hooks.example.com/aegir", ""},
		{"http://127.0.0.1:9000/hook?x=1", ""},
		{"https://[::1]:8443/", ""},
		{"", "give the webhook's URL"},
		{"ftp://example.com/x", "must start with https:// or http://"},
		{"javascript:alert(1)", "must start with https:// or http://"},
		{"file:///etc/passwd", "must start with https:// or http://"},
		{"https:///path", "has no host"},
		{"https://", "has no host"},
		{"http:example.com", "has no host"},
		{"example.com/hook", "must start with"},
		{"https://user:pw@example.com/", "must not carry a user"},
		{"https://example.com:99999/", "not a port number"},
		{"https://example.com/a b", "spaces or control"},
		{"https://example.com/\r\nX: y", "spaces or control"},
		{"https://example.com/#frag", "fragment"},
		{"https://example.com/" + strings.Repeat("a", 2048), "longer than 2048"},
	} {
		err := ValidateWebhookURL(c.url)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q refused: %v", c.url, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrInvalid)):
			t.Errorf("%q: err = %v, want %q", c.url, err, c.want)
		}
	}
}

func TestValidateEmailAddress(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"ops@example.com", "a.b+c@mail.example.org"} {
		if err := ValidateEmailAddress(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "ops", "@example.com", "ops@", "Ops <ops@example.com>", "a@b.com, c@d.com", "ops@example.com\r\nBcc: x@y.z", "a b@example.com"} {
		if err := ValidateEmailAddress(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestSubscriptionValidate(t *testing.T) {
	t.Parallel()
	ok := Subscription{UserID: NewID(), Channel: ChannelEmail, Target: "ops@example.com", Events: []EventKind{EventTaskFailed}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*Subscription){
		"no events":      func(s *Subscription) { s.Events = nil },
		"unknown event":  func(s *Subscription) { s.Events = []EventKind{"site_sad"} },
		"test event":     func(s *Subscription) { s.Events = []EventKind{EventTest} },
		"twice":          func(s *Subscription) { s.Events = []EventKind{EventDiskLow, EventDiskLow} },
		"channel":        func(s *Subscription) { s.Channel = "sms" },
		"webhook target": func(s *Subscription) { s.Channel = ChannelWebhook },
		"owner":          func(s *Subscription) { s.UserID = "" },
		"client":         func(s *Subscription) { s.ClientID = "../x" },
	} {
		s := ok
		mod(&s)
		if err := s.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	if ks, err := ParseEventKinds(" task_failed, disk_low,task_failed"); err != nil || len(ks) != 2 {
		t.Errorf("ParseEventKinds = %v, %v", ks, err)
	}
	if ks, err := ParseEventKinds(""); err != nil || len(ks) != len(EventKinds) {
		t.Errorf("ParseEventKinds(\"\") = %v, %v", ks, err)
	}
	if _, err := ParseEventKinds("task_failed,nope"); err == nil {
		t.Error("ParseEventKinds accepted nope")
	}
}

// FuzzValidateWebhookURL: whatever passes is an http(s) URL with a host,
// no user info and no whitespace, so it cannot smuggle another scheme or
// a header.
func FuzzValidateWebhookURL(f *testing.F) {
	for _, s := range []string{"https://example.com/x", "http://127.0.0.1:80", "https://u@h/", "gopher://h", "https://h/\n", "HTTPS://H"} {
		f.Add(s)
	}
	for _, s := range testharness.HostileInputs {
		f.Add(s)
		f.Add("https://" + s + "/hook")
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidateWebhookURL(s) != nil {
			return
		}
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil ||
			strings.ContainsAny(s, " \t\r\n") {
			t.Fatalf("accepted %q", s)
		}
	})
}

// FuzzValidateEmailAddress: whatever passes is one bare address that can
// go into a mail header as it is.
func FuzzValidateEmailAddress(f *testing.F) {
	for _, s := range []string{"ops@example.com", "a@b", "x@y.z\r\nBcc: q@r.s", "\"a b\"@c.d", "<a@b.c>"} {
		f.Add(s)
	}
	for _, s := range testharness.HostileInputs {
		f.Add(s)
		f.Add("ops@" + s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidateEmailAddress(s) != nil {
			return
		}
		if strings.ContainsAny(s, "\r\n<>,;\" ") || strings.Count(s, "@") < 1 || len(s) > 254 {
			t.Fatalf("accepted %q", s)
		}
	})
}
