package testharness

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// PostgresServer is a running postgres with its own data dir, listening on
// 127.0.0.1 and on a unix socket in its temp dir.
type PostgresServer struct {
	// Addr is host:port of the TCP listener, e.g. "127.0.0.1:41234".
	Addr string
	// SocketDir is the directory holding the unix socket (.s.PGSQL.<port>).
	SocketDir string
	// AdminUser and AdminPassword are the superuser created by initdb. TCP
	// connections need the password (scram-sha-256); socket connections are
	// trusted.
	AdminUser     string
	AdminPassword string

	binDir, dir, dataDir string
	port                 int
	cred                 *syscall.Credential
	proc                 *process
}

// Postgres runs initdb into a temp dir, starts postgres on a free 127.0.0.1
// port with its socket in that dir, and stops it when the test ends.
//
// PostgreSQL refuses to run as root: when the test runs as root, initdb and
// postgres run as the `postgres` OS user (which the Debian package creates),
// and the temp dir is handed to that user.
//
// Skips the test when PostgreSQL is missing, or fails it when CI=true;
// ops/install-deps.sh installs it.
func Postgres(t testing.TB) *PostgresServer {
	t.Helper()
	binDir, err := postgresBinDir()
	if err != nil {
		missing(t, "postgres", err)
	}
	psql := filepath.Join(binDir, "psql")
	if !isExecutable(psql) {
		if _, err := BinPath("psql"); err != nil {
			missing(t, "psql", err)
		}
	}
	p := &PostgresServer{
		binDir:        binDir,
		AdminUser:     "aegir_admin",
		AdminPassword: randomHex(12),
	}
	// Not t.TempDir: its parents are 0700 and owned by root, which the
	// postgres user cannot traverse, and its path can be too long for a
	// socket.
	p.dir = shortTempDir(t, "pg")
	p.dataDir = filepath.Join(p.dir, "data")
	p.SocketDir = p.dir
	logPath := filepath.Join(p.dir, "postgres.log")

	if os.Geteuid() == 0 {
		cred, err := lookupCred("postgres")
		if err != nil {
			t.Fatalf("testharness: running as root, postgres must run as the postgres OS user: %v "+
				"(ops/install-deps.sh installs the postgresql package, which creates it)", err)
		}
		p.cred = cred
	}
	pwfile := filepath.Join(p.dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(p.AdminPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The log file is opened by us (root) and only inherited, so it needs
	// no chown; everything postgres itself writes does.
	if p.cred != nil {
		if err := chownTree(p.dir, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
			t.Fatalf("testharness: postgres: %v", err)
		}
	}
	out, err := runLoggedAs(logPath, procOptions{Dir: p.dir, Cred: p.cred},
		filepath.Join(binDir, "initdb"), "--pgdata="+p.dataDir, "--username="+p.AdminUser,
		"--pwfile="+pwfile, "--auth-local=trust", "--auth-host=scram-sha-256",
		"--encoding=UTF8", "--locale=C", "--no-sync")
	if err != nil {
		t.Fatalf("testharness: initdb: %v\n%s", err, out)
	}
	os.Remove(pwfile)

	err = retryPorts(func() error {
		p.proc.stop()
		port, err := freePort()
		if err != nil {
			return err
		}
		p.port = port
		p.Addr = "127.0.0.1:" + strconv.Itoa(port)
		return p.start()
	})
	if err != nil {
		failStart(t, p.proc, err)
	}
	t.Cleanup(func() { p.proc.stop() })
	dumpOnFailure(t, "postgres", logPath)
	return p
}

func (p *PostgresServer) start() error {
	var err error
	p.proc, err = startProcess("postgres", filepath.Join(p.dir, "postgres.log"), []string{
		filepath.Join(p.binDir, "postgres"),
		"-D", p.dataDir,
		"-k", p.SocketDir,
		"-h", "127.0.0.1",
		"-p", strconv.Itoa(p.port),
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=100",
		"-c", "shared_buffers=32MB",
	}, procOptions{Dir: p.dir, Cred: p.cred})
	if err != nil {
		return err
	}
	return p.proc.waitReady(startTimeout, func() error {
		_, err := p.query(true, "SELECT 1")
		return err
	})
}

// Stop shuts the server down (SIGTERM: smart shutdown, then SIGKILL after a
// while). The data dir stays, so Start brings back the same databases.
func (p *PostgresServer) Stop(t testing.TB) {
	t.Helper()
	p.proc.stop()
}

// Start starts a stopped server again on the same port.
func (p *PostgresServer) Start(t testing.TB) {
	t.Helper()
	if p.proc != nil && !p.proc.exited() {
		t.Fatalf("testharness: postgres is already running")
	}
	if err := p.start(); err != nil {
		failStart(t, p.proc, err)
	}
}

// URL returns a postgres:// connection URL for the admin user over TCP, for
// pgx or lib/pq: postgres://aegir_admin:pw@127.0.0.1:41234/db?sslmode=disable.
func (p *PostgresServer) URL(database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(p.AdminUser, p.AdminPassword),
		Host:     p.Addr,
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Query runs SQL as the admin user over TCP (with the password) using psql
// and returns its unaligned, tuples-only output. It fails the test on error.
func (p *PostgresServer) Query(t testing.TB, sql string) string {
	t.Helper()
	out, err := p.query(false, sql)
	if err != nil {
		t.Fatalf("testharness: postgres query %q: %v", sql, err)
	}
	return out
}

// query runs psql over the socket (trusted) or over TCP (password).
func (p *PostgresServer) query(socket bool, sql string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	psql := filepath.Join(p.binDir, "psql")
	if !isExecutable(psql) {
		psql, _ = BinPath("psql")
	}
	host := "127.0.0.1"
	if socket {
		host = p.SocketDir
	}
	cmd := exec.CommandContext(ctx, psql, "--no-psqlrc", "--host="+host, "--port="+strconv.Itoa(p.port),
		"--username="+p.AdminUser, "--dbname=postgres", "--tuples-only", "--no-align",
		"--set=ON_ERROR_STOP=1", "--command="+sql)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+p.AdminPassword, "PGCONNECT_TIMEOUT=5", "PGSSLMODE=disable")
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// lookupCred returns the credential of an OS user.
func lookupCred(name string) (*syscall.Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, err
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, err
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

func sysProcAttrAs(c *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: c, Pdeathsig: syscall.SIGKILL}
}

func chownTree(root string, uid, gid int) error {
	return filepath.Walk(root, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	})
}
