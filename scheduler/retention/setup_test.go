package retention

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/logbus"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/store/boltkv"
	"github.com/aegirhq/aegir/scheduler/internal/fakebackend"
)

// bundle is what a retention test needs: a real store on bbolt with the
// records a site needs (client, server, ready platform), and a log bus.
type bundle struct {
	st       *store.Store
	bus      *logbus.Memory
	client   *domain.Client
	server   *domain.Server
	platform *domain.Platform
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func setup(t testing.TB) *bundle {
	t.Helper()
	ctx := context.Background()
	kv, err := boltkv.Open(filepath.Join(t.TempDir(), "aegir.db"), nil)
	must(t, err)
	b := &bundle{st: store.New(kv, &store.Config{Logger: testLogger(t)}), bus: logbus.NewMemory(nil)}
	t.Cleanup(func() { _ = b.st.Close() })
	b.client = &domain.Client{Name: "acme"}
	must(t, b.st.CreateClient(ctx, b.client))
	b.server = &domain.Server{Name: "local", Address: "127.0.0.1"}
	_, err = b.st.CreateServer(ctx, b.server, []domain.Service{
		{Kind: domain.KindBuiltin, Port: 8080},
		{Kind: domain.KindSQLite, Settings: map[string]string{"dir": "/srv/sqlite"}},
	}, "test")
	must(t, err)
	b.platform = &domain.Platform{Name: "p1", Path: "/srv/platforms/p1", WebServerID: b.server.ID, Type: domain.PlatformStatic}
	_, err = b.st.CreatePlatform(ctx, b.platform, "test")
	must(t, err)
	b.settle(t)
	return b
}

// settle finishes every active task as a back end would have.
func (b *bundle) settle(t testing.TB) {
	t.Helper()
	fakebackend.Settle(t, b.st)
}

// newSite creates a site (queueing its install) and returns it and the task.
func (b *bundle) newSite(t testing.TB) (*domain.Site, *domain.Task) {
	t.Helper()
	site := &domain.Site{Domain: "site1.example.com", PlatformID: b.platform.ID, DBServerID: b.server.ID, ClientID: b.client.ID}
	task, err := b.st.CreateSite(context.Background(), site, "test")
	must(t, err)
	return site, task
}
