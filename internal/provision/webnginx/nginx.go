package webnginx

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aegirhq/aegir/internal/atomicfile"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/provision/weberr"
	"github.com/aegirhq/aegir/internal/servicekind"
)

// Errors are the weberr taxonomy, which the back end maps to result codes
// with weberr.Code:
//
//   - a config nginx -t refuses, or the running master does not load, is a
//     *weberr.ConfigError (errors.Is weberr.ErrRejected; the previous vhost
//     was put back): "web_publish_failed";
//   - a configuration that tested fine but nginx could not be told to load
//     is weberr.ErrReload: "web_publish_failed";
//   - an nginx binary or config dir that is not usable at all is
//     weberr.ErrUnavailable: "web_unavailable";
//   - a site refused before anything is written is domain.ErrInvalid.

// unavailable is a weberr.ErrUnavailable failure of op.
func unavailable(op, format string, args ...any) error {
	return &weberr.Error{Kind: weberr.ErrUnavailable, Server: "nginx", Op: op, Err: fmt.Errorf(format, args...)}
}

// reloadFailed is a weberr.ErrReload failure.
func reloadFailed(format string, args ...any) error {
	return &weberr.Error{Kind: weberr.ErrReload, Server: "nginx", Op: "reload", Err: fmt.Errorf(format, args...)}
}

// Config configures a Driver. New fills it from the service's settings.
type Config struct {
	// ConfigDir is where one vhost file per site is written
	// (<ConfigDir>/<domain>.conf); the main config must include
	// <ConfigDir>/*.conf. Required.
	ConfigDir string
	// MainConfig is the nginx.conf passed as -c to `nginx -t` and
	// `nginx -s reload`. Required.
	MainConfig string
	// Binary is the nginx executable. Default "nginx" (looked up on PATH
	// and in /usr/sbin).
	Binary string
	// PidFile, when set, is the master's pid file: reloads signal the
	// master directly and wait until its new workers run, so Publish
	// returns when the new vhost answers. Default: `nginx -s reload`,
	// which returns before the workers have reloaded.
	PidFile string
	// FastCGI is the default PHP upstream for PHP sites ("unix:/path" or
	// "127.0.0.1:9000").
	FastCGI string
	// WebGroup is the group nginx's workers and php-fpm's pool run as;
	// the back end gives sites' files to it (package provision's
	// privilege model). Default "www-data".
	WebGroup string
	// Listen is where vhosts listen. Port default 80; an invalid Addr
	// means all addresses.
	ListenAddr netip.Addr
	Port       int
	// Host is the server's address for URL. Default: ListenAddr, else
	// 127.0.0.1.
	Host string
	// HTTPSPort is where vhosts of sites with HTTPS listen (ssl), on
	// ListenAddr. Default 443.
	HTTPSPort int
	// CertDir holds each HTTPS site's <domain>.crt and <domain>.key,
	// mode 0600 (nginx's master reads them as root). Default
	// <ConfigDir>/tls.
	CertDir string
	// CommandTimeout bounds each nginx command. Default 30s.
	CommandTimeout time.Duration
	// ReloadWait bounds how long a pid-file reload waits for new workers
	// (and a php-fpm reload for the site's socket). Default 10s.
	ReloadWait time.Duration

	// PoolDir, when set, turns on per-site php-fpm pools: a PHP site
	// published with a provision.SitePool gets its own pool file here,
	// and its vhost passes PHP to that pool's socket. Default: none, every
	// PHP site uses FastCGI.
	PoolDir string
	// FPMConfig is php-fpm's main config, which includes <PoolDir>/*.conf,
	// for php-fpm -t. Required with PoolDir.
	FPMConfig string
	// FPMBinary is the php-fpm executable. Default "php-fpm", else the
	// newest php-fpmX.Y in /usr/sbin.
	FPMBinary string
	// FPMPidFile is php-fpm's master pid file; pools are reloaded with
	// SIGUSR2. Required with PoolDir.
	FPMPidFile string
	// RunDir holds the pools' sockets. Default /run/php.
	RunDir string
	// TmpDir holds each site's own temporary directory. Default
	// /var/tmp/aegir-php.
	TmpDir string
	// MemoryLimitMB, UploadMaxMB and MaxChildren are each pool's
	// memory_limit, upload_max_filesize/post_max_size and
	// pm.max_children. Defaults 256, 64 and 5; bounds 16-4096, 1-2048,
	// 1-64 (servicekind's nginx settings).
	MemoryLimitMB, UploadMaxMB, MaxChildren int
}

// Driver is the nginx + php-fpm provision.WebDriver.
type Driver struct {
	cfg Config
	log *slog.Logger
}

var _ provision.WebDriver = (*Driver)(nil)
var _ provision.PoolPublisher = (*Driver)(nil)

// Factory is the provision.WebFactory for nginx services. Service settings:
// "config_dir" and "main_config" (required), "binary", "pid_file",
// "php_fastcgi", "web_group"; the port is the service's port and vhosts listen on the
// server's address when it is an IP literal, else on every address.
var Factory provision.WebFactory = func(svc provision.ServiceInfo, srv provision.ServerInfo, _ provision.EnvInfo, log *slog.Logger) (provision.WebDriver, error) {
	cfg := Config{
		ConfigDir:  svc.Settings["config_dir"],
		MainConfig: svc.Settings["main_config"],
		Binary:     svc.Settings["binary"],
		PidFile:    svc.Settings["pid_file"],
		FastCGI:    svc.Settings["php_fastcgi"],
		WebGroup:   svc.Settings["web_group"],
		Port:       svc.Port,
		Host:       srv.Address,
		CertDir:    svc.Settings["cert_dir"],
		PoolDir:    svc.Settings["php_pool_dir"],
		FPMConfig:  svc.Settings["php_fpm_config"],
		FPMBinary:  svc.Settings["php_fpm_binary"],
		FPMPidFile: svc.Settings["php_fpm_pid_file"],
		RunDir:     svc.Settings["php_run_dir"],
		TmpDir:     svc.Settings["php_tmp_dir"],
	}
	desc, _ := servicekind.Lookup(servicekind.Nginx)
	for key, dst := range map[string]*int{"php_memory_limit": &cfg.MemoryLimitMB, "php_upload_max": &cfg.UploadMaxMB, "php_max_children": &cfg.MaxChildren} {
		v := svc.Settings[key]
		if v == "" {
			continue
		}
		if err := desc.CheckValue(key, v); err != nil {
			return nil, fmt.Errorf("nginx service: %w", domain.Invalid(key, "%v", err))
		}
		*dst, _ = strconv.Atoi(v)
	}
	if v := svc.Settings["https_port"]; v != "" {
		if err := desc.CheckValue("https_port", v); err != nil {
			return nil, fmt.Errorf("nginx service: %w", domain.Invalid("https_port", "%v", err))
		}
		cfg.HTTPSPort, _ = strconv.Atoi(v)
	}
	if a, err := netip.ParseAddr(srv.Address); err == nil {
		cfg.ListenAddr = a
	}
	return New(cfg, log)
}

// New checks cfg and returns a driver. Nothing is read or run yet.
func New(cfg Config, log *slog.Logger) (*Driver, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.Port = cmp.Or(cfg.Port, 80)
	cfg.HTTPSPort = cmp.Or(cfg.HTTPSPort, 443)
	cfg.Binary = cmp.Or(cfg.Binary, "nginx")
	cfg.CommandTimeout = cmp.Or(cfg.CommandTimeout, 30*time.Second)
	cfg.ReloadWait = cmp.Or(cfg.ReloadWait, 10*time.Second)
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
		if cfg.ListenAddr.IsValid() {
			cfg.Host = cfg.ListenAddr.String()
		}
	}
	if err := domain.ValidatePath("config_dir", cfg.ConfigDir, nil); err != nil {
		return nil, fmt.Errorf("nginx service: %w", err)
	}
	if err := domain.ValidatePath("main_config", cfg.MainConfig, nil); err != nil {
		return nil, fmt.Errorf("nginx service: %w", err)
	}
	cfg.CertDir = cmp.Or(cfg.CertDir, filepath.Join(cfg.ConfigDir, "tls"))
	if err := domain.ValidatePath("cert_dir", cfg.CertDir, nil); err != nil {
		return nil, fmt.Errorf("nginx service: %w", err)
	}
	if cfg.PidFile != "" {
		if err := domain.ValidatePath("pid_file", cfg.PidFile, nil); err != nil {
			return nil, fmt.Errorf("nginx service: %w", err)
		}
	}
	if strings.Contains(cfg.Binary, "/") {
		if err := domain.ValidatePath("binary", cfg.Binary, nil); err != nil {
			return nil, fmt.Errorf("nginx service: %w", err)
		}
	} else if err := domain.ValidateName("binary", cfg.Binary); err != nil {
		return nil, fmt.Errorf("nginx service: %w", err)
	}
	if cfg.FastCGI != "" {
		fc, err := ParseFastCGI(cfg.FastCGI)
		if err != nil {
			return nil, fmt.Errorf("nginx service php_fastcgi: %w", err)
		}
		cfg.FastCGI = fc
	}
	cfg.WebGroup = cmp.Or(cfg.WebGroup, "www-data")
	if err := servicekind.UnixName(cfg.WebGroup); err != nil {
		return nil, fmt.Errorf("nginx service web_group: %w", err)
	}
	if err := cfg.poolDefaults(); err != nil {
		return nil, fmt.Errorf("nginx service: %w", err)
	}
	if cfg.HTTPSPort < 1 || cfg.HTTPSPort > 65535 || cfg.HTTPSPort == cfg.Port {
		return nil, fmt.Errorf("nginx service: %w", domain.Invalid("https_port", "%d is not a TCP port other than the HTTP port", cfg.HTTPSPort))
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return nil, fmt.Errorf("nginx service: %w", domain.Invalid("port", "%d is not a TCP port", cfg.Port))
	}
	return &Driver{cfg: cfg, log: log.With("component", "webnginx")}, nil
}

// URL is http://<server address>:<port>.
func (d *Driver) URL() string {
	host := d.cfg.Host
	if a, err := netip.ParseAddr(host); err == nil && a.Is6() {
		host = "[" + host + "]"
	}
	return "http://" + host + ":" + strconv.Itoa(d.cfg.Port)
}

// VhostPath is the file a site's vhost lives in. domainName must be
// normalized.
func (d *Driver) VhostPath(domainName string) string {
	return filepath.Join(d.cfg.ConfigDir, domainName+".conf")
}

// Render validates site and returns its vhost file, without touching disk.
// A PHP site with its own pool (a provision.SitePool and the service's
// php_pool_dir) passes PHP to its pool's socket.
func (d *Driver) Render(site provision.WebSite) ([]byte, error) {
	if d.poolsOn() && site.Pool != nil && site.PHP && site.Upstream == "" {
		if name, err := domain.NormalizeDomain(site.Domain); err == nil {
			site.FastCGI = "unix:" + d.PoolSocket(name)
		}
	}
	var tf *tlsFiles
	if name, err := domain.NormalizeDomain(site.Domain); err == nil && site.TLS != nil {
		tf = d.tlsFiles(name)
	}
	v, err := buildVhost(site, listenSpec{Addr: d.cfg.ListenAddr, Port: d.cfg.Port}, d.cfg.FastCGI, tf)
	if err != nil {
		return nil, err
	}
	return v.render()
}

// Check runs `nginx -v` and `nginx -t` and checks the config dir exists.
func (d *Driver) Check(ctx context.Context) error {
	out, err := d.run(ctx, "-v")
	if err != nil {
		return unavailable("check", "%s -v: %w: %s; install nginx or set the service's binary setting", d.cfg.Binary, err, out)
	}
	d.log.Debug("nginx version", "version", strings.TrimSpace(out))
	if fi, err := os.Stat(d.cfg.ConfigDir); err != nil || !fi.IsDir() {
		return unavailable("check", "config_dir %s is not a directory: create it and include %s/*.conf from %s", d.cfg.ConfigDir, d.cfg.ConfigDir, d.cfg.MainConfig)
	}
	if out, err := d.test(ctx); err != nil {
		return unavailable("check", "nginx -t -c %s failed: %s", d.cfg.MainConfig, out)
	}
	return nil
}

// Publish validates and renders the site's vhost, puts it in place, tests
// the whole configuration with `nginx -t`, and reloads. When nginx refuses
// the configuration the previous vhost (or none) is put back and the error
// is a *weberr.ConfigError with nginx's message. Bad input is refused before any
// file is written.
func (d *Driver) Publish(ctx context.Context, site provision.WebSite) error {
	content, err := d.Render(site)
	if err != nil {
		return err
	}
	name, _ := domain.NormalizeDomain(site.Domain) // validated by Render
	var poolContent []byte
	if !site.Disabled { // a disabled site keeps its pool: ondemand, it runs no worker
		if poolContent, err = d.RenderPool(site); err != nil {
			return err
		}
	}
	unlock, err := d.lock()
	if err != nil {
		return err
	}
	defer unlock()

	var pc *poolChange
	if poolContent != nil {
		if pc, err = d.publishPool(ctx, name, site, poolContent); err != nil {
			return err
		}
	}
	path := d.VhostPath(name)
	prev, hadPrev, err := readPrevious(path)
	if err != nil {
		d.undoPool(ctx, name, pc)
		return err
	}
	// The certificate files go first (the new vhost names them); the
	// previous ones come back with the previous vhost.
	tc, err := d.writeTLS(name, site.TLS)
	if err != nil {
		d.undoPool(ctx, name, pc)
		return err
	}
	if hadPrev && bytes.Equal(prev, content) && !tc.changed {
		d.log.Debug("vhost unchanged", "domain", name)
		return nil
	}
	if err := atomicfile.Write(path, content, 0o644); err != nil {
		tc.undo()
		d.undoPool(ctx, name, pc)
		return fmt.Errorf("write vhost for %s: %w", name, err)
	}
	if out, err := d.test(ctx); err != nil {
		// The previous certificate files go back before the rollback's
		// own nginx -t, which must see the state it restores (a
		// certificate nginx cannot load is not "already broken").
		tc.undo()
		cerr := d.rollback(ctx, name, path, prev, hadPrev, out)
		d.undoPool(ctx, name, pc)
		return cerr
	}
	if err := d.reload(ctx); err != nil {
		if !errors.Is(err, errNotLoaded) {
			return err
		}
		defer d.undoPool(ctx, name, pc)
		tc.undo() // before the reload below, which must load the previous files
		// nginx -t passed but the master refused the configuration when
		// applying it (a listen address it cannot bind, say). Leaving the
		// file would make every later reload fail too: put the previous
		// one back and reload that.
		cerr := d.rollback(ctx, name, path, prev, hadPrev,
			"nginx -t accepted the configuration but the running nginx did not load it; its error log says why (often a listen address it cannot bind)")
		if rerr := d.reload(ctx); rerr != nil {
			d.log.Warn("reload after rollback", "err", rerr)
		}
		return cerr
	}
	if site.TLS == nil {
		d.removeTLS(name) // the vhost no longer names them
	}
	d.log.Info("vhost published", "domain", name, "path", path, "https", site.TLS != nil)
	return nil
}

// Remove deletes the site's vhost, tests and reloads. A missing vhost is
// not an error.
func (d *Driver) Remove(ctx context.Context, domainName string) error {
	name, err := domain.NormalizeDomain(domainName)
	if err != nil {
		return err
	}
	unlock, err := d.lock()
	if err != nil {
		return err
	}
	defer unlock()
	path := d.VhostPath(name)
	prev, hadPrev, err := readPrevious(path)
	if err != nil {
		return err
	}
	if hadPrev {
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("remove vhost for %s: %w", name, err)
		}
		if out, err := d.test(ctx); err != nil {
			return d.rollback(ctx, name, path, prev, true, out)
		}
		d.log.Info("vhost removed", "domain", name)
		if err := d.reload(ctx); err != nil {
			return err
		}
	}
	d.removeTLS(name)
	// The pool goes after the vhost: nginx no longer passes to its socket.
	return d.removePool(ctx, name)
}

// rollback puts the previous vhost back (or removes the new one) after
// nginx -t failed, and says whether the config was broken before.
func (d *Driver) rollback(ctx context.Context, name, path string, prev []byte, hadPrev bool, out string) error {
	var rerr error
	if hadPrev {
		rerr = atomicfile.Write(path, prev, 0o644)
	} else if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		rerr = err
	}
	if rerr != nil {
		return fmt.Errorf("nginx rejected the vhost for %s (%s) and restoring the previous one failed: %w; fix %s by hand", name, out, rerr, path)
	}
	cerr := &weberr.ConfigError{Server: "nginx", Domain: name, Output: out}
	if _, err := d.test(ctx); err != nil {
		cerr.AlreadyBroken = true
	}
	d.log.Warn("nginx rejected vhost, previous restored", "domain", name, "already_broken", cerr.AlreadyBroken, "nginx", out)
	return cerr
}

// test runs nginx -t on the main config and returns nginx's output.
func (d *Driver) test(ctx context.Context) (string, error) {
	return d.run(ctx, "-t", "-q", "-c", d.cfg.MainConfig)
}

// reload makes the running nginx load its configuration.
func (d *Driver) reload(ctx context.Context) error {
	if d.cfg.PidFile == "" {
		if out, err := d.run(ctx, "-s", "reload", "-c", d.cfg.MainConfig); err != nil {
			return reloadFailed("nginx -s reload: %s; is nginx running? start it, then run verify again", out)
		}
		return nil
	}
	pid, err := readPid(d.cfg.PidFile)
	if err != nil {
		return reloadFailed("%w; is nginx running? start it, then run verify again", err)
	}
	before := childrenOf(pid)
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		return reloadFailed("signal nginx master %d: %w; is nginx running? start it, then run verify again", pid, err)
	}
	// The master starts new workers only after it has loaded the new
	// configuration, then tells the old ones to shut down; an old worker
	// closes its listening sockets when it retitles itself "worker process
	// is shutting down". Wait for both, so the caller's next request is
	// served with the new configuration.
	deadline := time.Now().Add(d.cfg.ReloadWait)
	for time.Now().Before(deadline) {
		if reloaded(pid, before) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return reloadFailed("%w: no new worker after %s", errNotLoaded, d.cfg.ReloadWait)
}

// errNotLoaded means the master was signalled but did not start workers
// with the new configuration: it refused it.
var errNotLoaded = errors.New("the nginx master did not load the new configuration")

// run executes the nginx binary with argv (never a shell) and returns its
// combined output, trimmed.
func (d *Driver) run(ctx context.Context, args ...string) (string, error) {
	return d.runBin(ctx, d.cfg.Binary, args...)
}

// runBin executes bin with argv (never a shell) and returns its combined
// output, trimmed.
func (d *Driver) runBin(ctx context.Context, bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.CommandTimeout)
	defer cancel()
	if !strings.Contains(bin, "/") {
		p, err := lookPath(bin)
		if err != nil {
			return "", unavailable("", "%w", err)
		}
		bin = p
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	out, err := cmd.CombinedOutput()
	s := strings.TrimSpace(string(out))
	if len(s) > 4000 {
		s = s[len(s)-4000:]
	}
	return s, err
}

// lookPath finds a binary on PATH or in the sbin directories, which are
// not on every user's PATH.
func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/local/sbin", "/usr/sbin", "/sbin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found on PATH or in /usr/sbin", name)
}

// lock takes an exclusive flock on a lock file in the config dir, so two
// back ends publishing different sites on one nginx never test each
// other's half-written change.
func (d *Driver) lock() (func(), error) {
	f, err := os.OpenFile(filepath.Join(d.cfg.ConfigDir, ".aegir.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, unavailable("lock", "%s: %w; does config_dir exist and is it writable?", d.cfg.ConfigDir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", d.cfg.ConfigDir, err)
	}
	return func() { f.Close() }, nil
}

func readPrevious(path string) ([]byte, bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", path, err)
	}
	return b, true, nil
}

func readPid(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0, fmt.Errorf("pid file %s holds no pid", path)
	}
	return pid, nil
}

// reloaded reports whether master pid has a worker that was not in before
// and no worker from before still accepts connections.
func reloaded(pid int, before map[int]bool) bool {
	fresh := false
	for c := range childrenOf(pid) {
		if !before[c] {
			fresh = true
			continue
		}
		title, err := os.ReadFile("/proc/" + strconv.Itoa(c) + "/cmdline")
		if err != nil {
			continue // exited
		}
		if bytes.Contains(title, []byte("worker process")) && !bytes.Contains(title, []byte("shutting down")) {
			return false
		}
	}
	return fresh
}

// childrenOf lists the processes whose parent is pid, from /proc.
func childrenOf(pid int) map[int]bool {
	out := map[int]bool{}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	want := strconv.Itoa(pid)
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parens.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 1 && f[1] == want {
			out[c] = true
		}
	}
	return out
}
