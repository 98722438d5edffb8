package consulkv_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/store/consulkv"
	"github.com/aegirhq/aegir/internal/store/storetest"
	"github.com/aegirhq/aegir/internal/testharness"
)

// aclEnv is a Consul with ACLs on (default deny), as production runs it,
// and a token of the policy operators are told to use.
type aclEnv struct {
	agent *testharness.ConsulAgent
	aegir string // token of ops/consul/aegir-policy.hcl
}

func aclSetup(t *testing.T) *aclEnv {
	t.Helper()
	policy, err := os.ReadFile(filepath.Join("..", "..", "..", "ops", "consul", "aegir-policy.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	agent := testharness.ConsulACL(t)
	return &aclEnv{agent: agent, aegir: agent.ACLToken(t, "aegir", string(policy))}
}

// open returns a KV with token under its own prefix inside aegir/v1/, the
// default prefix the policy grants.
func (e *aclEnv) open(t testing.TB, token, prefix string) *consulkv.KV {
	t.Helper()
	kv, err := consulkv.New(consulkv.Config{Address: e.agent.HTTPAddr, Token: token, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kv.Close() })
	return kv
}

func aegirPrefix(t testing.TB) string { return consulkv.DefaultPrefix + testharness.UniquePrefix(t) }

// TestACLConformance: with a token of ops/consul/aegir-policy.hcl and
// nothing more, the whole store suite passes: reads, lists, blocking
// watches and check-and-set transactions.
func TestACLConformance(t *testing.T) {
	t.Parallel()
	e := aclSetup(t)
	storetest.Run(t, func(t *testing.T) store.KV { return e.open(t, e.aegir, aegirPrefix(t)) })
}

// TestACLDenied: a token that is missing, unknown, read-only or for
// another prefix gets an error that wraps ErrPermissionDenied, names what
// Consul refused, the setting to fix and the policy to give, and never
// holds the token; and the store is unchanged afterwards.
func TestACLDenied(t *testing.T) {
	t.Parallel()
	e := aclSetup(t)
	ctx := t.Context()
	prefix := aegirPrefix(t)
	owner := e.open(t, e.aegir, prefix)
	if _, err := owner.Txn(ctx, []store.Op{{Verb: store.OpSet, Key: "sites/a", Value: []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	before, index, err := owner.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}

	readOnly := e.agent.ACLToken(t, "read-only", `key_prefix "aegir/v1/" { policy = "read" }`)
	elsewhere := e.agent.ACLToken(t, "elsewhere", `key_prefix "other/" { policy = "write" }`)
	// One key of the prefix readable: a list shows the rest hidden.
	partial := e.agent.ACLToken(t, "partial", `key_prefix "`+prefix+`sites/b" { policy = "write" }`)
	const unknown = "0b9ad0e4-4c5e-4d0c-9a41-6f0cfbd1d7a2"
	grant := `give the token in store.consul.token (CONSUL_HTTP_TOKEN) the policy in ops/consul/aegir-policy.hcl`
	write := []store.Op{{Verb: store.OpCAS, Key: "sites/b", Value: []byte("2")}}

	for _, c := range []struct {
		name, token string
		op          string // get, list, txn
		want        []string
	}{
		{"NoTokenGet", "", "get", []string{"no ACL token is set", "store.consul.token (or CONSUL_HTTP_TOKEN)", "ops/consul/aegir-policy.hcl", "'key:read'"}},
		{"NoTokenWrite", "", "txn", []string{"no ACL token is set", "ops/consul/setup-acl.sh", "'key:write'", `"sites/b"`}},
		{"UnknownToken", unknown, "get", []string{"it does not know the ACL token in store.consul.token (CONSUL_HTTP_TOKEN)", "ACL not found"}},
		{"ReadOnlyWrite", readOnly, "txn", []string{grant, `key_prefix "` + prefix + `" { policy = "write" }`, "'key:write'", `cas "sites/b"`}},
		{"OtherPrefixGet", elsewhere, "get", []string{grant, "'key:read'"}},
		{"PartialList", partial, "list", []string{"Consul hid some keys from aegir's ACL token", grant, "results filtered by ACLs"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			kv := e.open(t, c.token, prefix)
			switch c.op {
			case "get":
				_, err = kv.Get(ctx, "sites/a")
			case "list":
				_, _, err = kv.List(ctx, "")
			case "txn":
				_, err = kv.Txn(ctx, write)
			}
			if !errors.Is(err, consulkv.ErrPermissionDenied) {
				t.Fatalf("%s: err = %v, want one wrapping ErrPermissionDenied", c.op, err)
			}
			if errors.Is(err, store.ErrCASFailed) || errors.Is(err, store.ErrKeyNotFound) {
				t.Fatalf("a refusal reads as a conflict or a missing key: %v", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if c.token != "" && strings.Contains(err.Error(), c.token) {
				t.Errorf("error holds the token: %v", err)
			}
			t.Log(err)
		})
	}

	// An anonymous list is not told anything was left out (Consul reports
	// filtering only to a request with a token): it sees an empty store.
	// Its first write fails as above.
	if pairs, _, err := e.open(t, "", prefix).List(ctx, ""); err != nil || len(pairs) != 0 {
		t.Errorf("anonymous list = %v, %v; want empty and no error", pairs, err)
	}
	// A read-only token reads and watches.
	ro := e.open(t, readOnly, prefix)
	if p, err := ro.Get(ctx, "sites/a"); err != nil || string(p.Value) != "1" {
		t.Errorf("read-only get = %v, %v", p, err)
	}
	if _, got, err := ro.Watch(ctx, "", 0); err != nil || got != index {
		t.Errorf("read-only watch = %d, %v; want index %d", got, err, index)
	}

	after, _, err := owner.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) || len(after) != 1 || after[0].ModifyIndex != before[0].ModifyIndex {
		t.Fatalf("store changed by refused calls: %v, was %v", after, before)
	}
}
