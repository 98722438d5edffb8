package testharness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// MariaDBServer is a running mariadbd with its own data dir, listening on
// 127.0.0.1 and on a unix socket.
type MariaDBServer struct {
	// Addr is host:port of the TCP listener, e.g. "127.0.0.1:41234".
	Addr string
	// Socket is the path of the unix socket (root connects there without a
	// password).
	Socket string
	// AdminUser and AdminPassword are a user with ALL PRIVILEGES ... WITH
	// GRANT OPTION from any host, for TCP connections.
	AdminUser     string
	AdminPassword string

	bin, client, dir, dataDir string
	port                      int
	proc                      *process
}

// MariaDB initialises a data dir with mariadb-install-db in a temp dir,
// starts mariadbd on a free 127.0.0.1 port and a socket in that dir, creates
// an admin user with a random password, and stops the server when the test
// ends. Databases and users the test creates are private to it.
//
// Skips the test when mariadbd, mariadb-install-db or the mariadb client is
// missing, or fails it when CI=true; ops/install-deps.sh installs them.
func MariaDB(t testing.TB) *MariaDBServer {
	t.Helper()
	m := &MariaDBServer{
		bin:           requireBinary(t, "mariadbd"),
		client:        requireBinary(t, "mariadb"),
		AdminUser:     "aegir_admin",
		AdminPassword: randomHex(12),
	}
	install := requireBinary(t, "mariadb-install-db")
	m.dir = shortTempDir(t, "mariadb")
	m.dataDir = filepath.Join(m.dir, "data")
	m.Socket = filepath.Join(m.dir, "mysqld.sock")
	logPath := filepath.Join(m.dir, "mariadb.log")

	if err := m.installDB(install, logPath); err != nil {
		t.Fatalf("testharness: mariadb-install-db: %v", err)
	}

	err := retryPorts(func() error {
		m.proc.stop()
		port, err := freePort()
		if err != nil {
			return err
		}
		m.port = port
		m.Addr = "127.0.0.1:" + strconv.Itoa(port)
		return m.start()
	})
	if err != nil {
		failStart(t, m.proc, err)
	}
	t.Cleanup(func() { m.proc.stop() })
	dumpOnFailure(t, "mariadb", logPath)

	q := fmt.Sprintf("CREATE USER '%[1]s'@'%%' IDENTIFIED BY '%[2]s'; "+
		"GRANT ALL PRIVILEGES ON *.* TO '%[1]s'@'%%' WITH GRANT OPTION; "+
		"CREATE USER '%[1]s'@'localhost' IDENTIFIED BY '%[2]s'; "+
		"GRANT ALL PRIVILEGES ON *.* TO '%[1]s'@'localhost' WITH GRANT OPTION;",
		m.AdminUser, m.AdminPassword)
	if _, err := m.socketQuery(q); err != nil {
		t.Fatalf("testharness: mariadb: creating admin user: %v", err)
	}
	return m
}

func (m *MariaDBServer) start() error {
	args := []string{m.bin, "--no-defaults",
		"--datadir=" + m.dataDir,
		"--socket=" + m.Socket,
		"--pid-file=" + filepath.Join(m.dir, "mysqld.pid"),
		"--tmpdir=" + m.tmpDir(),
		"--skip-networking=0",
		"--bind-address=127.0.0.1",
		"--port=" + strconv.Itoa(m.port),
		"--skip-name-resolve",
		"--skip-log-bin",
		"--performance-schema=OFF",
		"--innodb-buffer-pool-size=32M",
		"--innodb-log-file-size=16M",
		"--max-connections=200",
	}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	var err error
	m.proc, err = startProcess("mariadbd", filepath.Join(m.dir, "mariadb.log"), args, procOptions{Dir: m.dir})
	if err != nil {
		return err
	}
	return m.proc.waitReady(startTimeout, func() error {
		_, err := m.socketQuery("SELECT 1")
		return err
	})
}

// Stop shuts the server down (SIGTERM, then SIGKILL after a while). Its data
// dir stays, so Start brings back the same databases and users.
func (m *MariaDBServer) Stop(t testing.TB) {
	t.Helper()
	m.proc.stop()
}

// Start starts a stopped server again on the same port and socket.
func (m *MariaDBServer) Start(t testing.TB) {
	t.Helper()
	if m.proc != nil && !m.proc.exited() {
		t.Fatalf("testharness: mariadb is already running")
	}
	if err := m.start(); err != nil {
		failStart(t, m.proc, err)
	}
}

// DSN returns a github.com/go-sql-driver/mysql data source name for the
// admin user over TCP, e.g. "aegir_admin:pw@tcp(127.0.0.1:41234)/db".
func (m *MariaDBServer) DSN(database string) string {
	return fmt.Sprintf("%s:%s@tcp(%s)/%s", m.AdminUser, m.AdminPassword, m.Addr, database)
}

// Query runs SQL as the admin user over TCP with the mariadb client and
// returns its tab-separated output without column names. It fails the test
// on error.
func (m *MariaDBServer) Query(t testing.TB, sql string) string {
	t.Helper()
	out, err := m.runClient([]string{"--protocol=TCP", "--host=127.0.0.1", "--port=" + strconv.Itoa(m.port),
		"--user=" + m.AdminUser}, []string{"MYSQL_PWD=" + m.AdminPassword}, sql)
	if err != nil {
		t.Fatalf("testharness: mariadb query %q: %v", sql, err)
	}
	return out
}

// socketQuery runs SQL as root over the unix socket.
func (m *MariaDBServer) socketQuery(sql string) (string, error) {
	return m.runClient([]string{"--socket=" + m.Socket, "--user=root"}, nil, sql)
}

func (m *MariaDBServer) runClient(conn, env []string, sql string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	args := append([]string{"--no-defaults"}, conn...)
	args = append(args, "--batch", "--skip-column-names", "--connect-timeout=5", "--execute="+sql)
	cmd := exec.CommandContext(ctx, m.client, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// runLogged runs a setup command to completion, appending its output to
// logPath, and returns the output.
// installDB creates the system tables. Its temporary tables go to a
// directory of this server's own: with the default /tmp, bootstraps run by
// parallel test binaries were seen to lose each other's #sql-temptable files
// ("Unknown table 'mysql.tmp_user_sys'"). A failed bootstrap is retried once
// on a fresh data dir, with both outputs kept for the failure message.
func (m *MariaDBServer) installDB(install, logPath string) error {
	args := []string{install, "--no-defaults", "--datadir=" + m.dataDir,
		"--tmpdir=" + m.tmpDir(),
		"--auth-root-authentication-method=normal", "--skip-test-db"}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	var failures []string
	for attempt := 1; attempt <= 2; attempt++ {
		if err := os.RemoveAll(m.dataDir); err != nil {
			return err
		}
		if err := os.MkdirAll(m.tmpDir(), 0o700); err != nil {
			return err
		}
		out, err := runLoggedAs(logPath, procOptions{Env: []string{"TMPDIR=" + m.tmpDir()}}, args...)
		if err == nil {
			return nil
		}
		failures = append(failures, fmt.Sprintf("attempt %d: %v\n%s", attempt, err, out))
	}
	return errors.New(strings.Join(failures, "\n"))
}

// tmpDir is where this server (and its bootstrap) keep temporary tables.
func (m *MariaDBServer) tmpDir() string { return filepath.Join(m.dir, "tmp") }

func runLoggedAs(logPath string, o procOptions, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = o.Dir
	cmd.Env = append(os.Environ(), o.Env...)
	if o.Cred != nil {
		cmd.SysProcAttr = sysProcAttrAs(o.Cred)
	}
	out, err := cmd.CombinedOutput()
	if f, ferr := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); ferr == nil {
		fmt.Fprintf(f, "=== testharness: %s\n%s\n", strings.Join(argv, " "), out)
		f.Close()
	}
	return string(out), err
}
