package testharness

import (
	"encoding/json"
	"net/http"
	"testing"
)

func TestVault(t *testing.T) {
	t.Parallel()
	v := Vault(t)

	code, body, err := v.do(http.MethodPost, "/v1/secret/data/aegir/test",
		[]byte(`{"data":{"password":"s3cret"}}`))
	if err != nil || code != http.StatusOK {
		t.Fatalf("KV v2 write: %d %s %v", code, body, err)
	}
	code, body, err = v.do(http.MethodGet, "/v1/secret/data/aegir/test", nil)
	if err != nil || code != http.StatusOK {
		t.Fatalf("KV v2 read: %d %s %v", code, body, err)
	}
	var read struct {
		Data struct {
			Data map[string]string `json:"data"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &read); err != nil {
		t.Fatal(err)
	}
	if got := read.Data.Data["password"]; got != "s3cret" {
		t.Fatalf("read password %q, want s3cret", got)
	}

	v.Seal(t)
	if code, _, _ := v.do(http.MethodGet, "/v1/secret/data/aegir/test", nil); code != http.StatusServiceUnavailable {
		t.Fatalf("read while sealed: status %d, want 503", code)
	}
	v.Unseal(t)
	if code, body, _ := v.do(http.MethodGet, "/v1/secret/data/aegir/test", nil); code != http.StatusOK {
		t.Fatalf("read after unseal: %d %s", code, body)
	}
}
