package provision_test

import (
	"bytes"
	"context"
	"errors"
	"github.com/aegirhq/aegir/internal/testharness"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
)

// peekPHP reads the file named by ?f= and says whether PHP could; ?t=1
// prints PHP's temporary directory, ?i=NAME an ini setting.
const peekPHP = `<?php
if (isset($_GET['t'])) { echo "tmp:" . sys_get_temp_dir() . "\n"; exit; }
if (isset($_GET['i'])) { echo "ini:" . ini_get((string)$_GET['i']) . "\n"; exit; }
$s = @file_get_contents((string)($_GET['f'] ?? ''));
echo $s === false ? "DENIED\n" : "READ " . strlen($s) . "\n";
`

// TestNginxPoolsIsolate: with site users (root), each PHP site runs in
// its own php-fpm pool as its own user: a page of site A cannot read site
// B's settings (open_basedir and Unix permissions) but reads its own; its
// temporary directory is its own; a pool setting out of bounds is refused
// and changes nothing; a pool php-fpm refuses is rolled back and the
// other sites keep serving.
func TestNginxPoolsIsolate(t *testing.T) {
	t.Parallel()
	testharness.RequireRoot(t, "per-site pools (they run as the sites' users)")
	s := setupStack(t, domain.KindMariaDB)
	a := &provision.SiteInfo{ID: domain.NewID(), Domain: "a.example.com", Status: domain.SitePending}
	b := &provision.SiteInfo{ID: domain.NewID(), Domain: "b.example.com", Status: domain.SitePending}
	for _, site := range []*provision.SiteInfo{a, b} {
		s.mustRun(s.ctx(domain.TaskInstall, site, "php1"))
		site.Status = domain.SiteEnabled
		name, _ := provision.SiteUserName(site.Domain)
		pool, err := os.ReadFile(filepath.Join(s.fpm.PoolDir, "aegir-"+site.Domain+".conf"))
		if err != nil || !strings.Contains(string(pool), "\nuser = "+name+"\n") {
			t.Fatalf("pool of %s: %v\n%s", site.Domain, err, pool)
		}
		vhost, _ := os.ReadFile(filepath.Join(s.nginx.ConfDir, site.Domain+".conf"))
		if !strings.Contains(string(vhost), "fastcgi_pass unix:"+filepath.Join(s.root, "run", "aegir-"+site.Domain+".sock")+";") {
			t.Fatalf("vhost of %s does not pass to its own pool:\n%s", site.Domain, vhost)
		}
		s.hits(site.Domain)
	}
	if err := os.WriteFile(filepath.Join(s.platform["php1"].Path, "public", "peek.php"), []byte(peekPHP), 0o644); err != nil {
		t.Fatal(err)
	}
	settings := func(dom string) string {
		return filepath.Join(s.platform["php1"].Path, "sites", dom, "settings.json")
	}
	peek := func(host, file string) string {
		t.Helper()
		code, body := s.get(host, "/peek.php?f="+url.QueryEscape(file))
		if code != 200 {
			t.Fatalf("peek on %s answered %d %q", host, code, body)
		}
		return strings.TrimSpace(body)
	}
	if got := peek("a.example.com", settings("a.example.com")); !strings.HasPrefix(got, "READ ") {
		t.Errorf("site A cannot read its own settings: %s", got)
	}
	if got := peek("a.example.com", settings("b.example.com")); got != "DENIED" {
		t.Errorf("site A read site B's settings: %s", got)
	}
	if got := peek("b.example.com", settings("a.example.com")); got != "DENIED" {
		t.Errorf("site B read site A's settings: %s", got)
	}
	if got := peek("a.example.com", "/etc/passwd"); got != "DENIED" {
		t.Errorf("site A read /etc/passwd: %s", got)
	}
	if _, body := s.get("a.example.com", "/peek.php?t=1"); strings.TrimSpace(body) != "tmp:"+filepath.Join(s.root, "tmp", "a.example.com") {
		t.Errorf("site A's temporary directory: %q", body)
	}

	t.Run("pool setting out of bounds", func(t *testing.T) {
		poolFile := filepath.Join(s.fpm.PoolDir, "aegir-a.example.com.conf")
		before, _ := os.ReadFile(poolFile)
		c := s.ctx(domain.TaskVerify, a, "php1")
		svc := s.webSvc
		svc.Settings = map[string]string{}
		for k, v := range s.webSvc.Settings {
			svc.Settings[k] = v
		}
		svc.Settings["php_max_children"] = "1000"
		c.WebService = &svc
		res := s.runner.Run(context.Background(), c)
		if res.Status != domain.TaskFailed || !strings.Contains(res.Explanation+res.FixHint, "php_max_children") {
			t.Fatalf("verify with php_max_children=1000: %s %s: %s (%s)", res.Status, res.ErrorCode, res.Explanation, res.FixHint)
		}
		t.Logf("refused: %s: %s (%s)", res.ErrorCode, res.Explanation, res.FixHint)
		if after, _ := os.ReadFile(poolFile); !bytes.Equal(before, after) {
			t.Fatalf("a refused pool setting changed the pool:\n%s", after)
		}
		s.hits("a.example.com")
	})

	t.Run("the site's own limits", func(t *testing.T) {
		// An operator's per-site limits reach the pool at verify;
		// php-fpm -t accepts it and the site's PHP runs with them.
		poolFile := filepath.Join(s.fpm.PoolDir, "aegir-a.example.com.conf")
		a.PHP = &domain.SitePHP{MemoryLimit: 512, UploadMax: 100, MaxChildren: 9}
		defer func() { a.PHP = nil }()
		s.mustRun(s.ctx(domain.TaskVerify, a, "php1"))
		pool, _ := os.ReadFile(poolFile)
		for _, line := range []string{"\nphp_admin_value[memory_limit] = 512M\n", "\nphp_admin_value[upload_max_filesize] = 100M\n", "\npm.max_children = 9\n"} {
			if !strings.Contains(string(pool), line) {
				t.Errorf("pool lacks %q:\n%s", line, pool)
			}
		}
		if out, err := exec.Command(s.fpm.Bin, "-t", "-y", s.fpm.Config).CombinedOutput(); err != nil {
			t.Fatalf("php-fpm -t refuses the pool: %v\n%s", err, out)
		}
		for k, want := range map[string]string{"memory_limit": "512M", "post_max_size": "100M"} {
			if _, body := s.get("a.example.com", "/peek.php?i="+k); strings.TrimSpace(body) != "ini:"+want {
				t.Errorf("site A's %s: %q, want %s", k, body, want)
			}
		}
		// Out of bounds (a context no front end would build): refused
		// with the field named, the pool unchanged.
		a.PHP = &domain.SitePHP{MaxChildren: 65}
		res := s.runner.Run(context.Background(), s.ctx(domain.TaskVerify, a, "php1"))
		if res.Status != domain.TaskFailed || !strings.Contains(res.Explanation+res.FixHint, "php.max_children") {
			t.Fatalf("verify with max_children 65: %s %s: %s (%s)", res.Status, res.ErrorCode, res.Explanation, res.FixHint)
		}
		if after, _ := os.ReadFile(poolFile); !bytes.Equal(pool, after) {
			t.Fatalf("a refused limit changed the pool:\n%s", after)
		}
		a.PHP = nil
		s.mustRun(s.ctx(domain.TaskVerify, a, "php1"))
		if _, body := s.get("a.example.com", "/peek.php?i=memory_limit"); strings.TrimSpace(body) != "ini:256M" {
			t.Errorf("site A's memory_limit back to the service's: %q", body)
		}
	})

	t.Run("pool refused", func(t *testing.T) {
		// A broken pool of someone else's makes php-fpm -t fail: the
		// install fails, its pool is rolled back, the others serve.
		broken := filepath.Join(s.fpm.PoolDir, "zz-broken.conf")
		if err := os.WriteFile(broken, []byte("[broken]\npm = nonsense\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(broken)
		c := &provision.SiteInfo{ID: domain.NewID(), Domain: "c.example.com", Status: domain.SitePending}
		res := s.runner.Run(context.Background(), s.ctx(domain.TaskInstall, c, "php1"))
		if res.Status != domain.TaskFailed || !strings.Contains(res.Explanation, "php-fpm") {
			t.Fatalf("install with a broken php-fpm pool: %s %s: %s", res.Status, res.ErrorCode, res.Explanation)
		}
		t.Logf("refused: %s: %s", res.ErrorCode, res.Explanation)
		for _, p := range []string{filepath.Join(s.fpm.PoolDir, "aegir-c.example.com.conf"), filepath.Join(s.nginx.ConfDir, "c.example.com.conf")} {
			if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("refused install left %s: %v", p, err)
			}
		}
		s.hits("a.example.com")
		s.hits("b.example.com")
	})

	t.Run("installer fails after the pool is up", func(t *testing.T) {
		// The pool is put in place while the installer runs: an installer
		// that fails once php-fpm has loaded the pool leaves no pool, no
		// temporary directory, no vhost and no site user behind (the
		// socket is php-fpm's to remove, when its reload is done).
		dir := filepath.Join(filepath.Dir(s.platform["php1"].Path), "php-failing")
		copyDir(t, fixture(t, "php-app"), dir)
		if err := os.WriteFile(filepath.Join(dir, "bin", "fail.php"), []byte("<?php\nsleep(1);\nfwrite(STDERR, \"installer fails on purpose\\n\");\nexit(3);\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		hcl, err := os.ReadFile(filepath.Join(dir, "aegir.hcl"))
		if err != nil {
			t.Fatal(err)
		}
		hcl = []byte(strings.Replace(string(hcl), `install  = ["php", "bin/install.php"]`, `install  = ["php", "bin/fail.php"]`, 1))
		if err := os.WriteFile(filepath.Join(dir, "aegir.hcl"), hcl, 0o644); err != nil {
			t.Fatal(err)
		}
		s.platform["failing"] = &provision.PlatformInfo{ID: domain.NewID(), Name: "failing", Path: dir, Type: domain.PlatformPHP}
		defer delete(s.platform, "failing")
		dom := "failing.example.com"
		site := &provision.SiteInfo{ID: domain.NewID(), Domain: dom, Status: domain.SitePending}
		res := s.runner.Run(context.Background(), s.ctx(domain.TaskInstall, site, "failing"))
		if res.Status != domain.TaskFailed || res.ErrorCode != provision.CodeInstallHookFailed {
			t.Fatalf("install whose installer fails: %s %s: %s", res.Status, res.ErrorCode, res.Explanation)
		}
		if !strings.Contains(s.logs.String(), "php-fpm pool ready while the installer runs") {
			t.Fatalf("the pool was not loaded while the installer ran:\n%s", s.logs.String())
		}
		for _, p := range []string{filepath.Join(s.fpm.PoolDir, "aegir-"+dom+".conf"), filepath.Join(s.root, "tmp", dom),
			filepath.Join(s.nginx.ConfDir, dom+".conf")} {
			if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("failed install left %s: %v", p, err)
			}
		}
		name, _ := provision.SiteUserName(dom)
		if _, err := user.Lookup(name); err == nil {
			t.Errorf("failed install left the site user %s", name)
		}
		s.hits("a.example.com")
		s.hits("b.example.com")
	})

	// disable keeps the pool; delete removes it and the temporary dir.
	s.mustRun(s.ctx(domain.TaskDisable, a, "php1"))
	a.Status = domain.SiteDisabled
	s.mustRun(s.ctx(domain.TaskEnable, a, "php1"))
	a.Status = domain.SiteEnabled
	s.hits("a.example.com")
	s.mustRun(s.ctx(domain.TaskDelete, a, "php1"))
	for _, p := range []string{filepath.Join(s.fpm.PoolDir, "aegir-a.example.com.conf"), filepath.Join(s.root, "tmp", "a.example.com")} {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("delete left %s: %v", p, err)
		}
	}
	s.hits("b.example.com")
}
