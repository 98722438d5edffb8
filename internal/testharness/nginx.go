package testharness

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"
)

// NginxServer is a running nginx master (in the foreground, daemon off) with
// its prefix, pid file and logs in a temp dir, listening on 127.0.0.1:Port
// with a default server that answers 404, and including every
// ConfDir/*.conf: the directory a web driver writes vhosts into.
type NginxServer struct {
	// Addr is "127.0.0.1:Port".
	Addr string
	Port int
	// ConfDir is the directory whose *.conf files the main config includes.
	ConfDir string
	// MainConfig is the nginx.conf to pass as -c to `nginx -t` and
	// `nginx -s reload`.
	MainConfig string
	// PidFile is where the master writes its pid.
	PidFile string
	// Bin is the nginx binary.
	Bin string
	// ErrorLog and AccessLog are the log files.
	ErrorLog, AccessLog string

	dir         string
	user, group string
	proc        *process
}

var nginxConfTmpl = template.Must(template.New("nginx.conf").Parse(`# testharness nginx
daemon off;
master_process on;
{{if .User}}user {{.User}} {{.Group}};
{{end}}worker_processes 1;
pid {{.Dir}}/nginx.pid;
error_log {{.Dir}}/error.log warn;

events {
	worker_connections 256;
}

http {
	access_log {{.Dir}}/access.log;
	client_body_temp_path {{.Dir}}/tmp/body;
	proxy_temp_path {{.Dir}}/tmp/proxy;
	fastcgi_temp_path {{.Dir}}/tmp/fastcgi;
	uwsgi_temp_path {{.Dir}}/tmp/uwsgi;
	scgi_temp_path {{.Dir}}/tmp/scgi;
	sendfile on;
	types {
		text/html html htm;
		text/plain txt;
		text/css css;
		application/javascript js;
		application/json json;
		image/png png;
		image/svg+xml svg;
	}
	default_type application/octet-stream;

	server {
		listen 127.0.0.1:{{.Port}} default_server;
		server_name _;
		return 404;
	}

	include {{.ConfDir}}/*.conf;
}
`))

// Nginx writes a main config in a temp dir, starts nginx on a free
// 127.0.0.1 port with it, waits until the port answers, and stops it when the
// test ends. As root, the master runs as root and the workers as WebUser
// (`user www-data www-data;`, Debian's default), never as root: docroots
// under temp dirs must be made reachable with WebReachable.
//
// Skips the test when nginx is missing, or fails it when CI=true;
// ops/install-deps.sh installs it.
func Nginx(t testing.TB) *NginxServer {
	t.Helper()
	n := &NginxServer{Bin: requireBinary(t, "nginx")}
	n.user, n.group = webUser(t)
	n.dir = shortTempDir(t, "nginx")
	if err := os.Chmod(n.dir, 0o755); err != nil {
		t.Fatalf("testharness: nginx: %v", err)
	}
	n.ConfDir = filepath.Join(n.dir, "sites")
	n.MainConfig = filepath.Join(n.dir, "nginx.conf")
	n.PidFile = filepath.Join(n.dir, "nginx.pid")
	n.ErrorLog = filepath.Join(n.dir, "error.log")
	n.AccessLog = filepath.Join(n.dir, "access.log")
	for _, d := range []string{n.ConfDir, filepath.Join(n.dir, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("testharness: nginx: %v", err)
		}
	}
	err := retryPorts(func() error {
		n.proc.stop()
		port, err := freePort()
		if err != nil {
			return err
		}
		n.Port = port
		n.Addr = "127.0.0.1:" + strconv.Itoa(port)
		if err := n.writeConfig(); err != nil {
			return err
		}
		return n.start()
	})
	if err != nil {
		failStart(t, n.proc, err)
	}
	t.Cleanup(func() { n.proc.stop() })
	dumpOnFailure(t, "nginx", n.ErrorLog)
	return n
}

func (n *NginxServer) writeConfig() error {
	var b bytes.Buffer
	err := nginxConfTmpl.Execute(&b, map[string]any{
		"User":    n.user,
		"Group":   n.group,
		"Dir":     n.dir,
		"Port":    n.Port,
		"ConfDir": n.ConfDir,
	})
	if err != nil {
		return err
	}
	return os.WriteFile(n.MainConfig, b.Bytes(), 0o644)
}

func (n *NginxServer) start() error {
	os.Remove(n.PidFile)
	var err error
	n.proc, err = startProcess("nginx", filepath.Join(n.dir, "nginx.log"), []string{
		n.Bin, "-p", n.dir, "-e", n.ErrorLog, "-c", n.MainConfig,
	}, procOptions{Dir: n.dir})
	if err != nil {
		return err
	}
	err = n.proc.waitReady(startTimeout, func() error {
		if _, err := os.Stat(n.PidFile); err != nil {
			return err
		}
		c, err := net.DialTimeout("tcp", n.Addr, time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	})
	if err != nil && logHasAddrInUse(n.ErrorLog) {
		return fmt.Errorf("%w: %w", err, errAddrInUse)
	}
	return err
}

// Pid returns the master's pid from the pid file, 0 when it is not running.
func (n *NginxServer) Pid() int {
	b, err := os.ReadFile(n.PidFile)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// Stop stops nginx (SIGTERM: fast shutdown). ConfDir and its files stay.
func (n *NginxServer) Stop(t testing.TB) {
	t.Helper()
	n.proc.stop()
}

// Start starts a stopped nginx again on the same port with the same config.
func (n *NginxServer) Start(t testing.TB) {
	t.Helper()
	if n.proc != nil && !n.proc.exited() {
		t.Fatalf("testharness: nginx is already running")
	}
	if err := n.start(); err != nil {
		failStart(t, n.proc, err)
	}
}

// ErrorLogTail returns the last lines of the error log, for test messages.
func (n *NginxServer) ErrorLogTail(lines int) string { return tailFile(n.ErrorLog, lines) }
