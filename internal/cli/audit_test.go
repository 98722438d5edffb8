package cli

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"

	"github.com/aegirhq/aegir/dashboard"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/store/boltkv"
)

// TestAuditList drives "aegir audit list" against the real API: changes
// made through the CLI are listed, and the filters narrow them.
func TestAuditList(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	kv, err := boltkv.Open(filepath.Join(t.TempDir(), "aegir.db"), &boltkv.Config{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := store.New(kv, &store.Config{Logger: quiet})
	t.Cleanup(func() { _ = st.Close() })
	token, _, err := st.EnsureAdmin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := dashboard.New(&dashboard.Config{Store: st, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	b := &bundle{t: t, env: map[string]string{"AEGIR_ADDR": ln.Addr().String(), "AEGIR_TOKEN": token}}

	b.run("client", "create", "acme", "-title", "Acme Inc.").want(t, ExitOK)
	b.run("client", "create", "globex").want(t, ExitOK)

	r := b.run("audit", "list").want(t, ExitOK)
	contains(t, "stdout", r.stdout, "ACTION", "create", "client", "title=Acme Inc.", "127.0.0.1")

	r = b.run("audit", "list", "-client", "acme", "-since", "1h", "-json").want(t, ExitOK)
	var l struct {
		Items []domain.AuditEntry `json:"items"`
		Total int                 `json:"total"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &l); err != nil {
		t.Fatal(err)
	}
	if l.Total != 1 || l.Items[0].Fields["name"] != "acme" || l.Items[0].UserName != "admin" {
		t.Errorf("audit list -client acme: %+v", l)
	}
	b.run("audit", "list", "-since", "yesterday").want(t, ExitUsage)
}
