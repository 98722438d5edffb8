package uitest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/aegirhq/aegir/dashboard"
	"github.com/aegirhq/aegir/internal/builtinweb"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/locks"
	"github.com/aegirhq/aegir/internal/logbus"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/store"
	"github.com/aegirhq/aegir/internal/store/boltkv"
	"github.com/aegirhq/aegir/scheduler/dispatch"
	"github.com/aegirhq/aegir/scheduler/localexec"
	"github.com/aegirhq/aegir/scheduler/queue"
)

// aegirBin is the aegir binary built once: the local executor runs it as
// the back end.
var aegirBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "aegir-uitest-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	aegirBin = filepath.Join(dir, "aegir")
	build := exec.Command("go", "build", "-o", aegirBin, "github.com/aegirhq/aegir")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build aegir:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// product is aegir running in this process.
type product struct {
	t        *testing.T
	st       *store.Store
	dataDir  string
	url      string // http://127.0.0.1:port of the dashboard
	sites    string // host:port of the builtin web server
	password string // the admin's, from EnsureAdminPassword
	localID  string
	clientID string
	otherID  string
}

func startProduct(t *testing.T) *product {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &product{t: t, dataDir: t.TempDir()}
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	kv, err := boltkv.Open(filepath.Join(p.dataDir, "aegir.db"), &boltkv.Config{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	p.st = store.New(kv, &store.Config{Logger: logger})
	bus := logbus.NewMemory(nil)
	exec, err := localexec.New(localexec.Config{Bus: bus, Binary: aegirBin, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	queues, err := queue.New(queue.Config{Store: p.st, Locker: locks.NewMemory(), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	disp, err := dispatch.New(dispatch.Config{
		Store: p.st, Executor: queues.Observe(exec), Bus: bus, Locker: locks.NewMemory(), MaxParallel: 4,
		Env:    provision.EnvInfo{DataDir: p.dataDir, BackupDir: filepath.Join(p.dataDir, "backups"), SecretsBackend: "file"},
		Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	web, err := builtinweb.New(builtinweb.Config{RoutesDir: builtinweb.RoutesDir(p.dataDir), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	api, err := dashboard.New(&dashboard.Config{Store: p.st, Logger: logger, Logs: disp.TaskLogs(), Canceller: disp, Queues: queues,
		ImportDir: filepath.Join(p.dataDir, "backups", "imports")})
	if err != nil {
		t.Fatal(err)
	}
	apiLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sitesLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.url, p.sites = "http://"+apiLn.Addr().String(), sitesLn.Addr().String()
	done := make(chan struct{}, 3)
	go func() { _ = disp.Run(ctx); done <- struct{}{} }()
	go func() { _ = api.Serve(apiLn); done <- struct{}{} }()
	go func() { _ = web.Serve(sitesLn); done <- struct{}{} }()
	t.Cleanup(func() {
		cancel()
		shut, c2 := context.WithTimeout(context.Background(), 10*time.Second)
		defer c2()
		_ = api.Shutdown(shut)
		_ = web.Shutdown(shut)
		for range 3 {
			select {
			case <-done:
			case <-shut.Done():
			}
		}
		_ = p.st.Close()
	})

	// What aegir dev bootstraps, plus the admin password the dashboard needs.
	if _, _, err := p.st.EnsureAdmin(ctx); err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(p.dataDir, "admin-password")
	if _, err := dashboard.EnsureAdminPassword(ctx, p.st, pwFile); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(pwFile)
	if err != nil {
		t.Fatal(err)
	}
	p.password = strings.TrimSpace(string(raw))
	_, portStr, _ := net.SplitHostPort(p.sites)
	port, _ := strconv.Atoi(portStr)
	local := &domain.Server{Name: "local", Address: "127.0.0.1"}
	task, err := p.st.CreateServer(ctx, local, []domain.Service{{Kind: domain.KindBuiltin, Port: port}, {Kind: domain.KindSQLite}}, "test")
	if err != nil {
		t.Fatal(err)
	}
	p.localID = local.ID
	p.waitTask(task.ID)
	acme := &domain.Client{Name: "acme", Title: "ACME Corporation"}
	other := &domain.Client{Name: "globex", Title: "Globex"}
	for _, c := range []*domain.Client{acme, other} {
		if err := p.st.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	p.clientID, p.otherID = acme.ID, other.ID
	h, err := dashboard.HashPassword("alice-password-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.st.CreateUser(ctx, &domain.User{Name: "alice", Role: domain.RoleClient, ClientIDs: []string{acme.ID}, PasswordHash: h}); err != nil {
		t.Fatal(err)
	}
	return p
}

// waitTask waits for a task to finish and fails unless it succeeded.
func (p *product) waitTask(id string) {
	p.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		task, err := p.st.GetTask(context.Background(), id)
		if err != nil {
			p.t.Fatal(err)
		}
		switch task.Status {
		case domain.TaskSucceeded:
			return
		case domain.TaskFailed, domain.TaskCancelled:
			p.t.Fatalf("task %s (%s) %s: %s (%s)", id, task.Type, task.Status, task.Explanation, task.FixHint)
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.t.Fatalf("task %s did not finish", id)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// chromium finds Debian's chromium; missing, it skips (fails under CI).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed; ops/install-deps.sh installs it (apt-get install chromium)")
	}
	t.Skip("chromium is not installed (apt-get install chromium)")
	return ""
}

// newBrowser starts a headless Chromium with a fresh profile.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	// Not t.TempDir: Chromium's helpers may still write to the profile
	// for a moment after the browser exits, so removal retries.
	profile, err := os.MkdirTemp("", "aegir-uitest-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1366, 768),
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancel2)
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// artifacts is where screenshots go.
func artifacts(t *testing.T) string {
	t.Helper()
	base := os.Getenv("AEGIR_ARTIFACTS")
	var dir string
	var err error
	if base != "" {
		dir = filepath.Join(base, "ui-screenshots")
		err = os.MkdirAll(dir, 0o755)
	} else {
		dir, err = os.MkdirTemp("", "aegir-ui-screenshots-")
	}
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// run runs chromedp actions with a deadline, failing the test with the
// step's name.
func run(t *testing.T, ctx context.Context, step string, actions ...chromedp.Action) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Run(c, actions...); err != nil {
		var loc, body string
		_ = chromedp.Run(ctx, chromedp.Location(&loc), chromedp.Text("body", &body, chromedp.ByQuery))
		t.Fatalf("%s: %v\nat %s\n%s", step, err, loc, clip(body, 2000))
	}
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// waitJS evaluates a JavaScript condition until it is true. Pages reload
// themselves when a task they follow ends, so an evaluation that fails
// because the page navigated is tried again.
func waitJS(expr string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		var lastErr error
		for {
			var ok bool
			err := chromedp.Evaluate(expr, &ok).Do(ctx)
			if err == nil && ok {
				return nil
			}
			lastErr = err
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for %s: %w (last error: %v)", expr, ctx.Err(), lastErr)
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
}

func login(url, name, password string) chromedp.Tasks {
	return chromedp.Tasks{
		chromedp.Navigate(url + "/login"),
		chromedp.WaitVisible("#name", chromedp.ByQuery),
		chromedp.SendKeys("#name", name, chromedp.ByQuery),
		chromedp.SendKeys("#password", password, chromedp.ByQuery),
		chromedp.Click("#login-form button[type=submit]", chromedp.ByQuery),
		chromedp.WaitVisible("nav.sidebar", chromedp.ByQuery),
	}
}

func logout() chromedp.Action {
	return chromedp.Tasks{
		chromedp.Evaluate(`document.getElementById("logout").click()`, nil),
		chromedp.WaitVisible("#login-form", chromedp.ByQuery),
	}
}

// TestBrowserFlow: log in → create a platform → create a site → watch its
// install log stream live → see the site enabled → back it up → disable it
// and see the status change → log in as a client user and see only that
// client's site. Screenshots of the main pages along the way.
func TestBrowserFlow(t *testing.T) {
	ctx := newBrowser(t)
	p := startProduct(t)
	shots := artifacts(t)
	t.Logf("screenshots: %s", shots)
	fmt.Fprintf(os.Stderr, "uitest: screenshots in %s\n", shots)

	// A site of another client, which alice must never see.
	platformDir := filepath.Join(p.dataDir, "platforms", "example")
	if err := os.MkdirAll(filepath.Join(platformDir, "public"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(platformDir, "public", "index.html"), []byte("<h1>It works</h1>\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	run(t, ctx, "login page", chromedp.Navigate(p.url+"/login"), chromedp.WaitVisible("#login-form", chromedp.ByQuery))
	screenshot(t, ctx, shots, "login")
	run(t, ctx, "log in as admin", login(p.url, "admin", p.password))
	// No site yet: the overview opens with the getting-started card.
	run(t, ctx, "empty overview", chromedp.Navigate(p.url+"/"), chromedp.WaitVisible("#getting-started", chromedp.ByQuery))
	screenshot(t, ctx, shots, "overview-empty")

	// Create the platform through its form.
	run(t, ctx, "create a platform",
		chromedp.Navigate(p.url+"/platforms/new"),
		chromedp.WaitVisible("#platform-form", chromedp.ByQuery),
		chromedp.SendKeys("#pf-name", "example", chromedp.ByQuery),
		chromedp.SendKeys("#pf-path", platformDir, chromedp.ByQuery),
		chromedp.SetValue("#pf-type", "static", chromedp.ByQuery),
		chromedp.Click("#platform-form button[type=submit]", chromedp.ByQuery),
		chromedp.WaitVisible("#platform-status", chromedp.ByQuery),
	)
	ctxb := context.Background()
	pf, err := p.st.PlatformByName(ctxb, "example")
	if err != nil {
		t.Fatal(err)
	}
	vt, err := p.st.ListTasks(ctxb, store.TaskFilter{TargetID: pf.ID, Limit: 1})
	if err != nil || len(vt.Items) == 0 {
		t.Fatalf("no verify-platform task: %v", err)
	}
	p.waitTask(vt.Items[0].ID)
	run(t, ctx, "platform ready", chromedp.Reload(), waitJS(`document.getElementById("platform-status").textContent === "ready"`))

	// The other client's site, created behind the browser's back.
	otherSite := &domain.Site{Domain: "globex.localhost", PlatformID: pf.ID, DBServerID: p.localID, ClientID: p.otherID}
	ot, err := p.st.CreateSite(ctxb, otherSite, "test")
	if err != nil {
		t.Fatal(err)
	}

	var flashRefused string
	// Create the site; the form lands on its install task, whose log the
	// page follows over SSE. window.__aegirMark survives only as long as
	// the page is not reloaded, so lines seen with it arrived live.
	// With two clients the form chooses none; a refused form comes back
	// with the domain, platform and client that were typed.
	var chosen, kept, keptClient string
	run(t, ctx, "new-site form",
		chromedp.Navigate(p.url+"/sites/new"),
		chromedp.WaitVisible("#site-form", chromedp.ByQuery),
		chromedp.Value("#client_id", &chosen, chromedp.ByQuery),
	)
	if chosen != "" {
		t.Errorf("the new-site form chose client %q for the person", chosen)
	}
	run(t, ctx, "a refused site",
		chromedp.SendKeys("#domain", "globex.localhost", chromedp.ByQuery),
		chromedp.SetValue("#platform_id", pf.ID, chromedp.ByQuery),
		chromedp.SetValue("#client_id", p.clientID, chromedp.ByQuery),
		chromedp.Click("#site-form button[type=submit]", chromedp.ByQuery),
		chromedp.WaitVisible("#flash", chromedp.ByQuery),
		chromedp.Value("#domain", &kept, chromedp.ByQuery),
		chromedp.Value("#client_id", &keptClient, chromedp.ByQuery),
		chromedp.Text("#flash", &flashRefused, chromedp.ByQuery),
	)
	screenshot(t, ctx, shots, "site-new-refused")
	if kept != "globex.localhost" || keptClient != p.clientID {
		t.Errorf("the refused form kept domain %q client %q", kept, keptClient)
	}
	if !strings.Contains(flashRefused, "already used by the site globex.localhost") {
		t.Errorf("a taken domain is reported as %q", flashRefused)
	}
	run(t, ctx, "create a site",
		chromedp.Navigate(p.url+"/sites/new"),
		chromedp.WaitVisible("#site-form", chromedp.ByQuery),
		chromedp.SendKeys("#domain", "hello.localhost", chromedp.ByQuery),
		chromedp.SetValue("#platform_id", pf.ID, chromedp.ByQuery),
		chromedp.SetValue("#db_server_id", p.localID, chromedp.ByQuery),
		chromedp.SetValue("#client_id", p.clientID, chromedp.ByQuery),
		chromedp.Click("#site-form button[type=submit]", chromedp.ByQuery),
		chromedp.WaitReady("#log", chromedp.ByQuery),
	)
	var liveLines int
	run(t, ctx, "install log streams live",
		chromedp.Evaluate(`window.__aegirMark = 1`, nil),
		waitJS(`window.__aegirMark !== 1 || document.querySelectorAll("#log .ln.streamed").length > 0 || document.getElementById("log").dataset.done === "1"`),
		chromedp.Evaluate(`window.__aegirMark === 1 ? document.querySelectorAll("#log .ln.streamed").length : -1`, &liveLines),
	)
	screenshot(t, ctx, shots, "task-live")
	if liveLines <= 0 {
		t.Errorf("no log line arrived live on the install task page (got %d); the log was complete before the page loaded or the stream failed", liveLines)
	}
	run(t, ctx, "install succeeded", waitJS(`document.getElementById("task-status") && document.getElementById("task-status").dataset.status === "succeeded" && !document.getElementById("live-dot")`))
	screenshot(t, ctx, shots, "task")
	site, err := p.st.SiteByDomain(ctxb, "hello.localhost")
	if err != nil {
		t.Fatal(err)
	}
	p.waitTask(ot.ID)

	// Its page says enabled.
	run(t, ctx, "site is enabled",
		chromedp.Navigate(p.url+"/sites/"+site.ID),
		waitJS(`document.getElementById("site-status").textContent === "enabled"`),
	)
	screenshot(t, ctx, shots, "site")
	// Its visit link is its domain on the builtin server's port, in the
	// site page and in the sites list.
	var visit, listVisit string
	var ok bool
	run(t, ctx, "visit links",
		chromedp.AttributeValue("#visit", "href", &visit, &ok, chromedp.ByQuery),
		chromedp.Navigate(p.url+"/sites"),
		chromedp.AttributeValue("#sites-table a.visit[href*='//hello.localhost']", "href", &listVisit, &ok, chromedp.ByQuery),
		chromedp.Navigate(p.url+"/sites/"+site.ID),
		chromedp.WaitVisible("#task-backup", chromedp.ByQuery),
	)
	_, sitesPort, _ := net.SplitHostPort(p.sites)
	if want := "http://hello.localhost:" + sitesPort + "/"; visit != want || listVisit != want {
		t.Errorf("visit links %q and %q, want %q", visit, listVisit, want)
	}
	if code, body := p.getSite("hello.localhost"); code != 200 || !strings.Contains(body, "It works") {
		t.Errorf("the site answers %d %q", code, clip(body, 200))
	}

	// Back it up: the page follows the task and shows the backup.
	run(t, ctx, "back up",
		chromedp.Click("#task-backup button", chromedp.ByQuery),
		chromedp.WaitVisible("#flash", chromedp.ByQuery),
		waitJS(`!document.getElementById("active-task") && document.querySelectorAll("#backups tbody tr td.empty").length === 0`),
	)
	// Run the stats and cron passes from the queues page (each pass takes
	// one of the two sites: ceil(sites × interval / frequency)); the site page
	// then charts its statistics and shows its cron output.
	for _, q := range []string{"stats", "stats", "cron", "cron"} {
		run(t, ctx, "run the "+q+" queue",
			chromedp.Navigate(p.url+"/queues"),
			chromedp.Click("#queue-"+q+" form[action$='/run'] button", chromedp.ByQuery),
			chromedp.WaitVisible("#flash", chromedp.ByQuery),
		)
	}
	var flashText, disks string
	run(t, ctx, "pass report", chromedp.Text("#flash", &flashText, chromedp.ByQuery))
	// The stats pass measured the sites: the list shows their disk use in
	// bytes' units.
	run(t, ctx, "disk column", chromedp.Navigate(p.url+"/sites"),
		chromedp.Evaluate(`[...document.querySelectorAll("#sites-table tbody td.num")].map(td => td.textContent.trim()).join(",")`, &disks))
	if !strings.Contains(disks, "iB") && !strings.Contains(disks, " B") {
		t.Errorf("the sites list's disk column after a stats pass: %q", disks)
	}
	t.Logf("last pass: %s", flashText)

	// Disable asks a plain yes or no (the browser's dialog), nothing to
	// type. "No" queues nothing; "yes" disables, and the status changes on
	// the page.
	var dialogs atomic.Int32
	var accept atomic.Bool
	chromedp.ListenTarget(ctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			dialogs.Add(1)
			go func() { _ = chromedp.Run(ctx, page.HandleJavaScriptDialog(accept.Load())) }()
		}
	})
	var typeFields int
	run(t, ctx, "disable: answer no",
		chromedp.Navigate(p.url+"/sites/"+site.ID),
		chromedp.WaitVisible("#task-disable", chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector("#task-disable").closest("details").open = true`, nil),
		chromedp.Evaluate(`document.querySelectorAll("#task-disable input[name=confirm]").length`, &typeFields),
		chromedp.Click(`#task-disable button[type=submit]`, chromedp.ByQuery),
		chromedp.Sleep(500*time.Millisecond),
	)
	if typeFields != 0 {
		t.Errorf("disable asks to type the domain")
	}
	if dialogs.Load() != 1 {
		t.Errorf("disable asked %d times, want a yes-or-no dialog", dialogs.Load())
	}
	if l, _ := p.st.ListTasks(ctxb, store.TaskFilter{TargetID: site.ID, Type: domain.TaskDisable}); l.Total != 0 {
		t.Errorf("answering no queued a disable")
	}
	accept.Store(true)
	run(t, ctx, "disable: answer yes",
		chromedp.Click(`#task-disable button[type=submit]`, chromedp.ByQuery),
		chromedp.WaitVisible("#flash", chromedp.ByQuery),
		waitJS(`document.getElementById("site-status").textContent === "disabled"`),
	)
	if code, _ := p.getSite("hello.localhost"); code != 503 {
		t.Errorf("the disabled site answers %d, want 503", code)
	}

	// Subscribe to notifications through the form, and open the
	// subscription's delivery log (deliveries are tested in internal/notify).
	run(t, ctx, "subscribe to notifications",
		chromedp.Navigate(p.url+"/notifications"),
		chromedp.WaitVisible("#subscription-form", chromedp.ByQuery),
		chromedp.SetValue("#sub-channel", "email", chromedp.ByQuery),
		chromedp.SendKeys("#sub-target", "ops@example.com", chromedp.ByQuery),
		chromedp.Click("#subscription-form button[type=submit]", chromedp.ByQuery),
		chromedp.WaitVisible("#subscriptions a[href^='/notifications/']", chromedp.ByQuery),
	)
	screenshot(t, ctx, shots, "notifications-subscribed")
	run(t, ctx, "open the delivery log",
		chromedp.Click("#subscriptions a[href^='/notifications/']", chromedp.ByQuery),
		chromedp.WaitVisible("#deliveries", chromedp.ByQuery),
	)
	screenshot(t, ctx, shots, "notification-deliveries")

	// Screenshots of the main pages at both sizes.
	pages := []struct{ name, path string }{
		{"overview", "/"}, {"sites", "/sites"}, {"site", "/sites/" + site.ID}, {"site-other", "/sites/" + otherSite.ID}, {"site-new", "/sites/new"},
		{"platforms", "/platforms"}, {"servers", "/servers"}, {"server", "/servers/" + p.localID},
		{"tasks", "/tasks"}, {"clients", "/clients"}, {"users", "/users"}, {"queues", "/queues"},
		{"notifications", "/notifications"},
	}
	for _, size := range []struct {
		name   string
		w, h   int64
		mobile bool
	}{{"laptop", 1366, 768, false}, {"phone", 390, 844, true}} {
		run(t, ctx, "viewport "+size.name, chromedp.EmulateViewport(size.w, size.h, func(sdm *emulation.SetDeviceMetricsOverrideParams, _ *emulation.SetTouchEmulationEnabledParams) {
			sdm.Mobile = size.mobile
			sdm.DeviceScaleFactor = 1
		}))
		for _, pg := range pages {
			run(t, ctx, "open "+pg.name, chromedp.Navigate(p.url+pg.path), chromedp.WaitVisible("main h1", chromedp.ByQuery))
			screenshot(t, ctx, shots, size.name+"-"+pg.name)
		}
		if size.mobile {
			// The menu opens without script (a checkbox and its label).
			run(t, ctx, "open the phone menu", chromedp.Click("label.burger", chromedp.ByQuery), chromedp.WaitVisible("nav.sidebar a[href='/tasks']", chromedp.ByQuery), chromedp.Sleep(400*time.Millisecond))
			screenshot(t, ctx, shots, "phone-menu")
		}
	}
	run(t, ctx, "back to laptop size", chromedp.EmulateViewport(1366, 768))

	// A client user sees only their client's site.
	var listed string
	run(t, ctx, "client user",
		logout(),
		login(p.url, "alice", "alice-password-1"),
		chromedp.Navigate(p.url+"/sites"),
		chromedp.Text("#sites-table tbody", &listed, chromedp.ByQuery),
	)
	if !strings.Contains(listed, "hello.localhost") || strings.Contains(listed, "globex.localhost") {
		t.Errorf("alice's sites: %q", listed)
	}
	screenshot(t, ctx, shots, "client-sites")
	var adminCards int
	run(t, ctx, "client overview", chromedp.Navigate(p.url+"/"), chromedp.WaitVisible("main h1", chromedp.ByQuery),
		chromedp.Evaluate(`[...document.querySelectorAll("main h2")].filter(h => /Servers|Periodic queues/.test(h.textContent)).length`, &adminCards))
	screenshot(t, ctx, shots, "client-overview")
	if adminCards != 0 {
		t.Errorf("the client user's overview has %d admin cards", adminCards)
	}
	var status int
	run(t, ctx, "another client's site is 404",
		chromedp.Navigate(p.url+"/sites/"+otherSite.ID),
		chromedp.Evaluate(`document.querySelector(".error-page .big") ? +document.querySelector(".error-page .big").textContent : 0`, &status),
	)
	if status != 404 {
		t.Errorf("alice opening globex's site: %d, want 404", status)
	}
}

// getSite fetches / of a site through the builtin web server.
func (p *product) getSite(host string) (int, string) {
	req, _ := http.NewRequest("GET", "http://"+p.sites+"/", nil)
	req.Host = host
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	var buf []byte
	// A page may reload itself while it is shot (a task page when its log
	// ends): Chrome then has no layout ("0 width"); wait for the body again
	// and retry a few times before failing.
	var err error
	for try := 0; try < 5; try++ {
		if err = chromedp.Run(ctx, chromedp.WaitReady("body", chromedp.ByQuery), chromedp.FullScreenshot(&buf, 100)); err == nil {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}
