package testharness

import (
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestConsul(t *testing.T) {
	t.Parallel()
	a := Consul(t)
	key := UniquePrefix(t) + "hello"
	consulPut(t, a, key, "world")
	if got := consulGet(t, a, key); got != "world" {
		t.Fatalf("KV get %s = %q, want %q", key, got, "world")
	}
}

// A persistent agent comes back from Restart on its address with its data.
func TestConsulPersistentRestart(t *testing.T) {
	t.Parallel()
	a := ConsulPersistent(t)
	addr := a.Addr
	consulPut(t, a, "kept", "across a restart")
	a.Restart(t, 0)
	if a.Addr != addr {
		t.Fatalf("restarted on %s, was %s", a.Addr, addr)
	}
	if got := consulGet(t, a, "kept"); got != "across a restart" {
		t.Fatalf("after the restart: %q", got)
	}
}

func TestSharedConsul(t *testing.T) {
	t.Parallel()
	a, b := SharedConsul(t), SharedConsul(t)
	if a != b {
		t.Fatalf("SharedConsul returned two agents: %s and %s", a.Addr, b.Addr)
	}
	p1, p2 := UniquePrefix(t), UniquePrefix(t)
	if p1 == p2 || !strings.HasPrefix(p1, "test/TestSharedConsul-") || !strings.HasSuffix(p1, "/") {
		t.Fatalf("UniquePrefix gave %q and %q", p1, p2)
	}
	consulPut(t, a, p1+"k", "v1")
	consulPut(t, a, p2+"k", "v2")
	if got := consulGet(t, a, p1+"k"); got != "v1" {
		t.Fatalf("got %q, want v1", got)
	}
}

func consulPut(t *testing.T, a *ConsulAgent, key, value string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, a.HTTPAddr+"/v1/kv/"+key, strings.NewReader(value))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "true" {
		t.Fatalf("KV put %s: %s %s", key, resp.Status, body)
	}
}

func consulGet(t *testing.T, a *ConsulAgent, key string) string {
	t.Helper()
	var entries []struct{ Value string }
	if err := getJSON(a.HTTPAddr+"/v1/kv/"+key, &entries); err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("KV get %s: %d entries", key, len(entries))
	}
	v, err := base64.StdEncoding.DecodeString(entries[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	return string(v)
}

// TestConsulACL: anonymous requests are refused, the management token may
// do anything, and a token from ACLToken only what its policy says.
func TestConsulACL(t *testing.T) {
	t.Parallel()
	a := ConsulACL(t)
	if a.ManagementToken == "" {
		t.Fatal("no management token")
	}
	put := func(token, key string) int {
		req, err := http.NewRequest(http.MethodPut, a.HTTPAddr+"/v1/kv/"+key, strings.NewReader("v"))
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("X-Consul-Token", token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tok := a.ACLToken(t, t.Name(), `key_prefix "allowed/" { policy = "write" }`)
	for _, c := range []struct {
		token, key string
		want       int
	}{
		{"", "allowed/k", http.StatusForbidden},
		{a.ManagementToken, "anywhere/k", http.StatusOK},
		{tok, "allowed/k", http.StatusOK},
		{tok, "other/k", http.StatusForbidden},
	} {
		if got := put(c.token, c.key); got != c.want {
			t.Errorf("PUT %s with token %.8q: %d, want %d", c.key, c.token, got, c.want)
		}
	}
}
