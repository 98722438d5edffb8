package webnginx

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/provision/weberr"
	"github.com/aegirhq/aegir/internal/provision/webtest"
	"github.com/aegirhq/aegir/internal/servicekind"
	"github.com/aegirhq/aegir/internal/testharness"
)

// bundle is what a test against a real nginx needs.
type bundle struct {
	nginx  *testharness.NginxServer
	fpm    *testharness.PHPFPMServer
	driver *Driver
	root   string // where sites' files live
}

func setup(t *testing.T, withPHP bool) *bundle {
	t.Helper()
	b := &bundle{nginx: testharness.Nginx(t)}
	svc := provision.ServiceInfo{
		ID: "svc1", Type: "http", Kind: "nginx", Port: b.nginx.Port,
		Settings: map[string]string{
			"config_dir":  b.nginx.ConfDir,
			"main_config": b.nginx.MainConfig,
			"pid_file":    b.nginx.PidFile,
			"binary":      b.nginx.Bin,
		},
	}
	if withPHP {
		b.fpm = testharness.PHPFPM(t)
		svc.Settings["php_fastcgi"] = "unix:" + b.fpm.Socket
	}
	d, err := Factory(svc, provision.ServerInfo{ID: "srv1", Name: "web1", Address: "127.0.0.1"}, provision.EnvInfo{}, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	b.driver = d.(*Driver)
	b.root = shortDir(t)
	return b
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// shortDir is a temp dir whose path passes domain.ValidatePath (t.TempDir
// paths carry the test name).
func shortDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "aegir-web-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	testharness.WebReachable(t, d) // nginx's workers run as www-data
	return d
}

// staticSite makes a docroot with an index.html saying body.
func (b *bundle) staticSite(t *testing.T, name, body string) provision.WebSite {
	t.Helper()
	dir := filepath.Join(b.root, name, "public")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return provision.WebSite{Domain: name, Docroot: dir}
}

// get fetches path from nginx with Host set, on a fresh connection.
func (b *bundle) get(t *testing.T, host, path string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest("GET", b.driver.URL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	c := &http.Client{
		Timeout:       5 * time.Second,
		Transport:     &http.Transport{DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s%s (Host %s): %v", b.driver.URL(), path, host, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

func (b *bundle) expect(t *testing.T, host, path string, code int, contains string) {
	t.Helper()
	got, body, _ := b.get(t, host, path)
	if got != code || !strings.Contains(body, contains) {
		t.Fatalf("GET %s Host %s = %d %q, want %d containing %q\nnginx error log:\n%s", path, host, got, body, code, contains, b.nginx.ErrorLogTail(15))
	}
}

// TestConformance runs the webtest suite against a real nginx with a pid
// file, so every change answers as soon as Publish returns.
func TestConformance(t *testing.T) {
	t.Parallel()
	b := setup(t, false)
	if b.driver.URL() != "http://127.0.0.1:"+itoa(b.nginx.Port) {
		t.Fatalf("URL = %s", b.driver.URL())
	}
	// After every scenario: no temp file of an atomic write is left.
	t.Cleanup(func() { assertNoTempFiles(t, b.nginx.ConfDir) })
	webtest.Run(t, &webtest.Harness{
		Kind:      servicekind.Nginx,
		Driver:    b.driver,
		StateDir:  b.nginx.ConfDir,
		Immediate: true,
		DefaultPort: func(t *testing.T) provision.WebDriver {
			d, err := New(Config{ConfigDir: b.nginx.ConfDir, MainConfig: b.nginx.MainConfig}, nil)
			if err != nil {
				t.Fatal(err)
			}
			return d
		},
		FromSettings: func(t *testing.T, settings map[string]string) error {
			all := map[string]string{"config_dir": b.nginx.ConfDir, "main_config": b.nginx.MainConfig, "pid_file": b.nginx.PidFile, "binary": b.nginx.Bin}
			maps.Copy(all, settings)
			_, err := Factory(provision.ServiceInfo{ID: "svc1", Type: "http", Kind: "nginx", Port: b.nginx.Port, Settings: all},
				provision.ServerInfo{ID: "srv1", Name: "web1", Address: "127.0.0.1"}, provision.EnvInfo{}, nil)
			return err
		},
		Unusable: func(t *testing.T) provision.WebDriver {
			d, err := New(Config{ConfigDir: b.nginx.ConfDir, MainConfig: b.nginx.MainConfig, Binary: "/nonexistent/nginx"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			return d
		},
		Debug: func() string { return "nginx error log:\n" + b.nginx.ErrorLogTail(15) },
		BadSites: map[string]provision.WebSite{
			// A FastCGI parameter's value is pasted into the vhost (the
			// builtin server passes it on as it is, so it may hold these).
			"env injection": {Domain: "evil.example.com", Docroot: "/srv/x", PHP: true, FastCGI: "unix:/run/x.sock",
				Env: map[string]string{"AEGIR_SITE_DIR": `/x"; } server { listen 1; #`}},
		},
	})
}

func TestPublishPHPSite(t *testing.T) {
	t.Parallel()
	b := setup(t, true)
	ctx := context.Background()
	// A copy under the temp dir: the checkout's own path may hold
	// characters a docroot may not (a space, say).
	platform := filepath.Join(t.TempDir(), "php-app")
	if err := os.CopyFS(platform, os.DirFS(testharness.PlatformFixture("php-app"))); err != nil {
		t.Fatal(err)
	}
	testharness.WebReachable(t, platform)
	if err := domain.ValidatePath("platform", platform, nil); err != nil {
		t.Fatalf("temp dir path is not usable as a docroot: %v", err)
	}
	siteDir := filepath.Join(b.root, "sites", "php.example.com")
	if err := os.MkdirAll(siteDir, 0o755); err != nil {
		t.Fatal(err)
	}
	settings := `{"driver":"sqlite","path":"` + filepath.Join(siteDir, "db.sqlite") + `"}`
	if err := os.WriteFile(filepath.Join(siteDir, "settings.json"), []byte(settings), 0o640); err != nil {
		t.Fatal(err)
	}
	site := provision.WebSite{
		Domain: "php.example.com", Docroot: filepath.Join(platform, "public"), PHP: true,
		Env: map[string]string{"AEGIR_SITE_DIR": siteDir},
	}
	install := exec.Command("php", "bin/install.php")
	install.Dir = platform
	install.Env = append(os.Environ(), "AEGIR_SITE_DIR="+siteDir)
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("install hook: %v\n%s", err, out)
	}
	webGroupOwns(t, siteDir) // as the back end leaves it: PHP runs as www-data
	if err := b.driver.Publish(ctx, site); err != nil {
		t.Fatal(err)
	}
	b.expect(t, "php.example.com", "/hello.txt", 200, "static file from the php-app platform")
	b.expect(t, "php.example.com", "/", 200, "hits: 1")
	b.expect(t, "php.example.com", "/some/route", 200, "hits: 2")
	b.expect(t, "php.example.com", "/index.php", 200, "hits: 3")
	b.expect(t, "php.example.com", "/.hidden", 403, "")
}

// FakeBrokenNginx writes a wrapper around the real nginx that makes
// `nginx -t` fail whenever a *.conf file in confDir contains marker, as if
// nginx had refused that vhost, and otherwise runs the real nginx. It is a
// fault injector: no valid WebSite renders a vhost the real nginx refuses.
func FakeBrokenNginx(t *testing.T, realBin, confDir, marker string) string {
	t.Helper()
	p := filepath.Join(shortDir(t), "nginx")
	script := "#!/bin/sh\n" +
		"for a in \"$@\"; do\n" +
		"  if [ \"$a\" = -t ] && grep -qsF '" + marker + "' '" + confDir + "'/*.conf; then\n" +
		"    echo 'nginx: [emerg] fake failure: " + marker + "' >&2\n" +
		"    echo 'nginx: configuration file test failed' >&2\n" +
		"    exit 1\n" +
		"  fi\n" +
		"done\n" +
		"exec '" + realBin + "' \"$@\"\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBrokenVhostIsRolledBack(t *testing.T) {
	t.Parallel()
	b := setup(t, false)
	ctx := context.Background()
	good := b.staticSite(t, "good.example.com", "good site")
	victim := b.staticSite(t, "victim.example.com", "victim v1")
	for _, s := range []provision.WebSite{good, victim} {
		if err := b.driver.Publish(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	before, err := os.ReadFile(b.driver.VhostPath("victim.example.com"))
	if err != nil {
		t.Fatal(err)
	}

	cfg := b.driver.cfg
	cfg.Binary = FakeBrokenNginx(t, b.nginx.Bin, b.nginx.ConfDir, "www.victim.example.com")
	broken, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}

	// An update of an existing site that nginx refuses: previous file back.
	victim.Aliases = []string{"www.victim.example.com"}
	err = broken.Publish(ctx, victim)
	var cerr *weberr.ConfigError
	if !errors.As(err, &cerr) || !errors.Is(err, weberr.ErrRejected) || cerr.AlreadyBroken {
		t.Fatalf("Publish = %v, want a *ConfigError for the new vhost", err)
	}
	if !strings.Contains(err.Error(), "fake failure: www.victim.example.com") {
		t.Fatalf("error does not carry nginx's message: %v", err)
	}
	after, _ := os.ReadFile(b.driver.VhostPath("victim.example.com"))
	if string(after) != string(before) {
		t.Fatalf("previous vhost not restored:\n%s", after)
	}

	// A new site that nginx refuses: no file left.
	cfg.Binary = FakeBrokenNginx(t, b.nginx.Bin, b.nginx.ConfDir, "new.example.com")
	broken2, _ := New(cfg, nil)
	if err := broken2.Publish(ctx, b.staticSite(t, "new.example.com", "new")); !errors.Is(err, weberr.ErrRejected) {
		t.Fatalf("Publish new = %v", err)
	}
	if _, err := os.Stat(b.driver.VhostPath("new.example.com")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("refused vhost left on disk: %v", err)
	}

	// nginx still serves the others, from the previous config.
	b.expect(t, "good.example.com", "/", 200, "good site")
	b.expect(t, "victim.example.com", "/", 200, "victim v1")
	b.expect(t, "www.victim.example.com", "/", 404, "")
	if err := b.driver.Check(ctx); err != nil {
		t.Fatalf("real nginx -t after rollbacks: %v", err)
	}
	assertNoTempFiles(t, b.nginx.ConfDir)
}

// TestConfigAlreadyBroken puts a broken file (not aegir's) in the config
// dir: a publish is refused, says another file is at fault, and leaves
// nothing behind; the running nginx keeps serving.
func TestConfigAlreadyBroken(t *testing.T) {
	t.Parallel()
	b := setup(t, false)
	ctx := context.Background()
	if err := b.driver.Publish(ctx, b.staticSite(t, "good.example.com", "good site")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.nginx.ConfDir, "zz-manual.conf"), []byte("server { listen oops\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := b.driver.Publish(ctx, b.staticSite(t, "new.example.com", "new"))
	var cerr *weberr.ConfigError
	if !errors.As(err, &cerr) || !cerr.AlreadyBroken || !strings.Contains(err.Error(), "zz-manual.conf") {
		t.Fatalf("Publish = %v, want AlreadyBroken naming zz-manual.conf", err)
	}
	if _, err := os.Stat(b.driver.VhostPath("new.example.com")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("refused vhost left on disk: %v", err)
	}
	b.expect(t, "good.example.com", "/", 200, "good site")
}

func assertNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temp file left in config dir: %s", e.Name())
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestValidVhostNginxRefuses publishes a vhost that passes the validator
// but that the real nginx refuses: it listens on an address this host does
// not have (TEST-NET-1; nothing is ever sent there), and nginx -t fails to
// bind it. The previous state comes back and the other sites keep working.
func TestValidVhostNginxRefuses(t *testing.T) {
	t.Parallel()
	b := setup(t, false)
	ctx := context.Background()
	if err := b.driver.Publish(ctx, b.staticSite(t, "good.example.com", "good site")); err != nil {
		t.Fatal(err)
	}
	cfg := b.driver.cfg
	cfg.ListenAddr = netip.MustParseAddr("192.0.2.1")
	unbindable, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = unbindable.Publish(ctx, b.staticSite(t, "far.example.com", "far"))
	var cerr *weberr.ConfigError
	if !errors.As(err, &cerr) || cerr.AlreadyBroken || !strings.Contains(err.Error(), "192.0.2.1") {
		t.Fatalf("Publish on an unbindable address = %v, want a *ConfigError with nginx's bind error", err)
	}
	if _, err := os.Stat(b.driver.VhostPath("far.example.com")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("refused vhost left on disk: %v", err)
	}
	b.expect(t, "good.example.com", "/", 200, "good site")
	if err := b.driver.Publish(ctx, b.staticSite(t, "next.example.com", "next site")); err != nil {
		t.Fatalf("publish after the refusal: %v", err)
	}
	b.expect(t, "next.example.com", "/", 200, "next site")
}

// TestReloadRefusedIsRolledBack publishes a vhost that passes nginx -t
// (which ignores ports in use, as the running nginx holds its own) but that
// the running master cannot apply: its port is held by another process.
// The master keeps its old configuration and starts no new worker; the
// driver notices, puts the previous state back and reloads, so later
// publishes keep working.
func TestReloadRefusedIsRolledBack(t *testing.T) {
	t.Parallel()
	b := setup(t, false)
	ctx := context.Background()
	if err := b.driver.Publish(ctx, b.staticSite(t, "good.example.com", "good site")); err != nil {
		t.Fatal(err)
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := b.driver.cfg
	cfg.Port = taken.Addr().(*net.TCPAddr).Port
	cfg.ReloadWait = 4 * time.Second // the master retries a busy bind for 2.5 s
	busy, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = busy.Publish(ctx, b.staticSite(t, "busy.example.com", "busy"))
	var cerr *weberr.ConfigError
	if !errors.As(err, &cerr) || !strings.Contains(err.Error(), "did not load") {
		t.Fatalf("Publish on a busy port = %v, want a *ConfigError saying nginx did not load it", err)
	}
	if _, err := os.Stat(b.driver.VhostPath("busy.example.com")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("vhost nginx could not load left on disk: %v", err)
	}
	b.expect(t, "good.example.com", "/", 200, "good site")
	if err := b.driver.Publish(ctx, b.staticSite(t, "next.example.com", "next site")); err != nil {
		t.Fatalf("publish after the refused reload: %v", err)
	}
	b.expect(t, "next.example.com", "/", 200, "next site")
}

// TestSnippetCheckedAndRolledBack: a platform's nginx snippet is served
// from the vhost; one that passes aegir's check but that nginx refuses (a
// second `location /`) is rolled back like any refused vhost, and the site
// keeps its previous config.
func TestSnippetCheckedAndRolledBack(t *testing.T) {
	t.Parallel()
	b := setup(t, false)
	ctx := context.Background()
	site := b.staticSite(t, "snip.example.com", "snippet site")
	site.PlatformDir = filepath.Dir(site.Docroot)
	site.NginxSnippet = "location = /short {\n    return 200 \"from the snippet\\n\";\n}\nlocation ^~ /private/ {\n    deny all;\n}\n"
	if err := b.driver.Publish(ctx, site); err != nil {
		t.Fatal(err)
	}
	b.expect(t, "snip.example.com", "/short", 200, "from the snippet")
	b.expect(t, "snip.example.com", "/private/x", 403, "")
	before, err := os.ReadFile(b.driver.VhostPath("snip.example.com"))
	if err != nil {
		t.Fatal(err)
	}

	dup := site
	dup.NginxSnippet = "location / {\n    deny all;\n}\n"
	err = b.driver.Publish(ctx, dup)
	if !errors.Is(err, weberr.ErrRejected) || !strings.Contains(err.Error(), "duplicate location") {
		t.Fatalf("Publish of a snippet nginx refuses = %v", err)
	}
	after, _ := os.ReadFile(b.driver.VhostPath("snip.example.com"))
	if string(after) != string(before) {
		t.Fatalf("previous vhost not restored:\n%s", after)
	}
	b.expect(t, "snip.example.com", "/short", 200, "from the snippet")

	bad := site
	bad.NginxSnippet = "include /etc/nginx/nginx.conf;"
	if err := b.driver.Publish(ctx, bad); !errors.Is(err, domain.ErrInvalid) {
		t.Fatalf("Publish of a snippet with include = %v, want domain.ErrInvalid", err)
	}
	assertNoTempFiles(t, b.nginx.ConfDir)
}

// webGroupOwns gives dir and what is in it to the web workers' group, as
// the back end does for a site (settings 0640, the rest group-writable so
// PHP in the shared www-data pool can write its database), when the test
// runs as root.
func webGroupOwns(t *testing.T, dir string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	g, err := user.LookupGroup(testharness.WebUser)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no %s group: %v (Debian's base system has it)", testharness.WebUser, err)
		}
		t.Skipf("no %s group: %v", testharness.WebUser, err)
	}
	gid, _ := strconv.Atoi(g.Gid)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(p, 0, gid); err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.Chmod(p, 0o2770)
		case filepath.Base(p) == "settings.json":
			return os.Chmod(p, 0o640)
		default:
			return os.Chmod(p, 0o660)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}
