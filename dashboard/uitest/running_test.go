package uitest

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/aegirhq/aegir/dashboard"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/store/boltkv"
)

// TestBrowserRunningTaskTicks: a running task's page counts its "Running
// for" up in the browser. The dashboard runs here without a dispatcher, so
// the task stays running for as long as the test looks at it.
func TestBrowserRunningTaskTicks(t *testing.T) {
	ctx := newBrowser(t)
	dir := t.TempDir()
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	kv, err := boltkv.Open(filepath.Join(dir, "aegir.db"), &boltkv.Config{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(kv, &store.Config{Logger: logger})
	t.Cleanup(func() { _ = st.Close() })
	bg := context.Background()
	if _, _, err := st.EnsureAdmin(bg); err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(dir, "admin-password")
	if _, err := dashboard.EnsureAdminPassword(bg, st, pwFile); err != nil {
		t.Fatal(err)
	}
	pw, err := os.ReadFile(pwFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := &domain.Server{Name: "local", Address: "127.0.0.1"}
	task, err := st.CreateServer(bg, srv, []domain.Service{{Kind: domain.KindBuiltin, Port: 8481}, {Kind: domain.KindSQLite}}, "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.StartTask(bg, task, "test", 0); err != nil {
		t.Fatal(err)
	}
	api, err := dashboard.New(&dashboard.Config{Store: st, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = api.Serve(ln) }()
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(bg, 5*time.Second)
		defer cancel()
		_ = api.Shutdown(c)
	})
	url := "http://" + ln.Addr().String()

	var first, later, label string
	run(t, ctx, "log in", login(url, "admin", strings.TrimSpace(string(pw))))
	run(t, ctx, "the running task's page",
		chromedp.Navigate(url+"/tasks/"+task.ID),
		chromedp.WaitVisible("#took", chromedp.ByQuery),
		chromedp.Sleep(1200*time.Millisecond),
		chromedp.Text("#took", &first, chromedp.ByQuery),
		chromedp.Sleep(2200*time.Millisecond),
		chromedp.Text("#took", &later, chromedp.ByQuery),
		chromedp.Evaluate(`document.getElementById("took").previousElementSibling.textContent`, &label),
	)
	if label != "Running for" || first == "" || first == later || !strings.HasSuffix(later, "s") {
		t.Errorf("%q did not tick: %q, then %q", label, first, later)
	}
}
