package domain

import (
	"errors"
	"strconv"
	"testing"

	"github.com/aegirhq/aegir/internal/testharness"
)

// TestSitePHPBounds: each per-site php-fpm limit is refused outside the
// service setting's bounds with the field named; zero keeps the service's
// and an all-zero php block is dropped.
func TestSitePHPBounds(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		php   SitePHP
		field string // "" when valid
	}{
		{SitePHP{MemoryLimit: 256, UploadMax: 64, MaxChildren: 8}, ""},
		{SitePHP{MemoryLimit: 16}, ""},
		{SitePHP{MemoryLimit: 4096, UploadMax: 2048, MaxChildren: 64}, ""},
		{SitePHP{MemoryLimit: 15}, "php.memory_limit"},
		{SitePHP{MemoryLimit: 4097}, "php.memory_limit"},
		{SitePHP{MemoryLimit: -1}, "php.memory_limit"},
		{SitePHP{UploadMax: 2049}, "php.upload_max"},
		{SitePHP{UploadMax: -5}, "php.upload_max"},
		{SitePHP{MaxChildren: 65}, "php.max_children"},
		{SitePHP{MemoryLimit: 128, MaxChildren: -1}, "php.max_children"},
	} {
		s := Site{Domain: "example.com", PlatformID: NewID(), DBServerID: NewID(), ClientID: NewID()}
		p := c.php
		s.PHP = &p
		err := s.Normalize()
		var ve *ValidationError
		switch {
		case c.field == "" && err != nil:
			t.Errorf("%+v: %v", c.php, err)
		case c.field != "" && (!errors.As(err, &ve) || ve.Field != c.field):
			t.Errorf("%+v: err %v, want a validation error on %s", c.php, err, c.field)
		}
	}
	s := Site{Domain: "example.com", PlatformID: NewID(), DBServerID: NewID(), ClientID: NewID(), PHP: &SitePHP{}}
	if err := s.Normalize(); err != nil || s.PHP != nil {
		t.Errorf("an all-zero php block: err %v, php %+v; want it dropped", err, s.PHP)
	}
}

// FuzzSitePHP: Validate accepts exactly the values within bounds or zero.
func FuzzSitePHP(f *testing.F) {
	f.Add(256, 64, 5)
	f.Add(0, 0, 0)
	f.Add(-1, 4097, 65)
	// The limits are numbers: a hostile input stands for the number it
	// parses as (2130706433, 0x7f000001) or else for its length, each
	// also negated.
	for _, s := range testharness.HostileInputs {
		n, err := strconv.ParseInt(s, 0, strconv.IntSize)
		if err != nil {
			n = int64(len(s))
		}
		f.Add(int(n), int(n), int(n))
		f.Add(-int(n), int(n), -int(n))
	}
	f.Fuzz(func(t *testing.T, mem, up, ch int) {
		in := func(v, lo, hi int) bool { return v == 0 || (v >= lo && v <= hi) }
		want := in(mem, 16, 4096) && in(up, 1, 2048) && in(ch, 1, 64)
		err := (&SitePHP{MemoryLimit: mem, UploadMax: up, MaxChildren: ch}).Validate()
		if (err == nil) != want {
			t.Fatalf("%d %d %d: err %v, want ok=%v", mem, up, ch, err, want)
		}
	})
}
