package webnginx

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/testharness"
)

func poolDriver(t *testing.T) *Driver {
	t.Helper()
	d, err := New(Config{
		ConfigDir:  "/etc/nginx/aegir",
		MainConfig: "/etc/nginx/nginx.conf",
		PoolDir:    "/etc/php/8.2/fpm/pool.d",
		FPMConfig:  "/etc/php/8.2/fpm/php-fpm.conf",
		FPMPidFile: "/run/php/php8.2-fpm.pid",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func poolSite() provision.WebSite {
	return provision.WebSite{
		Domain:  "Shop.Example.com",
		Docroot: "/var/aegir/platforms/php1/public",
		PHP:     true,
		Pool: &provision.SitePool{User: "ae-shop-example-com-0a1b2c3d", Group: "ae-shop-example-com-0a1b2c3d", UID: 998, GID: 997,
			SiteDir: "/var/aegir/platforms/php1/sites/shop.example.com", PlatformDir: "/var/aegir/platforms/php1"},
	}
}

// TestRenderPoolGolden: the pool file of a site, and its vhost passing to
// the pool's socket.
func TestRenderPoolGolden(t *testing.T) {
	t.Parallel()
	d := poolDriver(t)
	got, err := d.RenderPool(poolSite())
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "pool.conf.golden")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("pool differs from %s (go test -update):\n%s", golden, got)
	}
	vhost, err := d.Render(poolSite())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(vhost), "fastcgi_pass unix:/run/php/aegir-shop.example.com.sock;") {
		t.Fatalf("vhost does not pass to the site's pool:\n%s", vhost)
	}
	// Without a pool dir, or without a site user, nothing changes.
	if out, err := goldenDriver(t).RenderPool(poolSite()); out != nil || err != nil {
		t.Fatalf("pool without php_pool_dir: %q %v", out, err)
	}
	s := poolSite()
	s.Pool = nil
	if out, err := d.RenderPool(s); out != nil || err != nil {
		t.Fatalf("pool without a site user: %q %v", out, err)
	}
}

// TestRenderPoolSiteLimits: a site's own limits replace the service's in
// its pool; those it leaves at zero keep the service's.
func TestRenderPoolSiteLimits(t *testing.T) {
	t.Parallel()
	d := poolDriver(t)
	s := poolSite()
	s.Pool.MemoryLimitMB, s.Pool.MaxChildren = 1024, 9
	got, err := d.RenderPool(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"\nphp_admin_value[memory_limit] = 1024M\n", "\npm.max_children = 9\n",
		"\nphp_admin_value[upload_max_filesize] = 64M\n", "\nphp_admin_value[post_max_size] = 64M\n"} {
		if !strings.Contains(string(got), line) {
			t.Errorf("pool lacks %q:\n%s", line, got)
		}
	}
}

// TestRenderPoolRefusesCrafted: values that could break out of a line
// of the pool file, or a pool as root, are refused.
func TestRenderPoolRefusesCrafted(t *testing.T) {
	t.Parallel()
	d := poolDriver(t)
	cases := map[string]func(*provision.SitePool){
		"user newline":    func(p *provision.SitePool) { p.User = "a\nuser = root" },
		"group space":     func(p *provision.SitePool) { p.Group = "a b" },
		"root uid":        func(p *provision.SitePool) { p.UID = 0 },
		"root gid":        func(p *provision.SitePool) { p.GID = 0 },
		"site dir inject": func(p *provision.SitePool) { p.SiteDir = "/srv/a\nphp_admin_value[open_basedir] = /" },
		"platform colon":  func(p *provision.SitePool) { p.PlatformDir = "/srv/a:/etc" },
		"relative":        func(p *provision.SitePool) { p.SiteDir = "srv/a" },
		"children high":   func(p *provision.SitePool) { p.MaxChildren = 65 },
		"memory low":      func(p *provision.SitePool) { p.MemoryLimitMB = 8 },
		"upload negative": func(p *provision.SitePool) { p.UploadMaxMB = -1 },
	}
	for name, mod := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := poolSite()
			p := *s.Pool
			mod(&p)
			s.Pool = &p
			if out, err := d.RenderPool(s); !errors.Is(err, domain.ErrInvalid) {
				t.Fatalf("RenderPool accepted %+v: %v\n%s", p, err, out)
			}
		})
	}
}

// TestNewRefusesBadPoolSettings: limits out of bounds and a pool dir
// without the php-fpm config and pid file are refused.
func TestNewRefusesBadPoolSettings(t *testing.T) {
	t.Parallel()
	good := Config{ConfigDir: "/etc/nginx/aegir", MainConfig: "/etc/nginx/nginx.conf",
		PoolDir: "/etc/php/8.2/fpm/pool.d", FPMConfig: "/etc/php/8.2/fpm/php-fpm.conf", FPMPidFile: "/run/php/php8.2-fpm.pid"}
	if _, err := New(good, nil); err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(*Config){
		"children high":  func(c *Config) { c.MaxChildren = 65 },
		"children low":   func(c *Config) { c.MaxChildren = -1 },
		"memory high":    func(c *Config) { c.MemoryLimitMB = 5000 },
		"upload high":    func(c *Config) { c.UploadMaxMB = 4096 },
		"no fpm config":  func(c *Config) { c.FPMConfig = "" },
		"no pid file":    func(c *Config) { c.FPMPidFile = "" },
		"binary sh":      func(c *Config) { c.FPMBinary = "/bin/sh" },
		"run dir spaces": func(c *Config) { c.RunDir = "/run/a b" },
	}
	for name, mod := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := good
			mod(&c)
			if _, err := New(c, nil); !errors.Is(err, domain.ErrInvalid) {
				t.Fatalf("New accepted %+v: %v", c, err)
			}
		})
	}
	// The factory refuses an out-of-bounds setting by name.
	_, err := Factory(provision.ServiceInfo{Settings: map[string]string{"config_dir": "/etc/nginx/aegir", "main_config": "/etc/nginx/nginx.conf",
		"php_max_children": "1000"}}, provision.ServerInfo{Address: "127.0.0.1"}, provision.EnvInfo{}, nil)
	if err == nil || !strings.Contains(err.Error(), "php_max_children") {
		t.Fatalf("factory with php_max_children=1000: %v", err)
	}
}

// TestFPMReloadsBackToBack: reloads one right after another leave
// php-fpm running. php-fpm re-executes itself
// on SIGUSR2 and a second SIGUSR2 before it has set its handlers up again
// would end the master (SIGUSR2's default action) and every site's pool.
func TestFPMReloadsBackToBack(t *testing.T) {
	fpm := testharness.PHPFPM(t)
	d, err := New(Config{ConfigDir: shortDir(t), MainConfig: "/etc/nginx/nginx.conf", PoolDir: fpm.PoolDir,
		FPMConfig: fpm.Config, FPMPidFile: fpm.PidFile, FPMBinary: fpm.Bin}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := readPid(fpm.PidFile)
	if err != nil {
		t.Fatal(err)
	}
	// Another reload (an operator's systemctl reload, another back end)
	// just before each of the driver's, at offsets that cover the
	// master's exec (10 to 30 ms after the signal on an idle machine).
	for i := range 16 {
		if err := syscall.Kill(pid, syscall.SIGUSR2); err != nil {
			t.Fatalf("php-fpm master %d gone before reload %d: %v", pid, i, err)
		}
		time.Sleep(time.Duration(i*2) * time.Millisecond)
		if err := d.reloadFPM(context.Background(), fpm.Socket); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		if err := syscall.Kill(pid, 0); err != nil {
			t.Fatalf("php-fpm master %d gone after reload %d: %v", pid, i, err)
		}
	}
	// Let the last reload end before the harness stops php-fpm: a master
	// still reloading takes its time over SIGTERM.
	time.Sleep(300 * time.Millisecond)
	if !waitCatches(context.Background(), pid, syscall.SIGUSR2, 10*time.Second) {
		t.Fatal("php-fpm never got ready again")
	}
}

// TestFPMReloadWaitsForHandler: a master that does not catch SIGUSR2
// (php-fpm between the exec of a reload and its signal setup; here a
// fake, `sleep`, which never does) is not sent one: the reload fails
// after ReloadWait and the process lives on.
func TestFPMReloadWaitsForHandler(t *testing.T) {
	dir := shortDir(t)
	fakeMaster := exec.Command("sleep", "60")
	if err := fakeMaster.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fakeMaster.Process.Kill(); fakeMaster.Wait() })
	pidFile := filepath.Join(dir, "fpm.pid")
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(fakeMaster.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{ConfigDir: dir, MainConfig: "/etc/nginx/nginx.conf", PoolDir: dir,
		FPMConfig: filepath.Join(dir, "php-fpm.conf"), FPMPidFile: pidFile, ReloadWait: 300 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = d.reloadFPM(context.Background(), "")
	if err == nil || !strings.Contains(err.Error(), "did not get ready for a reload") {
		t.Fatalf("reload of a master without a SIGUSR2 handler: %v", err)
	}
	if err := syscall.Kill(fakeMaster.Process.Pid, 0); err != nil {
		t.Fatalf("the master was signalled: %v", err)
	}
}
