package webnginx

import (
	"bytes"
	"cmp"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"

	"github.com/aegirhq/aegir/internal/atomicfile"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/provision/weberr"
	"github.com/aegirhq/aegir/internal/servicekind"
)

// Per-site php-fpm pools (see doc.go): when the service has a pool dir
// and a site comes with a provision.SitePool, the site gets
// <PoolDir>/aegir-<domain>.conf, running as its user, listening on
// <RunDir>/aegir-<domain>.sock, with its own temporary directory
// <TmpDir>/<domain>; its vhost passes PHP to that socket.

//go:embed pool.conf.tmpl
var poolTmplText string

var poolTmpl = template.Must(template.New("pool").Parse(poolTmplText))

// Bounds of the pool limits, as servicekind's validators state them.
const (
	minMemoryMB, maxMemoryMB             = servicekind.PHPMemoryMinMB, servicekind.PHPMemoryMaxMB
	minUploadMB, maxUploadMB             = servicekind.PHPUploadMinMB, servicekind.PHPUploadMaxMB
	minChildren, maxChildren             = servicekind.PHPChildrenMin, servicekind.PHPChildrenMax
	defMemoryMB, defUploadMB             = 256, 64
	defChildren                          = 5
	defRunDir, defTmpDir                 = "/run/php", "/var/tmp/aegir-php"
	poolFileMode             fs.FileMode = 0o644
)

// pool is the validated, template-ready form of a site's pool. Every
// string passed an allow-list (Unix names, clean absolute paths of
// letters, digits, '/', '.', '_' and '-', a normalized domain), so none
// can end a line or open a section of the ini file.
type pool struct {
	Domain, Name                string
	User, Group, WebGroup       string
	UID, GID                    int
	Socket, TmpDir, OpenBasedir string
	MemoryLimit, UploadMax      int
	MaxChildren                 int
}

// poolsOn reports whether the driver writes per-site pools.
func (d *Driver) poolsOn() bool { return d.cfg.PoolDir != "" }

// PoolPath is the pool file of a site. domainName must be normalized.
func (d *Driver) PoolPath(domainName string) string {
	return filepath.Join(d.cfg.PoolDir, "aegir-"+domainName+".conf")
}

// PoolSocket is the socket of a site's pool.
func (d *Driver) PoolSocket(domainName string) string {
	return filepath.Join(d.cfg.RunDir, "aegir-"+domainName+".sock")
}

// PoolTmpDir is a site's own temporary directory.
func (d *Driver) PoolTmpDir(domainName string) string {
	return filepath.Join(d.cfg.TmpDir, domainName)
}

// buildPool validates sp for the site at name.
func (d *Driver) buildPool(name string, sp *provision.SitePool) (*pool, error) {
	for _, n := range []struct{ k, v string }{{"pool user", sp.User}, {"pool group", sp.Group}} {
		if err := servicekind.UnixName(n.v); err != nil {
			return nil, domain.Invalid(n.k, "%v", err)
		}
	}
	if sp.UID <= 0 || sp.GID <= 0 {
		return nil, domain.Invalid("pool user", "a site's pool never runs as root (uid %d, gid %d)", sp.UID, sp.GID)
	}
	for _, p := range []struct{ k, v string }{{"site dir", sp.SiteDir}, {"platform dir", sp.PlatformDir}} {
		if err := domain.ValidatePath(p.k, p.v, nil); err != nil {
			return nil, err
		}
	}
	p := &pool{
		Domain: name, Name: sp.User, User: sp.User, Group: sp.Group, WebGroup: d.cfg.WebGroup,
		UID: sp.UID, GID: sp.GID,
		Socket: d.PoolSocket(name), TmpDir: d.PoolTmpDir(name),
		MemoryLimit: cmp.Or(sp.MemoryLimitMB, d.cfg.MemoryLimitMB), UploadMax: cmp.Or(sp.UploadMaxMB, d.cfg.UploadMaxMB),
		MaxChildren: cmp.Or(sp.MaxChildren, d.cfg.MaxChildren),
	}
	// The site's own limits were checked by the front end and the back
	// end's context check; a driver never writes one out of bounds.
	if err := (&domain.SitePHP{MemoryLimit: p.MemoryLimit, UploadMax: p.UploadMax, MaxChildren: p.MaxChildren}).Validate(); err != nil {
		return nil, err
	}
	p.OpenBasedir = strings.Join([]string{sp.PlatformDir + "/", sp.SiteDir + "/", p.TmpDir + "/"}, ":")
	for _, v := range []string{p.Socket, p.TmpDir} {
		if err := domain.ValidatePath("pool path", v, nil); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *pool) render() ([]byte, error) {
	var b bytes.Buffer
	if err := poolTmpl.Execute(&b, p); err != nil {
		return nil, fmt.Errorf("render pool for %s: %w", p.Domain, err)
	}
	return b.Bytes(), nil
}

// RenderPool validates site's pool and returns its file, without touching
// disk; nil when the site gets no pool of its own.
func (d *Driver) RenderPool(site provision.WebSite) ([]byte, error) {
	if !d.poolsOn() || site.Pool == nil || !site.PHP || site.Upstream != "" {
		return nil, nil
	}
	name, err := domain.NormalizeDomain(site.Domain)
	if err != nil {
		return nil, err
	}
	p, err := d.buildPool(name, site.Pool)
	if err != nil {
		return nil, err
	}
	return p.render()
}

// PublishPool puts the site's own pool in place ahead of its vhost
// (provision.PoolPublisher): written, tested with php-fpm -t and loaded,
// or rolled back when refused, under the same lock as Publish. A later
// Publish of the same site finds it unchanged and neither tests nor
// reloads php-fpm again. A site without a pool of its own, or disabled,
// is a no-op.
func (d *Driver) PublishPool(ctx context.Context, site provision.WebSite) error {
	if site.Disabled {
		return nil
	}
	content, err := d.RenderPool(site)
	if err != nil || content == nil {
		return err
	}
	name, _ := domain.NormalizeDomain(site.Domain) // validated by RenderPool
	unlock, err := d.lock()
	if err != nil {
		return err
	}
	defer unlock()
	_, err = d.publishPool(ctx, name, site, content)
	return err
}

// poolChange is a pool file put in place, and how to undo it.
type poolChange struct {
	path    string
	prev    []byte
	hadPrev bool
	changed bool
}

// publishPool puts the site's pool in place, tests php-fpm's config and
// reloads it, waiting until the site's socket answers. A pool php-fpm
// refuses is rolled back (*weberr.ConfigError for php-fpm); php-fpm is
// then not reloaded, so every other site keeps its pool. The caller holds
// the lock.
func (d *Driver) publishPool(ctx context.Context, name string, site provision.WebSite, content []byte) (*poolChange, error) {
	p, _ := d.buildPool(name, site.Pool) // validated by RenderPool
	if err := d.makeTmpDir(p); err != nil {
		return nil, err
	}
	c := &poolChange{path: d.PoolPath(name)}
	var err error
	if c.prev, c.hadPrev, err = readPrevious(c.path); err != nil {
		return nil, err
	}
	if c.hadPrev && bytes.Equal(c.prev, content) {
		return c, nil
	}
	if err := atomicfile.Write(c.path, content, poolFileMode); err != nil {
		return nil, fmt.Errorf("write php-fpm pool for %s: %w", name, err)
	}
	c.changed = true
	if out, err := d.testFPM(ctx); err != nil {
		return nil, d.rollbackPool(ctx, name, c, out)
	}
	if err := d.reloadFPM(ctx, p.Socket); err != nil {
		if !errors.Is(err, errNotLoaded) {
			return nil, err
		}
		cerr := d.rollbackPool(ctx, name, c, "php-fpm -t accepted the pool but the running php-fpm did not open its socket; php-fpm's log says why")
		if rerr := d.reloadFPM(ctx, ""); rerr != nil {
			d.log.Warn("php-fpm reload after rollback", "err", rerr)
		}
		return nil, cerr
	}
	d.log.Info("php-fpm pool published", "domain", name, "path", c.path, "user", p.User)
	return c, nil
}

// undoPool puts the previous pool back after the vhost was refused.
func (d *Driver) undoPool(ctx context.Context, name string, c *poolChange) {
	if c == nil || !c.changed {
		return
	}
	_ = d.rollbackPool(ctx, name, c, "")
	if err := d.reloadFPM(ctx, ""); err != nil {
		d.log.Warn("php-fpm reload after rollback", "err", err)
	}
}

// removePool deletes the site's pool and its temporary directory, tests
// and reloads php-fpm. A missing pool is not an error. The caller holds
// the lock.
func (d *Driver) removePool(ctx context.Context, name string) error {
	if !d.poolsOn() {
		return nil
	}
	path := d.PoolPath(name)
	prev, hadPrev, err := readPrevious(path)
	if err != nil {
		return err
	}
	if hadPrev {
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("remove php-fpm pool for %s: %w", name, err)
		}
		if out, err := d.testFPM(ctx); err != nil {
			return d.rollbackPool(ctx, name, &poolChange{path: path, prev: prev, hadPrev: true}, out)
		}
		if err := d.reloadFPM(ctx, ""); err != nil {
			return err
		}
		d.log.Info("php-fpm pool removed", "domain", name)
	}
	// os.RemoveAll never follows a link inside the tree; the parent is
	// root's.
	if err := os.RemoveAll(d.PoolTmpDir(name)); err != nil {
		return fmt.Errorf("remove the temporary directory of %s: %w", name, err)
	}
	return nil
}

// rollbackPool puts the previous pool back (or removes the new one).
func (d *Driver) rollbackPool(ctx context.Context, name string, c *poolChange, out string) error {
	var rerr error
	if c.hadPrev {
		rerr = atomicfile.Write(c.path, c.prev, poolFileMode)
	} else if err := os.Remove(c.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		rerr = err
	}
	if rerr != nil {
		return fmt.Errorf("php-fpm rejected the pool for %s (%s) and restoring the previous one failed: %w; fix %s by hand", name, out, rerr, c.path)
	}
	cerr := &weberr.ConfigError{Server: "php-fpm", Domain: name, Output: out}
	if _, err := d.testFPM(ctx); err != nil {
		cerr.AlreadyBroken = true
	}
	if out != "" {
		d.log.Warn("php-fpm rejected pool, previous restored", "domain", name, "already_broken", cerr.AlreadyBroken, "php-fpm", out)
	}
	return cerr
}

// makeTmpDir creates the site's temporary directory, the site's and
// 0700, under a parent that is root's and 0711 (the pools may pass
// through it, not list it). An existing entry that is not a directory of
// the site's is refused.
func (d *Driver) makeTmpDir(p *pool) error {
	if err := os.MkdirAll(d.cfg.TmpDir, 0o711); err != nil {
		return unavailable("pool", "php_tmp_dir %s: %w", d.cfg.TmpDir, err)
	}
	if err := os.Mkdir(p.TmpDir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return unavailable("pool", "temporary directory %s: %w", p.TmpDir, err)
	}
	fi, err := os.Lstat(p.TmpDir)
	if err != nil || !fi.IsDir() {
		return unavailable("pool", "%s is not a directory; remove it", p.TmpDir)
	}
	if err := os.Lchown(p.TmpDir, p.UID, p.GID); err != nil {
		return unavailable("pool", "give %s to %s: %w", p.TmpDir, p.User, err)
	}
	return os.Chmod(p.TmpDir, 0o700)
}

// testFPM runs php-fpm -t on the service's php-fpm config.
func (d *Driver) testFPM(ctx context.Context) (string, error) {
	return d.runBin(ctx, d.fpmBinary(), "-t", "-y", d.cfg.FPMConfig)
}

// reloadFPM sends SIGUSR2 to php-fpm's master, which reloads its config
// (the pools it still has keep serving once it is back), then waits until
// socket (when set) accepts connections.
func (d *Driver) reloadFPM(ctx context.Context, socket string) error {
	pid, err := waitPid(ctx, d.cfg.FPMPidFile, d.cfg.ReloadWait)
	if err != nil {
		return &weberr.Error{Kind: weberr.ErrReload, Server: "php-fpm", Op: "reload",
			Err: fmt.Errorf("%w; is php-fpm running with pid = %s? start it, then run verify again", err, d.cfg.FPMPidFile)}
	}
	// A master in the middle of a reload (between its exec and its
	// signal handlers) would be ended by SIGUSR2, its default action:
	// wait until it catches the signal again.
	if !waitCatches(ctx, pid, syscall.SIGUSR2, d.cfg.ReloadWait) {
		return &weberr.Error{Kind: weberr.ErrReload, Server: "php-fpm", Op: "reload",
			Err: fmt.Errorf("php-fpm master %d did not get ready for a reload within %s; check php-fpm's log, then run verify again", pid, d.cfg.ReloadWait)}
	}
	if err := syscall.Kill(pid, syscall.SIGUSR2); err != nil {
		return &weberr.Error{Kind: weberr.ErrReload, Server: "php-fpm", Op: "reload",
			Err: fmt.Errorf("signal php-fpm master %d: %w; is php-fpm running? start it, then run verify again", pid, err)}
	}
	// php-fpm closes its sockets while it re-executes: wait for the
	// site's to answer again (a new pool's to appear).
	time.Sleep(50 * time.Millisecond)
	if socket == "" {
		socket = d.anyPoolSocket()
		if socket == "" {
			return nil
		}
	}
	deadline := time.Now().Add(d.cfg.ReloadWait)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("unix", socket, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return &weberr.Error{Kind: weberr.ErrReload, Server: "php-fpm", Op: "reload",
		Err: fmt.Errorf("%w: php-fpm did not open %s within %s", errNotLoaded, socket, d.cfg.ReloadWait)}
}

// waitPid reads a pid file, waiting up to wait while it is missing or
// empty: php-fpm removes its pid file while it re-executes itself on a
// reload and writes it again once it runs.
func waitPid(ctx context.Context, path string, wait time.Duration) (int, error) {
	deadline := time.Now().Add(wait)
	for {
		pid, err := readPid(path)
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return pid, err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitCatches waits until process pid has a handler for sig (the
// SigCgt mask of /proc/<pid>/status), at most wait; true when it has one
// or when /proc cannot tell. php-fpm re-executes itself on SIGUSR2 and
// installs its handlers only once it has read its config again: a second
// SIGUSR2 in between ends the master and every pool with it.
func waitCatches(ctx context.Context, pid int, sig syscall.Signal, wait time.Duration) bool {
	deadline := time.Now().Add(wait)
	for {
		ok, known := catches(pid, sig)
		if ok || !known {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// catches reports whether pid catches sig, and whether /proc told.
func catches(pid int, sig syscall.Signal) (ok, known bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, found := strings.CutPrefix(line, "SigCgt:"); found {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				return false, false
			}
			return mask&(1<<(uint(sig)-1)) != 0, true
		}
	}
	return false, false
}

// anyPoolSocket is the socket of some pool aegir wrote, to wait for after
// a reload that added none; "" when there is none.
func (d *Driver) anyPoolSocket() string {
	m, _ := filepath.Glob(filepath.Join(d.cfg.PoolDir, "aegir-*.conf"))
	for _, f := range m {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "aegir-"), ".conf")
		return d.PoolSocket(name)
	}
	return ""
}

// fpmBinary resolves the php-fpm binary: the setting, else php-fpm on
// PATH, else the newest php-fpmX.Y in the sbin directories (Debian
// installs only a versioned one).
func (d *Driver) fpmBinary() string {
	if d.cfg.FPMBinary != "php-fpm" {
		return d.cfg.FPMBinary
	}
	if _, err := lookPath("php-fpm"); err == nil {
		return "php-fpm"
	}
	var best string
	for _, dir := range []string{"/usr/local/sbin", "/usr/sbin", "/sbin"} {
		m, _ := filepath.Glob(filepath.Join(dir, "php-fpm[0-9]*"))
		for _, p := range m {
			if best == "" || filepath.Base(p) > filepath.Base(best) {
				best = p
			}
		}
	}
	if best == "" {
		return "php-fpm"
	}
	return best
}

// poolDefaults fills and checks the pool settings of cfg.
func (cfg *Config) poolDefaults() error {
	cfg.RunDir = cmp.Or(cfg.RunDir, defRunDir)
	cfg.TmpDir = cmp.Or(cfg.TmpDir, defTmpDir)
	cfg.FPMBinary = cmp.Or(cfg.FPMBinary, "php-fpm")
	cfg.MemoryLimitMB = cmp.Or(cfg.MemoryLimitMB, defMemoryMB)
	cfg.UploadMaxMB = cmp.Or(cfg.UploadMaxMB, defUploadMB)
	cfg.MaxChildren = cmp.Or(cfg.MaxChildren, defChildren)
	for _, b := range []struct {
		key         string
		v, min, max int
	}{
		{"php_memory_limit", cfg.MemoryLimitMB, minMemoryMB, maxMemoryMB},
		{"php_upload_max", cfg.UploadMaxMB, minUploadMB, maxUploadMB},
		{"php_max_children", cfg.MaxChildren, minChildren, maxChildren},
	} {
		if b.v < b.min || b.v > b.max {
			return domain.Invalid(b.key, "%d is out of bounds: it must be from %d to %d", b.v, b.min, b.max)
		}
	}
	if err := servicekind.ProgramPrefixed("php-fpm")(cfg.FPMBinary); err != nil {
		return domain.Invalid("php_fpm_binary", "%v", err)
	}
	for _, p := range []struct{ key, v string }{{"php_run_dir", cfg.RunDir}, {"php_tmp_dir", cfg.TmpDir},
		{"php_pool_dir", cfg.PoolDir}, {"php_fpm_config", cfg.FPMConfig}, {"php_fpm_pid_file", cfg.FPMPidFile}} {
		if p.v == "" && p.key != "php_run_dir" && p.key != "php_tmp_dir" {
			continue
		}
		if err := domain.ValidatePath(p.key, p.v, nil); err != nil {
			return err
		}
	}
	if cfg.PoolDir == "" {
		return nil
	}
	for _, p := range []struct{ key, v string }{{"php_pool_dir", cfg.PoolDir}, {"php_fpm_config", cfg.FPMConfig}, {"php_fpm_pid_file", cfg.FPMPidFile}} {
		if p.v == "" {
			return domain.Invalid(p.key, "is required with php_pool_dir: set it to php-fpm's %s", map[string]string{
				"php_fpm_config":   "main config (/etc/php/8.2/fpm/php-fpm.conf), which includes the pool dir",
				"php_fpm_pid_file": "pid file (/run/php/php8.2-fpm.pid)"}[p.key])
		}
		if err := domain.ValidatePath(p.key, p.v, nil); err != nil {
			return err
		}
	}
	return nil
}
