package dbmariadb

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/internal/provision/dbpipe"
)

// Dump streams a logical dump of the database to w: mariadb-dump with
// --single-transaction (a consistent snapshot without locking InnoDB
// tables), run as the admin user whose credentials are in a 0600 defaults
// file, never on the command line. The dump has no CREATE DATABASE or USE,
// so Load can put it into any database (clone).
func (d *Driver) Dump(ctx context.Context, db provision.DBCreds, w io.Writer) error {
	if err := validIdent("database name", db.Name); err != nil {
		return err
	}
	bin, err := d.binary(d.cfg.DumpBinary, "mariadb-dump", "mysqldump")
	if err != nil {
		return err
	}
	return d.runClient(ctx, "dump "+db.Name, bin, []string{
		"--single-transaction", "--quick", "--routines", "--triggers",
		"--hex-blob", "--default-character-set=utf8mb4", "--skip-dump-date",
		"--no-tablespaces",
		db.Name,
	}, nil, w)
}

// Load replaces the database's contents with a dump read from r: the
// database is dropped and created again empty (its grants stay, they are
// kept by name), then the mariadb client runs the dump in it.
func (d *Driver) Load(ctx context.Context, db provision.DBCreds, r io.Reader) error {
	if err := validIdent("database name", db.Name); err != nil {
		return err
	}
	bin, err := d.binary(d.cfg.ClientBinary, "mariadb", "mysql")
	if err != nil {
		return err
	}
	op := "load " + db.Name
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return d.classify(op, err)
	}
	if err := d.killSessions(ctx, conn, db); err != nil {
		conn.Close()
		return d.classify(op, err)
	}
	for _, s := range []string{
		"DROP DATABASE IF EXISTS " + quoteIdent(db.Name),
		"CREATE DATABASE " + quoteIdent(db.Name) + createDB,
	} {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			conn.Close()
			return d.classify(op, err)
		}
	}
	conn.Close()
	return d.runClient(ctx, op, bin, []string{
		"--batch", "--binary-mode", "--default-character-set=utf8mb4",
		"--database=" + db.Name,
	}, r, io.Discard)
}

// runClient runs a MariaDB client program with the admin credentials in a
// temporary defaults file, stdin from in and stdout to out, and returns
// its stderr in the error when it fails.
func (d *Driver) runClient(ctx context.Context, op, bin string, args []string, in io.Reader, out io.Writer) error {
	defaults, cleanup, err := d.defaultsFile()
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer cleanup()
	argv := append([]string{"--defaults-file=" + defaults}, args...)
	cmd := exec.CommandContext(ctx, bin, argv...)
	var stderr limitedBuffer
	cmd.Stderr = &stderr
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LANG=C"}
	// Through 1 MiB pipes: a dump beside a backup's compression stalled
	// on the default 64 KiB one (dbpipe).
	if err := dbpipe.Run(cmd, in, out); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if kind := clientErrorKind(msg); kind != nil {
			return d.classify(op, fmt.Errorf("%s: %w: %s", filepath.Base(bin), kind, msg))
		}
		return fmt.Errorf("%s on mariadb at %s: %s failed: %v: %s", op, d.addr(), filepath.Base(bin), err, msg)
	}
	return nil
}

// defaultsFile writes the admin connection settings to a 0600 file for
// --defaults-file (which also keeps the system's my.cnf out).
func (d *Driver) defaultsFile() (string, func(), error) {
	f, err := os.CreateTemp("", "aegir-mariadb-*.cnf") // mode 0600
	if err != nil {
		return "", nil, fmt.Errorf("defaults file: %w", err)
	}
	var b strings.Builder
	b.WriteString("[client]\n")
	b.WriteString("user=" + optionValue(d.cfg.AdminUser) + "\n")
	b.WriteString("password=" + optionValue(d.cfg.AdminPassword) + "\n")
	if d.cfg.Socket != "" {
		b.WriteString("socket=" + optionValue(d.cfg.Socket) + "\n")
	} else {
		b.WriteString("protocol=TCP\n")
		b.WriteString("host=" + optionValue(d.cfg.Host) + "\n")
		b.WriteString("port=" + strconv.Itoa(d.cfg.Port) + "\n")
	}
	_, err = f.WriteString(b.String())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	cleanup := func() { os.Remove(f.Name()) }
	if err != nil {
		cleanup()
		return "", nil, fmt.Errorf("defaults file: %w", err)
	}
	return f.Name(), cleanup, nil
}

// optionValue quotes a value for a MariaDB option file: in double quotes,
// with the escapes the option file parser understands.
func optionValue(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`)
	return `"` + r.Replace(s) + `"`
}

// clientErrorKind recognises the client programs' connection and login
// errors (they print the server's error number).
func clientErrorKind(msg string) error {
	switch {
	case strings.Contains(msg, "1045"), strings.Contains(msg, "Access denied for user"):
		return errAuth
	case strings.Contains(msg, "2002"), strings.Contains(msg, "2003"), strings.Contains(msg, "2013"),
		strings.Contains(msg, "Can't connect"):
		return errConn
	}
	return nil
}

// binary picks the configured program or the first default found.
func (d *Driver) binary(configured string, names ...string) (string, error) {
	if configured != "" {
		names = []string{configured}
	}
	for _, n := range names {
		if strings.Contains(n, "/") {
			return n, nil
		}
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("none of %s found on PATH: install the mariadb-client package", strings.Join(names, ", "))
}

// limitedBuffer keeps the last 16 KiB written to it.
type limitedBuffer struct{ bytes.Buffer }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	n := len(p)
	b.Buffer.Write(p)
	if b.Len() > 16<<10 {
		keep := b.Bytes()[b.Len()-16<<10:]
		nb := append([]byte(nil), keep...)
		b.Reset()
		b.Buffer.Write(nb)
	}
	return n, nil
}
