package app_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/testharness"
)

// TestDevWordPressOnNginx drives the assembled binary as an operator
// would: `aegir dev`, then through the CLI alone a server web1 with nginx
// + php-fpm (workers as www-data, a pool per site) and MariaDB
// (`aegir server create`, `aegir service set`, `aegir server
// credentials`), a php platform of Debian's WordPress (the
// wordpress-aegir manifest), and a WordPress site through its life:
// install (its front page is WordPress's, with the site's title), its own
// php-fpm limits (`site edit -php`: out of bounds refused with the field
// named, within bounds in its pool), backup, restore, clone, disable
// (503), enable, delete (its Unix user, pool and database gone). aegir
// dev needs nothing special for this: its local executor runs the back
// end as the user running aegir dev (root here), and every driver is
// built in.
func TestDevWordPressOnNginx(t *testing.T) {
	t.Parallel()
	testharness.RequireRoot(t, "site users and their php-fpm pools")
	testharness.RequireTree(t, "wordpress", "/usr/share/wordpress")
	root, err := os.MkdirTemp("", "aegir-devwp-") // t.TempDir paths hold the test name
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
	plat := filepath.Join(root, "wordpress")
	testharness.DebianAppPlatform(t, "/usr/share/wordpress", "wordpress-aegir", plat)
	const site, clone = "wp.example.test", "copy.example.test"
	t.Cleanup(func() { removeSiteUsers(site, clone) })

	d := startDev(t)
	d.waitPlatformsReady()
	dbPort := strings.TrimPrefix(maria.Addr, "127.0.0.1:")
	d.cli(t, "", "server", "create", "web1", "-address", "127.0.0.1",
		"-http", "nginx", "-http-port", strconv.Itoa(ngx.Port),
		"-http-set", "config_dir="+ngx.ConfDir, "-http-set", "main_config="+ngx.MainConfig,
		"-http-set", "php_fastcgi=unix:"+fpm.Socket,
		"-db", "mariadb", "-db-port", dbPort)
	d.cli(t, "", "service", "set", "web1", "http", "binary="+ngx.Bin, "pid_file="+ngx.PidFile,
		"php_pool_dir="+fpm.PoolDir, "php_fpm_config="+fpm.Config, "php_fpm_binary="+fpm.Bin, "php_fpm_pid_file="+fpm.PidFile,
		"php_run_dir="+filepath.Join(root, "run"), "php_tmp_dir="+filepath.Join(root, "tmp"))
	d.cli(t, maria.AdminPassword, "server", "credentials", "web1", "-db-user", maria.AdminUser)
	d.cli(t, "", "server", "verify", "web1", "-wait")
	d.cli(t, "", "platform", "create", "wordpress", "-path", plat, "-server", "web1", "-type", "php", "-wait")

	d.cli(t, "", "site", "create", site, "-platform", "wordpress", "-db-server", "web1", "-client", "default", "-wait")
	get := func(host string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "http://"+ngx.Addr+"/", nil)
		req.Host = host
		c := &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("GET %s/: %v", host, err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	isWordPress := func(host string) {
		t.Helper()
		code, body := get(host)
		if code != 200 || !strings.Contains(body, "<title>"+site) || !strings.Contains(body, `<meta name="generator" content="WordPress`) {
			t.Fatalf("%s answered %d without WordPress's front page titled %s:\n%.1500s\nnginx error log:\n%s", host, code, site, body, ngx.ErrorLogTail(10))
		}
	}
	isWordPress(site)
	name, _ := provision.SiteUserName(site)
	if _, err := user.Lookup(name); err != nil {
		t.Fatalf("the site's Unix user %s: %v", name, err)
	}
	pool := filepath.Join(fpm.PoolDir, "aegir-"+site+".conf")
	if b, err := os.ReadFile(pool); err != nil || !strings.Contains(string(b), "\nuser = "+name+"\n") {
		t.Fatalf("the site's pool %s: %v\n%s", pool, err, b)
	}
	// The site's own php-fpm limits: refused out of bounds with the
	// field named, nothing changed; within bounds, in its pool at once.
	before, _ := os.ReadFile(pool)
	if code, stderr := d.cliExit(t, "site", "edit", site, "-php", "max_children=65"); code != 1 || !strings.Contains(stderr, "php.max_children") {
		t.Fatalf("site edit -php max_children=65: exit %d\n%s", code, stderr)
	}
	if after, _ := os.ReadFile(pool); !bytes.Equal(before, after) {
		t.Fatalf("a refused limit changed the pool:\n%s", after)
	}
	d.cli(t, "", "site", "edit", site, "-php", "memory_limit=512M,max_children=3", "-wait")
	if b, _ := os.ReadFile(pool); !strings.Contains(string(b), "\nphp_admin_value[memory_limit] = 512M\n") || !strings.Contains(string(b), "\npm.max_children = 3\n") {
		t.Fatalf("the site's limits are not in its pool:\n%s", b)
	}
	if out := d.cli(t, "", "site", "show", site); !strings.Contains(out, "memory_limit 512M") {
		t.Errorf("site show lacks the site's limits:\n%s", out)
	}
	isWordPress(site)
	dbName := d.siteDBName(t, site)
	if got := maria.Query(t, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '"+dbName+"'"); got != "1" {
		t.Fatalf("the site's database %s: %q", dbName, got)
	}

	d.cli(t, "", "site", "backup", site, "-wait")
	d.cli(t, "", "site", "restore", site, "-backup", "latest", "-yes", "-wait")
	isWordPress(site)
	d.cli(t, "", "site", "clone", site, "-domain", clone, "-wait")
	isWordPress(clone) // the title is content: the clone keeps it
	isWordPress(site)

	d.cli(t, "", "site", "disable", site, "-wait")
	if code, _ := get(site); code != http.StatusServiceUnavailable {
		t.Fatalf("a disabled site answered %d, want 503", code)
	}
	d.cli(t, "", "site", "enable", site, "-wait")
	isWordPress(site)

	d.cli(t, "", "site", "delete", site, "-yes", "-wait")
	if _, err := user.Lookup(name); err == nil {
		t.Errorf("delete left the Unix user %s", name)
	}
	if _, err := os.Stat(pool); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("delete left the pool %s: %v", pool, err)
	}
	if got := maria.Query(t, "SELECT (SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '"+dbName+
		"') + (SELECT COUNT(*) FROM mysql.user WHERE User = '"+dbName+"')"); got != "0" {
		t.Errorf("delete left the database or its user %s: %q", dbName, got)
	}
	if _, err := os.Stat(filepath.Join(plat, "sites", site)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("delete left the site's files: %v", err)
	}
	isWordPress(clone) // the clone is its own site
	d.cli(t, "", "site", "delete", clone, "-yes", "-wait")
}

// cli runs the aegir binary as the CLI against the dev process, with
// stdin, and fails the test unless it exits 0. It returns stdout.
func (d *devProcess) cli(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, aegirBin, args...)
	cmd.Env = []string{"AEGIR_ADDR=http://" + d.api, "AEGIR_TOKEN=" + d.token, "PATH=" + os.Getenv("PATH")}
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("aegir %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, tail(stdout.String(), 40), tail(stderr.String(), 40))
	}
	return stdout.String()
}

// cliExit runs the CLI like cli and returns its exit code and stderr.
func (d *devProcess) cliExit(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, aegirBin, args...)
	cmd.Env = []string{"AEGIR_ADDR=http://" + d.api, "AEGIR_TOKEN=" + d.token, "PATH=" + os.Getenv("PATH")}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("aegir %s: %v", strings.Join(args, " "), err)
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}

// siteDBName is the database name of the site: aegir names it from the
// site's id (provision.NameFor).
func (d *devProcess) siteDBName(t *testing.T, domainName string) string {
	t.Helper()
	var s struct {
		ID string `json:"id"`
	}
	if code := d.call("GET", "/sites/"+domainName, nil, &s); code != 200 || s.ID == "" {
		t.Fatalf("GET /sites/%s: %d", domainName, code)
	}
	return provision.NameFor(s.ID)
}

// removeSiteUsers removes what a failed test left of the sites' Unix
// users (userdel; a user aegir did not make is left alone).
func removeSiteUsers(domains ...string) {
	for _, dom := range domains {
		name, err := provision.SiteUserName(dom)
		if err != nil {
			continue
		}
		if u, err := user.Lookup(name); err == nil && u.Name == fmt.Sprintf("aegir site %s", dom) {
			_ = exec.Command("userdel", name).Run()
			_ = exec.Command("groupdel", name).Run()
		}
	}
}
