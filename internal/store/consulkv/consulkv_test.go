package consulkv_test

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/store/consulkv"
	"github.com/aegirhq/aegir/internal/store/storetest"
	"github.com/aegirhq/aegir/internal/testharness"
)

// open returns a KV on the shared Consul agent, isolated under its own
// prefix.
func open(t testing.TB, cfg consulkv.Config) *consulkv.KV {
	t.Helper()
	agent := testharness.SharedConsul(t)
	cfg.Address = agent.HTTPAddr
	cfg.Prefix = cmpOr(cfg.Prefix, testharness.UniquePrefix(t))
	kv, err := consulkv.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kv.Close() })
	return kv
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.KV { return open(t, consulkv.Config{}) })
}

func TestConformanceConsistent(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.KV { return open(t, consulkv.Config{Consistent: true}) })
}

func BenchmarkKV(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.KV { return open(b, consulkv.Config{}) })
}

func BenchmarkKVConsistent(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.KV { return open(b, consulkv.Config{Consistent: true}) })
}

// TestPrefix checks keys land under the prefix in Consul and come back
// relative, and that two prefixes do not see each other.
func TestPrefix(t *testing.T) {
	t.Parallel()
	agent := testharness.SharedConsul(t)
	base := testharness.UniquePrefix(t)
	a := open(t, consulkv.Config{Prefix: base + "a"}) // trailing slash added
	b := open(t, consulkv.Config{Prefix: base + "ab/"})
	if a.Prefix() != base+"a/" {
		t.Fatalf("prefix = %q, want %q", a.Prefix(), base+"a/")
	}
	ctx := t.Context()
	if _, err := a.Txn(ctx, []store.Op{{Verb: store.OpCAS, Key: "sites/x", Value: []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	raw, err := api.NewClient(&api.Config{Address: agent.HTTPAddr})
	if err != nil {
		t.Fatal(err)
	}
	kp, _, err := raw.KV().Get(base+"a/sites/x", nil)
	if err != nil || kp == nil || string(kp.Value) != "1" {
		t.Fatalf("raw get %sa/sites/x = %+v, %v; want the value under the prefix", base, kp, err)
	}
	pairs, _, err := a.List(ctx, "")
	if err != nil || len(pairs) != 1 || pairs[0].Key != "sites/x" {
		t.Fatalf("list = %v, %v; want [sites/x] relative to the prefix", pairs, err)
	}
	pairs, _, err = b.List(ctx, "")
	if err != nil || len(pairs) != 0 {
		t.Fatalf("list under the sibling prefix = %v, %v; want nothing", pairs, err)
	}
}

func TestWatchWaitTime(t *testing.T) {
	t.Parallel()
	kv := open(t, consulkv.Config{WaitTime: time.Second})
	ctx := t.Context()
	if _, err := kv.Txn(ctx, []store.Op{{Verb: store.OpSet, Key: "w/a", Value: []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	_, index, err := kv.List(ctx, "w/")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	pairs, got, err := kv.Watch(ctx, "w/", index)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if took < 900*time.Millisecond || took > 5*time.Second {
		t.Fatalf("watch returned after %v, want about the 1s wait", took)
	}
	if got != index || len(pairs) != 1 {
		t.Fatalf("watch = %v@%d, want the unchanged list at %d", pairs, got, index)
	}
}

func TestCloseEndsWatch(t *testing.T) {
	t.Parallel()
	kv := open(t, consulkv.Config{})
	ctx := t.Context()
	if _, err := kv.Txn(ctx, []store.Op{{Verb: store.OpSet, Key: "w/a", Value: []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	_, index, err := kv.List(ctx, "w/")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := kv.Watch(ctx, "w/", index)
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	_ = kv.Close()
	select {
	case err := <-done:
		if !errors.Is(err, consulkv.ErrClosed) {
			t.Fatalf("watch after close = %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the watch")
	}
}

const secret = "3f0c2a8e-0000-4000-8000-5ec2e7t0ken"

func TestUnreachable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	kv, err := consulkv.New(consulkv.Config{Address: addr, Token: secret})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	_, err = kv.Get(ctx, "k")
	checkErr(t, err, consulkv.ErrUnreachable, "cannot reach Consul at "+addr)
	_, err = kv.Txn(ctx, []store.Op{{Verb: store.OpSet, Key: "k"}})
	checkErr(t, err, consulkv.ErrUnreachable, "cannot reach Consul at "+addr)
	_, _, err = kv.Watch(ctx, "", 5)
	checkErr(t, err, consulkv.ErrUnreachable, "cannot reach Consul at "+addr)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("an unreachable Consul is not store.ErrUnavailable: %v", err)
	}
}

// TestPermissionDenied uses a fake Consul that refuses like one with ACLs
// on, and echoes the token to prove it never reaches an error message.
func TestPermissionDenied(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := r.Header.Get("X-Consul-Token")
		if r.URL.Path == "/v1/txn" && tok == secret+"-perop" {
			w.WriteHeader(http.StatusConflict)
			fmt.Fprintf(w, `{"Results":null,"Errors":[{"OpIndex":1,"What":"Permission denied: token %s lacks permission 'key:write' on \"aegir/v1/b\""}]}`, tok)
			return
		}
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, "Permission denied: token %s lacks permission 'key:read'", tok)
	}))
	defer srv.Close()
	ctx := t.Context()

	kv, err := consulkv.New(consulkv.Config{Address: srv.URL, Token: secret})
	if err != nil {
		t.Fatal(err)
	}
	_, err = kv.Get(ctx, "k")
	checkErr(t, err, consulkv.ErrPermissionDenied, "Consul ACL token lacks permission")
	_, _, err = kv.List(ctx, "")
	checkErr(t, err, consulkv.ErrPermissionDenied, "Consul ACL token lacks permission")
	_, err = kv.Txn(ctx, []store.Op{{Verb: store.OpSet, Key: "a"}})
	checkErr(t, err, consulkv.ErrPermissionDenied, "Consul ACL token lacks permission")
	var ce *consulkv.Error
	if !errors.As(err, &ce) || ce.StatusCode != http.StatusForbidden {
		t.Fatalf("txn error %#v, want a *consulkv.Error with status 403", err)
	}

	// Inside a transaction Consul reports a denied op as a 409 with text.
	kv, err = consulkv.New(consulkv.Config{Address: srv.URL, Token: secret + "-perop"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = kv.Txn(ctx, []store.Op{{Verb: store.OpSet, Key: "a"}, {Verb: store.OpSet, Key: "b"}})
	checkErr(t, err, consulkv.ErrPermissionDenied, `Consul ACL token lacks permission to set "b"`)
	if errors.Is(err, store.ErrCASFailed) {
		t.Fatalf("a denied op reads as a CAS conflict: %v", err)
	}
}

func checkErr(t *testing.T, err, want error, text string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want one wrapping %v", err, want)
	}
	if !strings.Contains(err.Error(), text) {
		t.Fatalf("err = %q, want it to say %q", err, text)
	}
	if strings.Contains(err.Error(), "5ec2e7t0ken") {
		t.Fatalf("err leaks the token: %q", err)
	}
	walk(err, func(e error) {
		if strings.Contains(e.Error(), "5ec2e7t0ken") {
			t.Fatalf("wrapped err leaks the token: %q", e)
		}
	})
	t.Logf("%v", err)
}

// walk calls fn on err and everything it wraps.
func walk(err error, fn func(error)) {
	if err == nil {
		return
	}
	fn(err)
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		walk(u.Unwrap(), fn)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			walk(e, fn)
		}
	}
}
