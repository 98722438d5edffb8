package testharness

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

// PHPFPMServer is a running php-fpm master in the foreground with one pool
// listening on a unix socket in a temp dir.
type PHPFPMServer struct {
	// Socket is the pool's unix socket; nginx reaches it as
	// "unix:" + Socket.
	Socket string
	// Bin is the php-fpm binary (php-fpm8.2 on Debian 12).
	Bin string
	// ErrorLog is php-fpm's log, with the workers' output.
	ErrorLog string
	// Config is the main config (php-fpm -t -y Config); it includes
	// PoolDir/*.conf, so a back end can add pools and reload php-fpm by
	// sending SIGUSR2 to the pid in PidFile.
	Config, PoolDir, PidFile string

	dir, config string
	proc        *process
}

// phpFPMBinary finds php-fpm: "php-fpm" on PATH, else the newest versioned
// php-fpmX.Y in the sbin directories (Debian installs only php-fpm8.2).
func phpFPMBinary() (string, error) {
	if p, err := BinPath("php-fpm"); err == nil {
		return p, nil
	}
	var found []string
	for _, d := range append([]string{"/usr/local/bin", "/usr/bin"}, extraDirs...) {
		m, _ := filepath.Glob(filepath.Join(d, "php-fpm[0-9]*"))
		for _, p := range m {
			if isExecutable(p) {
				found = append(found, p)
			}
		}
	}
	if len(found) == 0 {
		return "", fmt.Errorf("php-fpm: %w", ErrBinaryNotFound)
	}
	sort.Slice(found, func(i, j int) bool { return filepath.Base(found[i]) > filepath.Base(found[j]) })
	return found[0], nil
}

// PHPFPM starts php-fpm (-F foreground) with a main config that includes
// the pool files of PoolDir (none at first) and a
// static pool of a few workers on a unix socket in a temp dir, waits until
// the socket accepts connections, and stops it when the test ends. When the
// test runs as root the master runs as root and the pool as WebUser
// (`user = www-data`, `group = www-data`, as Debian's www.conf), with its
// socket owned by that user and mode 0660 so nginx's workers (the same
// user) reach it; the scripts it runs must be made reachable with
// WebReachable. It keeps the system php.ini and its conf.d, so the PDO drivers
// Debian's php-mysql, php-pgsql and php-sqlite3 install are loaded.
//
// Skips the test when php-fpm is missing, or fails it when CI=true;
// ops/install-deps.sh installs it.
func PHPFPM(t testing.TB) *PHPFPMServer {
	t.Helper()
	bin, err := phpFPMBinary()
	if err != nil {
		missing(t, "php-fpm", err)
	}
	f := &PHPFPMServer{Bin: bin, dir: shortTempDir(t, "fpm")}
	f.Socket = filepath.Join(f.dir, "php.sock")
	f.ErrorLog = filepath.Join(f.dir, "php-fpm.log")
	f.config = filepath.Join(f.dir, "php-fpm.conf")
	f.PoolDir = filepath.Join(f.dir, "pool.d")
	f.PidFile = filepath.Join(f.dir, "php-fpm.pid")
	f.Config = f.config
	if err := os.Mkdir(f.PoolDir, 0o755); err != nil {
		t.Fatalf("testharness: php-fpm: %v", err)
	}
	if err := os.Chmod(f.dir, 0o755); err != nil {
		t.Fatalf("testharness: php-fpm: %v", err)
	}
	user := ""
	if u, g := webUser(t); u != "" {
		user = fmt.Sprintf("user = %[1]s\ngroup = %[2]s\nlisten.owner = %[1]s\nlisten.group = %[2]s\nlisten.mode = 0660\n", u, g)
	} else {
		user = "listen.mode = 0666\n"
	}
	conf := fmt.Sprintf(`[global]
pid = %[1]s/php-fpm.pid
error_log = %[2]s
daemonize = no
log_level = notice
process_control_timeout = 10s
include = %[5]s/*.conf

[aegir]
%[3]slisten = %[4]s
pm = static
pm.max_children = 4
catch_workers_output = yes
decorate_workers_output = no
clear_env = yes
php_admin_value[error_log] = %[2]s
php_admin_flag[log_errors] = on
php_flag[display_errors] = on
`, f.dir, f.ErrorLog, user, f.Socket, f.PoolDir)
	if err := os.WriteFile(f.config, []byte(conf), 0o644); err != nil {
		t.Fatalf("testharness: php-fpm: %v", err)
	}
	if err := f.start(); err != nil {
		failStart(t, f.proc, err)
	}
	t.Cleanup(func() { f.proc.stop() })
	dumpOnFailure(t, "php-fpm", f.ErrorLog)
	return f
}

func (f *PHPFPMServer) start() error {
	os.Remove(f.Socket)
	argv := []string{f.Bin, "-F", "-y", f.config, "-p", f.dir} // no -R: no pool runs as root
	var err error
	f.proc, err = startProcess("php-fpm", filepath.Join(f.dir, "php-fpm.out"), argv, procOptions{Dir: f.dir})
	if err != nil {
		return err
	}
	return f.proc.waitReady(startTimeout, func() error {
		c, err := net.DialTimeout("unix", f.Socket, time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

// Stop stops php-fpm (SIGTERM, then SIGKILL after a while).
func (f *PHPFPMServer) Stop(t testing.TB) {
	t.Helper()
	f.proc.stop()
}

// Start starts a stopped php-fpm again on the same socket.
func (f *PHPFPMServer) Start(t testing.TB) {
	t.Helper()
	if f.proc != nil && !f.proc.exited() {
		t.Fatalf("testharness: php-fpm is already running")
	}
	if err := f.start(); err != nil {
		failStart(t, f.proc, err)
	}
}
