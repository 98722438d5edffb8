package control

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/domain"
)

// TestTokenTTLBounded: a token lives at most Config.MaxTokenTTL, and one
// asked for without a ttl gets exactly that.
func TestTokenTTLBounded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	if err := b.st.CreateUser(ctx, b.alice.User()); err != nil {
		t.Fatal(err)
	}
	ctl, err := New(&Config{Store: b.st, MaxTokenTTL: 48 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for _, ttl := range []string{"49h", "1000000h", "-1h", "0s", "soon"} {
		_, _, err := ctl.Tokens.Create(ctx, b.alice, apiv1.TokenCreate{Name: "ci", TTL: ttl})
		var ve *domain.ValidationError
		if !errors.As(err, &ve) || ve.Field != "ttl" {
			t.Errorf("ttl %q: %v, want a ValidationError on ttl", ttl, err)
		}
	}
	for ttl, want := range map[string]time.Duration{"": 48 * time.Hour, "48h": 48 * time.Hour, "1h": time.Hour} {
		tok, _, err := ctl.Tokens.Create(ctx, b.alice, apiv1.TokenCreate{Name: "ci", TTL: ttl})
		if err != nil {
			t.Fatalf("ttl %q: %v", ttl, err)
		}
		if tok.ExpiresAt == nil {
			t.Fatalf("ttl %q: no expiry", ttl)
		}
		if d := tok.ExpiresAt.Sub(tok.CreatedAt) - want; d < 0 || d > time.Second {
			t.Errorf("ttl %q: expires %v after creation, want %s", ttl, tok.ExpiresAt, want)
		}
	}
	if _, err := New(&Config{Store: b.st, MaxTokenTTL: -time.Hour}); err == nil {
		t.Error("a negative MaxTokenTTL accepted")
	}
	if b.ctl.Tokens.maxTokenTTL != DefaultMaxTokenTTL {
		t.Errorf("default max ttl %s", b.ctl.Tokens.maxTokenTTL)
	}
}
