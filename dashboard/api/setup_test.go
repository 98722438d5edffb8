package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/store/boltkv"
)

// The HTTP scenarios of the API run in package dashboard, against the
// assembled server (API and dashboard). The tests here reach into the
// API's own parts (the health check's cache, the status checker, the
// route table), on the API alone.

// bundle is a store on bbolt with its admin, and the API on it.
type bundle struct {
	t    *testing.T
	st   *store.Store
	srv  *Server
	toks map[string]string
}

func setup(t *testing.T, mod ...func(*Config)) *bundle {
	t.Helper()
	kv, err := boltkv.Open(filepath.Join(t.TempDir(), "aegir.db"), &boltkv.Config{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st := store.New(kv, &store.Config{Logger: logger})
	t.Cleanup(func() { _ = st.Close() })
	secret, _, err := st.EnsureAdmin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cfg := &Config{Store: st, Logger: logger}
	for _, m := range mod {
		m(cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &bundle{t: t, st: st, srv: srv, toks: map[string]string{"admin": secret}}
}

// tWriter sends log output through t.Log.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// do sends one request through app.Test, with the named user's token.
func (b *bundle) do(method, url, token, body string, header map[string]string) (*http.Response, []byte) {
	b.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = bytes.NewBufferString(body)
	}
	req := httptest.NewRequest(method, url, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+b.toks[token])
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := b.srv.App().Test(req, -1)
	if err != nil {
		b.t.Fatal(err)
	}
	out, err := io.ReadAll(res.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return res, out
}

func decodeJSON(t *testing.T, body []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
}
