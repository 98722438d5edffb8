package app_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/lifecycle"
	"github.com/aegirhq/aegir/internal/testharness"
)

// TestReadmeGuide runs the README's operator guide as written: each block
// marked "sh runnable:NAME", in order, with sh -eu, from the repository's
// root, against a built aegir running `aegir dev` (the binary on the
// PATH, AEGIR_ADDR and AEGIR_TOKEN exported, SITES the builtin web
// server's address). The one-machine blocks get this test's nginx,
// php-fpm (workers as www-data) and MariaDB through the variables the
// guide says to set. Then the client user the guide made with the CLI
// logs in to the dashboard with the password it was given.
func TestReadmeGuide(t *testing.T) {
	t.Parallel()
	testharness.RequireRoot(t, "the guide's nginx site has its own Unix user and php-fpm pool")
	testharness.RequireTree(t, "wordpress", "/usr/share/wordpress")
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(repo, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := lifecycle.Blocks(md) // the docs' runbooks' convention
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	var names []string
	for _, b := range blocks {
		names = append(names, b.Name)
	}
	if got := strings.Join(names, " "); got != "static-site client-user wordpress-platform one-machine" {
		t.Fatalf("the README's runnable blocks are %q", got)
	}

	root, err := os.MkdirTemp("", "aegir-guide-") // t.TempDir paths hold the test name
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	testharness.WebReachable(t, root)
	for _, d := range []string{"run", "tmp"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ngx, fpm, maria := testharness.Nginx(t), testharness.PHPFPM(t), testharness.MariaDB(t)
	const site = "blog.example.test"
	t.Cleanup(func() { removeSiteUsers(site) })

	d := startDev(t)
	d.waitPlatformsReady()
	env := []string{
		"PATH=" + filepath.Dir(aegirBin) + ":" + os.Getenv("PATH"), "HOME=" + root, "LANG=C.UTF-8",
		"AEGIR_ADDR=http://" + d.api, "AEGIR_TOKEN=" + d.token, "SITES=http://" + d.sites,
		"WP_PLATFORM=" + filepath.Join(root, "wordpress"),
		"NGINX_PORT=" + strconv.Itoa(ngx.Port), "NGINX_CONF_DIR=" + ngx.ConfDir, "NGINX_CONF=" + ngx.MainConfig,
		"NGINX_BIN=" + ngx.Bin, "NGINX_PID=" + ngx.PidFile,
		"PHP_FPM_SOCKET=" + fpm.Socket, "PHP_FPM_BIN=" + fpm.Bin, "PHP_FPM_CONF=" + fpm.Config,
		"PHP_POOL_DIR=" + fpm.PoolDir, "PHP_FPM_PID=" + fpm.PidFile,
		"PHP_RUN_DIR=" + filepath.Join(root, "run"), "PHP_TMP_DIR=" + filepath.Join(root, "tmp"),
		"DB_PORT=" + strings.TrimPrefix(maria.Addr, "127.0.0.1:"), "DB_ADMIN=" + maria.AdminUser,
		"DB_ADMIN_PASSWORD=" + maria.AdminPassword,
	}
	for _, b := range blocks {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		cmd := exec.CommandContext(ctx, "sh", "-eu", "-c", b.Script)
		cmd.Dir, cmd.Env = repo, env
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("README.md:%d, block %s: %v\n%s", b.Line, b.Name, err, tail(string(out), 40))
		}
		t.Logf("block %s:\n%s", b.Name, tail(string(out), 8))
	}

	// The client user made with the CLI logs in with the password it
	// was given at creation, and sees the dashboard.
	w := loginAs(t, "http://"+d.api, "carol", "a long passphrase for carol")
	res, err := w.Get("http://" + d.api + "/sites")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.Request.URL.Path != "/sites" || !strings.Contains(string(body), "carol") {
		t.Fatalf("carol after logging in: %d %s", res.StatusCode, res.Request.URL)
	}
	if strings.Contains(string(body), site) || strings.Contains(string(body), "hello.localhost") {
		t.Errorf("carol (client acme) sees the default client's sites")
	}
}

// loginAs logs name in to the dashboard at base with password, as
// a browser would (the login form's CSRF token, a cookie), and returns
// the logged-in client. It fails the test if the login is refused.
func loginAs(t *testing.T, base, name, password string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	res, err := c.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := csrfField.FindSubmatch(page)
	if m == nil {
		t.Fatalf("the login page has no CSRF field")
	}
	res, err = c.PostForm(base+"/login", url.Values{"_csrf": {string(m[1])}, "name": {name}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.Request.URL.Path == "/login" {
		t.Fatalf("%s could not log in: %s", name, fmt.Sprint(tail(string(body), 5)))
	}
	return c
}
