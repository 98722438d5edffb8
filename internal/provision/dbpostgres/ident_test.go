package dbpostgres

import (
	"errors"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/testharness"
)

func TestSCRAMVerifier(t *testing.T) {
	t.Parallel()
	// The format PostgreSQL stores; that the server accepts logins
	// against it is proven by the tests on a real server (odd password).
	got, err := scramVerifierSalt("password", []byte("0123456789abcdef"), 4096)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got, "SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$") || strings.Count(got, ":") != 2 {
		t.Fatalf("verifier = %s", got)
	}
	if strings.ContainsAny(got, `'\`) {
		t.Fatal("verifier needs escaping")
	}
}

func TestQuoting(t *testing.T) {
	t.Parallel()
	if got := quoteIdent(`a"b`); got != `"a""b"` {
		t.Errorf("quoteIdent = %s", got)
	}
	if got := quoteLiteral(`it's \`); got != `E'it''s \\'` {
		t.Errorf("quoteLiteral = %s", got)
	}
}

func FuzzIdent(f *testing.F) {
	for _, s := range testharness.HostileInputs {
		f.Add(s)
	}
	for _, s := range []string{"s_0123456789abcdefghij", `s_x"; DROP`, "-x", "a", "", "S_A", "s_é"} {
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
		if strings.ContainsAny(s, "\"'\\;- =\x00") || s[0] < 'a' || s[0] > 'z' || len(s) > 63 {
			t.Fatalf("accepted %q", s)
		}
		if quoteIdent(s) != `"`+s+`"` {
			t.Fatalf("quoting changed an accepted name %q", s)
		}
	})
}
