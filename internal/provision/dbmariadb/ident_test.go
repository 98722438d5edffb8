package dbmariadb

import (
	"errors"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/testharness"
)

func TestNativePasswordHash(t *testing.T) {
	t.Parallel()
	// SELECT PASSWORD('password') on MariaDB.
	if got := nativePasswordHash("password"); got != "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19" {
		t.Fatalf("hash = %s", got)
	}
}

func TestQuoting(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"s_abc":  "`s_abc`",
		"a`b":    "`a``b`",
		"``":     "``````",
		"x; --":  "`x; --`",
		"s_a%\\": "`s_a%\\`",
	} {
		if got := quoteIdent(in); got != want {
			t.Errorf("quoteIdent(%q) = %s, want %s", in, got, want)
		}
	}
	if got := quoteGrantDB("s_a%b"); got != "`s\\_a\\%b`" {
		t.Errorf("quoteGrantDB = %s", got)
	}
	if got := quoteString(`it's \`); got != `'it\'s \\'` {
		t.Errorf("quoteString = %s", got)
	}
	if got := optionValue("a\"b\\c\nd"); got != `"a\"b\\c\nd"` {
		t.Errorf("optionValue = %s", got)
	}
}

// FuzzIdent checks that every name validIdent accepts is a plain
// identifier that needs no quoting and cannot be taken for an option.
func FuzzIdent(f *testing.F) {
	for _, s := range testharness.HostileInputs {
		f.Add(s)
	}
	for _, s := range []string{"s_0123456789abcdefghij", "s_x`; DROP", "-x", "a", "", "S_A", "s_é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := validIdent("name", s)
		if err != nil {
			if !errors.Is(err, domain.ErrInvalid) {
				t.Fatalf("error is not ErrInvalid: %v", err)
			}
			return
		}
		if strings.ContainsAny(s, "`'\"\\;- %\x00") || s[0] < 'a' || s[0] > 'z' || len(s) > 64 {
			t.Fatalf("accepted %q", s)
		}
		if quoteIdent(s) != "`"+s+"`" {
			t.Fatalf("quoting changed an accepted name %q", s)
		}
	})
}
