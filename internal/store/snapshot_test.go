package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/store/boltkv"
	"github.com/aegirhq/aegir/internal/testharness"
)

func emptyBolt(t *testing.T) store.KV {
	t.Helper()
	kv, err := boltkv.Open(filepath.Join(t.TempDir(), "aegir.db"), &boltkv.Config{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kv.Close() })
	return kv
}

// snapshotFixture fills s with a client, server, platform, a site with its
// tasks, an admin with a password and a token, and a session.
func snapshotFixture(t *testing.T, s *store.Store) (token string) {
	t.Helper()
	ctx := context.Background()
	f := setup(t, s)
	if _, err := s.CreateSite(ctx, f.site("a.example.com", "www.a.example.com"), "t"); err != nil {
		t.Fatal(err)
	}
	secret, _, err := s.EnsureAdmin(ctx)
	if err != nil || secret == "" {
		t.Fatalf("EnsureAdmin: %q %v", secret, err)
	}
	users, _ := s.ListUsers(ctx)
	u := users[0]
	u.PasswordHash = "$argon2id$fake-hash-for-the-test"
	if err := s.UpdateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	if _, err := s.KV().Txn(ctx, []store.Op{{Verb: store.OpSet, Key: "sessions/abc", Value: []byte(`{"user_id":"x"}`)},
		{Verb: store.OpSet, Key: "fences/site/x", Value: []byte("7")},
		{Verb: store.OpSet, Key: "logs/chunk", Value: []byte{0x28, 0xb5, 0x2f, 0xfd, 0}}}); err != nil {
		t.Fatal(err)
	}
	return secret
}

// An export imported into an empty store gives the same keys and values,
// but for what exports leave out; with a key, credentials come back too
// and the old token still authenticates.
func TestExportImport(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		token := snapshotFixture(t, s)
		want := dump(t, s)
		for k := range want {
			if strings.HasPrefix(k, "sessions/") || strings.HasPrefix(k, "fences/") {
				delete(want, k)
			}
		}
		key := bytes.Repeat([]byte("k"), store.MinExportKeyLen)

		var sealed, plain bytes.Buffer
		st, err := store.Export(ctx, s.KV(), &sealed, store.ExportOptions{Key: key})
		if err != nil || st.Sealed < 2 || st.Dropped != 3 {
			t.Fatalf("sealed export: %+v %v", st, err)
		}
		if _, err := store.Export(ctx, s.KV(), &plain, store.ExportOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{"fake-hash-for-the-test", `"hash"`, "sessions/abc"} {
			for name, b := range map[string]*bytes.Buffer{"sealed": &sealed, "plain": &plain} {
				if strings.Contains(b.String(), secret) {
					t.Errorf("%s export holds %q", name, secret)
				}
			}
		}

		// With the key: everything back, the token works.
		kv := emptyBolt(t)
		if _, err := store.Import(ctx, kv, bytes.NewReader(sealed.Bytes()), store.ImportOptions{}); !errors.Is(err, store.ErrExportKey) {
			t.Fatalf("import without the key: %v", err)
		}
		if _, err := store.Import(ctx, kv, bytes.NewReader(sealed.Bytes()), store.ImportOptions{Key: bytes.Repeat([]byte("x"), 32)}); !errors.Is(err, store.ErrExportKey) {
			t.Fatalf("import with a wrong key: %v", err)
		}
		if _, err := store.Import(ctx, kv, bytes.NewReader(sealed.Bytes()), store.ImportOptions{Key: key}); err != nil {
			t.Fatal(err)
		}
		s2 := store.New(kv, nil)
		t.Cleanup(func() { s2.Close() })
		got := dump(t, s2)
		if !equalDumps(got, want) {
			t.Errorf("imported store differs:\n got %d keys\nwant %d keys", len(got), len(want))
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s: got %q want %q", k, got[k], v)
				}
			}
		}
		if _, _, err := s2.Authenticate(ctx, token); err != nil {
			t.Errorf("the exported token after import: %v", err)
		}

		// Not into a store that holds keys, unless forced.
		if _, err := store.Import(ctx, kv, bytes.NewReader(sealed.Bytes()), store.ImportOptions{Key: key}); !errors.Is(err, store.ErrStoreNotEmpty) {
			t.Fatalf("import into a full store: %v", err)
		}
		if _, err := store.Import(ctx, kv, bytes.NewReader(plain.Bytes()), store.ImportOptions{Force: true}); err != nil {
			t.Fatalf("forced import: %v", err)
		}

		// Without the key: no token, no password hash, the rest as it was.
		kv3 := emptyBolt(t)
		if _, err := store.Import(ctx, kv3, bytes.NewReader(plain.Bytes()), store.ImportOptions{}); err != nil {
			t.Fatal(err)
		}
		s3 := store.New(kv3, nil)
		t.Cleanup(func() { s3.Close() })
		if _, _, err := s3.Authenticate(ctx, token); err == nil {
			t.Error("a token survived an export without a key")
		}
		users, err := s3.ListUsers(ctx)
		if err != nil || len(users) != 1 || users[0].PasswordHash != "" || users[0].Name != "admin" {
			t.Errorf("users after a keyless import: %+v %v", users, err)
		}
		sites, err := s3.ListSites(ctx, store.SiteFilter{})
		if err != nil || len(sites.Items) != 1 || sites.Items[0].Domain != "a.example.com" {
			t.Errorf("sites after import: %+v %v", sites, err)
		}
	})
}

// A cut-off, damaged or foreign file is refused before anything is written.
func TestImportRefusesBadExports(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := store.New(emptyBolt(t), nil)
	t.Cleanup(func() { src.Close() })
	snapshotFixture(t, src)
	var full bytes.Buffer
	if _, err := store.Export(ctx, src.KV(), &full, store.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(full.String(), "\n")
	for name, in := range map[string]string{
		"empty":        "",
		"not json":     "hello\n",
		"no end":       strings.Join(lines[:len(lines)-2], ""),
		"cut line":     full.String()[:full.Len()/2],
		"wrong count":  strings.Join(lines[:len(lines)-2], "") + `{"end":true,"keys":1}` + "\n",
		"after end":    full.String() + `{"k":"x","v":1}` + "\n",
		"future":       `{"aegir_export":2}` + "\n" + `{"end":true}` + "\n",
		"no key":       lines[0] + `{"v":1}` + "\n" + `{"end":true,"keys":1}` + "\n",
		"sealed plain": lines[0] + `{"k":"users/x","sealed":"AAAA"}` + "\n" + `{"end":true,"keys":1}` + "\n",
	} {
		kv := emptyBolt(t)
		if _, err := store.Import(ctx, kv, strings.NewReader(in), store.ImportOptions{}); !errors.Is(err, store.ErrBadExport) {
			t.Errorf("%s: err = %v, want ErrBadExport", name, err)
		}
		if pairs, _, _ := kv.List(ctx, ""); len(pairs) != 0 {
			t.Errorf("%s: %d keys written", name, len(pairs))
		}
	}
	if _, err := store.Export(ctx, src.KV(), &full, store.ExportOptions{Key: []byte("short")}); !errors.Is(err, store.ErrExportKey) {
		t.Errorf("short key: %v", err)
	}
}

// FuzzImport feeds arbitrary files to Import: it never panics, and what it
// refuses leaves the store as it was.
func FuzzImport(f *testing.F) {
	f.Add([]byte(`{"aegir_export":1,"index":3,"sealed":false}` + "\n" + `{"k":"sites/a","v":{"id":"a"}}` + "\n" + `{"end":true,"keys":1}` + "\n"))
	f.Add([]byte(`{"aegir_export":1,"sealed":true}` + "\n" + `{"k":"users/a","sealed":"AAAAAAAAAAAAAAAAAAAAAAAAAAAA"}` + "\n" + `{"end":true,"keys":1}` + "\n"))
	f.Add([]byte(`{"aegir_export":1}` + "\n" + `{"k":"meta/schema","v":{"version":7}}` + "\n" + `{"end":true,"keys":1}` + "\n"))
	f.Add([]byte(`{"aegir_export":1}` + "\n" + `{"k":"logs/x","b64":"KLUv/QA="}` + "\n" + `{"end":true,"keys":1}` + "\n"))
	for _, s := range testharness.HostileInputs {
		q, _ := json.Marshal(s)
		f.Add([]byte(s))
		f.Add([]byte(`{"aegir_export":1}` + "\n" + `{"k":` + string(q) + `,"v":{"id":` + string(q) + `}}` + "\n" + `{"end":true,"keys":1}` + "\n"))
	}
	key := bytes.Repeat([]byte("k"), store.MinExportKeyLen)
	f.Fuzz(func(t *testing.T, in []byte) {
		kv := emptyBolt(t)
		ctx := context.Background()
		_, err := store.Import(ctx, kv, bytes.NewReader(in), store.ImportOptions{Key: key})
		pairs, _, lerr := kv.List(ctx, "")
		if lerr != nil {
			t.Fatal(lerr)
		}
		if err != nil && len(pairs) != 0 {
			t.Fatalf("refused (%v) but wrote %d keys", err, len(pairs))
		}
	})
}
