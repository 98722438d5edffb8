package app

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aegirhq/aegir/dashboard"
	"github.com/aegirhq/aegir/internal/config"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/store/consulkv"
	"github.com/aegirhq/aegir/internal/testharness"
)

// Two servers bootstrapping one empty store at once (two allocations of
// the aegir-server job): neither fails, and exactly one data dir gets the
// admin's token and password, both of which the store takes. The loser of
// the password's check-and-set used to exit (an allocation restart) after
// writing a password file the store had refused.
func TestBootstrapAdminRace(t *testing.T) {
	t.Parallel()
	consul := testharness.Consul(t)
	ctx := context.Background()
	for round := range 20 {
		prefix := testharness.UniquePrefix(t)
		var nodes [2]*node
		for i := range nodes {
			kv, err := consulkv.New(consulkv.Config{Address: consul.Addr, Prefix: prefix})
			if err != nil {
				t.Fatal(err)
			}
			st := store.New(kv, &store.Config{})
			t.Cleanup(func() { st.Close() })
			nodes[i] = &node{cfg: &config.Config{DataDir: t.TempDir()}, store: st, log: slog.New(slog.DiscardHandler)}
		}
		var wg sync.WaitGroup
		var errs [2]error
		start := make(chan struct{})
		for i, n := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[i] = bootstrapAdmin(ctx, n)
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: server %d: %v", round, i, err)
			}
		}
		var tokenDirs, passwordDirs []int
		for i, n := range nodes {
			entries, err := os.ReadDir(n.cfg.DataDir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				b, err := os.ReadFile(filepath.Join(n.cfg.DataDir, e.Name()))
				if err != nil {
					t.Fatal(err)
				}
				secret := strings.TrimSpace(string(b))
				switch e.Name() {
				case "admin-token":
					tokenDirs = append(tokenDirs, i)
					// Through the other server's store, as the API of
					// either would check it.
					if _, _, err := nodes[1-i].store.Authenticate(ctx, secret); err != nil {
						t.Errorf("round %d: the token server %d wrote is refused: %v", round, i, err)
					}
				case "admin-password":
					passwordDirs = append(passwordDirs, i)
					admin, err := nodes[1-i].store.UserByName(ctx, "admin")
					if err != nil {
						t.Fatal(err)
					}
					if !dashboard.VerifyPassword(admin.PasswordHash, secret) {
						t.Errorf("round %d: the password server %d wrote is refused", round, i)
					}
				default:
					t.Errorf("round %d: server %d left %s in its data dir", round, i, e.Name())
				}
			}
		}
		if len(tokenDirs) != 1 || len(passwordDirs) != 1 || tokenDirs[0] != passwordDirs[0] {
			t.Fatalf("round %d: admin-token written by servers %v, admin-password by %v; want both by the one that made the admin",
				round, tokenDirs, passwordDirs)
		}
		users, err := nodes[0].store.ListUsers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		tokens, err := nodes[0].store.ListTokens(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(users) != 1 || users[0].Role != domain.RoleAdmin || len(tokens) != 1 {
			t.Fatalf("round %d: %d users, %d tokens; want one admin with one token", round, len(users), len(tokens))
		}
	}
}
