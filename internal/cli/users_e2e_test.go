package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/dashboard/web"
)

// TestUserCreatePasswordStdinEndToEnd: a user created with
// -password-stdin through the real API can log in with that password; a
// short one is refused and creates nobody.
func TestUserCreatePasswordStdinEndToEnd(t *testing.T) {
	t.Parallel()
	b, st := realAPI(t)
	ctx := context.Background()

	b.in = "short\n"
	r := b.run("user", "create", "carol", "-role", "admin", "-password-stdin").want(t, ExitFailed)
	contains(t, "stderr", r.stderr, "password", "at least 10 characters")
	if _, err := st.UserByName(ctx, "carol"); err == nil {
		t.Fatal("a refused user create created the user")
	}

	b.in = "correct horse battery\n"
	r = b.run("user", "create", "carol", "-role", "admin", "-password-stdin").want(t, ExitOK)
	contains(t, "stdout", r.stdout, "User carol created", "log in to the dashboard")
	u, err := st.UserByName(ctx, "carol")
	if err != nil {
		t.Fatal(err)
	}
	if !web.VerifyPassword(u.PasswordHash, "correct horse battery") {
		t.Errorf("carol's password hash does not verify: %q", u.PasswordHash)
	}
	r = b.run("user", "list", "-json").want(t, ExitOK)
	for _, secret := range []string{"correct horse", "argon2"} {
		if strings.Contains(r.stdout, secret) {
			t.Errorf("user show answers with %q:\n%s", secret, r.stdout)
		}
	}

	// Without the flag: no password, as before.
	b.in = ""
	b.run("user", "create", "dave", "-role", "admin").want(t, ExitOK)
	if u, err := st.UserByName(ctx, "dave"); err != nil || u.PasswordHash != "" {
		t.Errorf("dave: %v, hash %q", err, u.PasswordHash)
	}
}
